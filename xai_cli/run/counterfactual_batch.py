"""``counterfactual`` as a batch command: the functions its adapter in ``xai_cli.batch.adapters`` uses."""

from __future__ import annotations

from typing import Any

from xai_cli.errors import UsageError
from xai_cli.gates import GateResult
from xai_cli.models.sandbox import sandboxed
from xai_cli.run.counterfactual import CounterfactualArgs, run_counterfactual


@sandboxed
def counterfactual_preflight(args: CounterfactualArgs) -> dict[str, Any]:
    """Check the row choice and load the model once, before any input runs; the index's model block."""
    from xai_cli.models.loader import load_model

    if (args.row is None) == (args.rows is None):
        raise UsageError("give the row to change: --row I (0-based), or several with --rows 'A:B' / 'A,B,C'")
    model = load_model(args.model, trust=args.trust_model)
    if model.input != "tabular":
        raise UsageError(f"{args.model}: an image model; counterfactuals apply to tabular models")
    return model.describe()


def counterfactual_one(args: CounterfactualArgs) -> list[str]:
    """Search the counterfactuals of one input file into ``args.out``; the notes it raised."""
    notes: list[str] = []
    run_counterfactual(args, notes.append)
    return notes


def counterfactual_headline(report: dict[str, Any]) -> dict[str, Any]:
    """Rows searched, rows whose target was reached, and the fewest columns changed."""
    changed = [c["n_changed"] for row in report["rows"] for c in row["counterfactuals"]]
    return {
        "rows": report["summary"]["rows"],
        "found": report["summary"]["found"],
        "fewest_changes": min(changed) if changed else None,
    }


def counterfactual_gates(report: dict[str, Any], require_found: bool | None) -> list[GateResult]:
    """``--require-found`` on one report: every searched row must have reached its target."""
    if not require_found:
        return []
    missing = report["summary"]["not_found_rows"]
    if missing:
        shown = ", ".join(str(r) for r in missing[:10]) + (" ..." if len(missing) > 10 else "")
        return [GateResult("require-found", False, f"no counterfactual found for row(s) {shown}")]
    return [
        GateResult("require-found", True, f"a counterfactual for each of {report['summary']['rows']} row(s)")
    ]
