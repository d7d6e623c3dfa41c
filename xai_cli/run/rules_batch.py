"""``rules`` as a batch command: the functions its adapter in ``xai_cli.batch.adapters`` uses; its gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xai_cli.errors import UsageError
from xai_cli.gates import GateResult, minimum_gate
from xai_cli.models.sandbox import sandboxed
from xai_cli.run.rules import RulesArgs, run_rules


@dataclass(frozen=True)
class FidelityGateArgs:
    """``--min-fidelity F``: the rules' fidelity to the model must be at least ``minimum``."""

    minimum: float


@sandboxed
def rules_preflight(args: RulesArgs) -> dict[str, Any]:
    """Load the model once, before any input runs; the index's model block."""
    from xai_cli.models.loader import load_model

    model = load_model(args.model, trust=args.trust_model)
    if model.input != "tabular":
        raise UsageError(f"{args.model}: an image model; rules apply to tabular models")
    return model.describe()


def rules_one(args: RulesArgs) -> list[str]:
    """Read the rules of one input file into ``args.out``; the notes it raised."""
    notes: list[str] = []
    run_rules(args, notes.append)
    return notes


def gated_fidelity(report: dict[str, Any]) -> float | None:
    """The fidelity ``--min-fidelity`` checks: held-out for a surrogate, on the data for an exact tree."""
    fidelity = report["fidelity"]
    return fidelity["on_data"] if fidelity["exact"] else fidelity["held_out"]


def rules_headline(report: dict[str, Any]) -> dict[str, Any]:
    """Source, rule count and fidelity of a rules report."""
    return {
        "source": report["source"],
        "rules": report["n_rules"],
        "fidelity_metric": report["fidelity"]["metric"],
        "fidelity": gated_fidelity(report),
    }


def rules_gates(report: dict[str, Any], gate: FidelityGateArgs | None) -> list[GateResult]:
    """The ``--min-fidelity`` gate on one rules report (none when the option was not given)."""
    if gate is None:
        return []
    what = "fidelity on the data (exact tree)" if report["fidelity"]["exact"] else "held-out fidelity"
    return [minimum_gate("min-fidelity", gated_fidelity(report), gate.minimum, what)]
