"""Writing an explain report: explain.json plus its PNGs, staged and moved in atomically."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from xai_cli.methods.results import ExplainResult
from xai_cli.models.base import Model
from xai_cli.reports import plots
from xai_cli.reports.json_report import dumps
from xai_cli.reports.render import PlotHelper, PlotJob, render_plots
from xai_cli.reports.writer import staged_report, write_atomic


def output_label(result: ExplainResult, target: Any) -> str:
    """How a reader names the quantity explained, e.g. P(declined) or margin(declined)."""
    if result.output == "probability":
        return f"P({target})"
    if result.output == "raw":
        return f"margin({target})"
    return "predicted value"


def write_explain_report(
    report: dict[str, Any],
    result: ExplainResult,
    model: Model,
    out_dir: Path,
    max_plots: int,
    html: bool = False,
    plot_helper: PlotHelper | None = None,
) -> list[str]:
    """Write explain.json and the plots under ``out_dir`` (with ``html``, report.html); return the names."""
    with staged_report(out_dir) as staging:
        written = draw_explain_plots(
            staging,
            result.global_importance(),
            len(result.rows),
            result.targets,
            result,
            result,
            max_plots,
            plot_helper=plot_helper,
        )
        if html:
            from xai_cli.reports.html import write_report_html

            written.append(write_report_html(report, staging, written))
        write_atomic(staging / "explain.json", dumps(report).encode("utf-8"))
        written.append("explain.json")
    return written


def draw_explain_plots(
    folder: Path,
    importance: dict[str, float],
    n_rows: int,
    targets: Iterable[Any],
    beeswarm: ExplainResult,
    per_row: ExplainResult,
    max_plots: int,
    beeswarm_note: str = "",
    plot_helper: PlotHelper | None = None,
) -> list[str]:
    """Draw the PNGs of an explain report into ``folder``; return their names.

    ``importance`` and ``n_rows`` describe all explained rows; ``beeswarm`` holds the rows drawn in the
    beeswarm and ``per_row`` the rows that get their own plot (the first ``max_plots``). A streamed run
    passes a sample and the first rows; a plain run passes its one result twice. ``plot_helper`` draws
    part of them in a helper process (reports/render.py).
    """
    method_name = "SHAP" if per_row.method == "shap" else "LIME"
    unit = {
        "probability": "probability",
        "raw": "margin (log-odds for logistic models)",
        "value": "predicted value",
    }[per_row.output]
    target_names = sorted({str(t) for t in targets})
    target_text = target_names[0] if len(target_names) == 1 else "each row's predicted class"
    jobs: list[PlotJob] = []
    written: list[str] = []

    def add(name: str, job: PlotJob) -> None:
        jobs.append(job)
        written.append(name)

    add(
        "global_importance.png",
        partial(
            plots.global_importance_plot,
            importance,
            folder / "global_importance.png",
            f"{method_name} global importance over {n_rows} rows (target: {target_text})",
            f"mean |{method_name} attribution| (change in {unit})",
        ),
    )
    if per_row.method == "shap":
        add(
            "beeswarm.png",
            partial(
                plots.beeswarm_plot,
                beeswarm.values,
                beeswarm.feature_values,
                importance,
                folder / "beeswarm.png",
                f"SHAP values per row ({per_row.algorithm}; target: {target_text}){beeswarm_note}",
                f"SHAP value (change in {unit})",
            ),
        )
    result = per_row
    for i, row in enumerate(result.rows[: max(0, max_plots)]):
        label = output_label(result, result.targets[i])
        values = result.feature_values.iloc[i].to_dict()
        if result.method == "shap":
            name = f"waterfall_row_{row}.png"
            job = partial(
                plots.waterfall_plot,
                result.feature_names,
                result.values[i],
                values,
                float(result.base_values[i]),
                float(result.predictions[i]),
                folder / name,
                f"Row {row}: {label} = {result.predictions[i]:.4g} (SHAP, {result.algorithm})",
                f"{label}",
            )
        else:
            name = f"lime_row_{row}.png"
            details = result.row_details[i] if result.row_details else {}
            conditions = details.get("conditions", {})
            labels = [conditions.get(f, f) for f in result.feature_names]
            score = details.get("local_model_score", float("nan"))
            job = partial(
                plots.weights_plot,
                labels,
                result.values[i],
                folder / name,
                f"Row {row}: {label} = {result.predictions[i]:.4g} (LIME, local R² = {score:.2f})",
                f"local-model weight on {label}",
            )
        add(name, job)
    render_plots(jobs, plot_helper)
    return written
