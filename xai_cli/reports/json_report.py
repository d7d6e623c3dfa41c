"""Results as versioned JSON: the layout every report shares, and the schema files that describe it."""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

from xai_cli import __version__
from xai_cli.methods.results import ExplainResult
from xai_cli.models.base import Model

SCHEMA_VERSION = "1.0"
SCHEMA_NAMES = ("explain", "rules", "counterfactual", "scan", "index", "diff", "attention")


def report_header(command: str, argv: list[str], seed: int, model: Model) -> dict[str, Any]:
    """The fields every report starts with, so a run can be repeated and audited."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "command": command,
        "argv": argv,
        "seed": seed,
        "model": model.describe(),
    }


def explain_report(
    header: dict[str, Any], result: ExplainResult, data_path: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """The explain.json document."""
    rows = []
    errors = result.additivity_errors
    for i, row in enumerate(result.rows):
        values = result.feature_values.iloc[i]  # once per row: a cell-by-cell iloc took 0.2 s per 100 rows
        entry: dict[str, Any] = {
            "row": int(row),
            "target": result.targets[i],
            "prediction": float(result.predictions[i]),
            "base_value": float(result.base_values[i]),
            "attributions": {name: float(result.values[i, j]) for j, name in enumerate(result.feature_names)},
            "additivity_error": float(errors[i]),
            "feature_values": {name: _plain(values[name]) for name in result.feature_names},
        }
        if result.row_details:
            entry.update(result.row_details[i])
        rows.append(entry)
    return {
        **header,
        "data": {"path": data_path, **extra},
        "method": result.method,
        "algorithm": result.algorithm,
        "output": result.output,
        "settings": result.settings,
        "feature_names": result.feature_names,
        "rows": rows,
        "global_importance": result.global_importance(),
        "max_additivity_error": float(errors.max()) if len(errors) else 0.0,
        "notes": result.notes,
    }


def _plain(value: Any) -> Any:
    if value is None or type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing markers
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if not isinstance(value, str | int | float | bool):
        return str(value)  # anything else a model column may hold (Decimal, bytes, ...), as text
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(document: dict[str, Any]) -> str:
    """Deterministic JSON text (NaN/inf become null, so the output is standard JSON)."""
    return json.dumps(_finite(document), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def schema_text(name: str) -> str:
    """The shipped JSON Schema of a report kind."""
    if name not in SCHEMA_NAMES:
        raise KeyError(name)
    return resources.files("xai_cli.schemas").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
