"""``explain`` as a batch command: the functions its adapter in ``xai_cli.batch.adapters`` uses; its gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xai_cli.errors import UsageError
from xai_cli.gates import GateResult, top_k_gate
from xai_cli.models.sandbox import sandboxed
from xai_cli.run.explain import METHODS, OUTPUTS, ExplainArgs, run_explain

HEADLINE_FEATURES = 3


@dataclass(frozen=True)
class TopKGateArgs:
    """``--fail-if-top K --features a,b``: none of ``features`` may rank in the global top ``k``."""

    k: int
    features: tuple[str, ...]


@sandboxed
def explain_preflight(args: ExplainArgs) -> dict[str, Any]:
    """Check the options and load the model once, before any input runs; the index's model block."""
    from xai_cli.models.loader import load_model

    if args.method not in METHODS:
        raise UsageError(f"--method {args.method}: expected one of {', '.join(METHODS)}")
    if args.output not in OUTPUTS:
        raise UsageError(f"--output {args.output}: expected one of {', '.join(OUTPUTS)}")
    model = load_model(args.model, trust=args.trust_model)
    if model.input != "tabular":
        raise UsageError(f"{args.model}: an image model; use 'xai attention' for it")
    return model.describe()


def explain_one(args: ExplainArgs) -> list[str]:
    """Explain one input file into ``args.out``; the notes it raised."""
    notes: list[str] = []
    run_explain(args, notes.append)
    return notes


def explained_row_count(report: dict[str, Any]) -> int:
    """Rows an explain report covers, inline or in its rows file."""
    rows_file = report.get("rows_file")
    return int(rows_file["n_rows"]) if rows_file else len(report["rows"])


def explain_headline(report: dict[str, Any]) -> dict[str, Any]:
    """Rows explained, method, the strongest columns and the additivity error of an explain report."""
    top = list(report["global_importance"].items())[:HEADLINE_FEATURES]
    return {
        "rows_explained": explained_row_count(report),
        "method": report["method"],
        "algorithm": report["algorithm"],
        "top_features": dict(top),
        "max_additivity_error": report["max_additivity_error"],
    }


def explain_gates(report: dict[str, Any], gate: TopKGateArgs | None) -> list[GateResult]:
    """The ``--fail-if-top`` gate on one explain report (none when the option was not given)."""
    if gate is None:
        return []
    return [top_k_gate(report["global_importance"], gate.k, gate.features)]
