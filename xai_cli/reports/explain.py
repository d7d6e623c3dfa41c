"""Writing an explain report: explain.json plus its PNGs, staged and moved in atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xai_cli.methods.results import ExplainResult
from xai_cli.models.base import Model
from xai_cli.reports import plots
from xai_cli.reports.json_report import dumps
from xai_cli.reports.writer import staged_report, write_atomic


def output_label(result: ExplainResult, target: Any) -> str:
    """How a reader names the quantity explained, e.g. P(declined) or margin(declined)."""
    if result.output == "probability":
        return f"P({target})"
    if result.output == "raw":
        return f"margin({target})"
    return "predicted value"


def write_explain_report(
    report: dict[str, Any], result: ExplainResult, model: Model, out_dir: Path, max_plots: int
) -> list[str]:
    """Write explain.json and the plots under ``out_dir``; return the file names written."""
    method_name = "SHAP" if result.method == "shap" else "LIME"
    unit = {
        "probability": "probability",
        "raw": "margin (log-odds for logistic models)",
        "value": "predicted value",
    }[result.output]
    targets = sorted({str(t) for t in result.targets})
    target_text = targets[0] if len(targets) == 1 else "each row's predicted class"
    written: list[str] = []
    with staged_report(out_dir) as staging:
        importance = result.global_importance()
        plots.global_importance_plot(
            importance,
            staging / "global_importance.png",
            f"{method_name} global importance over {len(result.rows)} rows (target: {target_text})",
            f"mean |{method_name} attribution| (change in {unit})",
        )
        written.append("global_importance.png")
        if result.method == "shap":
            plots.beeswarm_plot(
                result.values,
                result.feature_values,
                importance,
                staging / "beeswarm.png",
                f"SHAP values per row ({result.algorithm}; target: {target_text})",
                f"SHAP value (change in {unit})",
            )
            written.append("beeswarm.png")
        for i, row in enumerate(result.rows[: max(0, max_plots)]):
            label = output_label(result, result.targets[i])
            values = result.feature_values.iloc[i].to_dict()
            if result.method == "shap":
                name = f"waterfall_row_{row}.png"
                plots.waterfall_plot(
                    result.feature_names,
                    result.values[i],
                    values,
                    float(result.base_values[i]),
                    float(result.predictions[i]),
                    staging / name,
                    f"Row {row}: {label} = {result.predictions[i]:.4g} (SHAP, {result.algorithm})",
                    f"{label}",
                )
            else:
                name = f"lime_row_{row}.png"
                conditions = report["rows"][i].get("conditions", {})
                labels = [conditions.get(f, f) for f in result.feature_names]
                score = report["rows"][i].get("local_model_score", float("nan"))
                plots.weights_plot(
                    labels,
                    result.values[i],
                    staging / name,
                    f"Row {row}: {label} = {result.predictions[i]:.4g} (LIME, local R² = {score:.2f})",
                    f"local-model weight on {label}",
                )
            written.append(name)
        write_atomic(staging / "explain.json", dumps(report).encode("utf-8"))
        written.append("explain.json")
    return written
