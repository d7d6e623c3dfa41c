"""The counterfactual report: counterfactual.json and one PNG per row, written atomically."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xai_cli.methods.counterfactual import Counterfactual, CounterfactualResult
from xai_cli.reports.json_report import dumps
from xai_cli.reports.writer import staged_report, write_atomic

if TYPE_CHECKING:
    from xai_cli.reports.render import PlotHelper

MAX_ROWS_SHOWN = 10


def counterfactual_entry(counterfactual: Counterfactual) -> dict[str, Any]:
    """One counterfactual (or closest attempt) as JSON."""
    return {
        "values": counterfactual.values,
        "changes": {name: {"from": old, "to": new} for name, (old, new) in counterfactual.changes.items()},
        "prediction": counterfactual.prediction,
        "probability": counterfactual.probability,
        "n_changed": counterfactual.n_changed,
        "distance": counterfactual.distance,
        "valid": counterfactual.valid,
    }


def counterfactual_report(
    header: dict[str, Any], result: CounterfactualResult, data_info: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    """The counterfactual.json document."""
    rows = []
    for outcome in result.rows:
        rows.append(
            {
                "row": outcome.row,
                "status": outcome.status,
                "found": outcome.found,
                "original": {
                    "values": outcome.original.values,
                    "prediction": outcome.original.prediction,
                    "probability": outcome.original.probability,
                },
                "counterfactuals": [counterfactual_entry(c) for c in outcome.counterfactuals],
                "closest_attempt": None
                if outcome.closest_attempt is None
                else counterfactual_entry(outcome.closest_attempt),
                "evaluations": outcome.evaluations,
            }
        )
    numeric = [s for s in result.spaces if not s.categorical]
    return {
        **header,
        "data": data_info,
        "target": result.target,
        "settings": result.settings,
        "constraints": {
            **result.constraints.describe(),
            "allowed_ranges": {s.name: [s.low, s.high] for s in numeric},
            "integer_columns": [s.name for s in numeric if s.integer],
            "categorical_columns": [s.name for s in result.spaces if s.categorical],
        },
        "scales": {s.name: s.scale for s in numeric},
        "rows": rows,
        "summary": {
            "rows": len(rows),
            "found": sum(1 for r in rows if r["found"]),
            "not_found_rows": [r["row"] for r in rows if not r["found"]],
        },
        "notes": notes,
    }


def write_counterfactual_report(
    report: dict[str, Any],
    out_dir: Path,
    max_plots: int,
    html: bool = False,
    plot_helper: PlotHelper | None = None,
) -> list[str]:
    """Write one PNG per row (up to ``max_plots``), counterfactual.json (with ``html``, report.html);
    return the file names. ``plot_helper`` draws the PNGs in a helper process (reports/render.py)."""
    from xai_cli.reports.counterfactual_plot import draw_counterfactuals
    from xai_cli.reports.render import render_plots

    written = []
    with staged_report(out_dir) as staging:
        jobs = []
        for entry in report["rows"][: max(0, max_plots)]:
            name = f"counterfactual_row_{entry['row']}.png"
            jobs.append(partial(draw_counterfactuals, entry, report, staging / name))
            written.append(name)
        render_plots(jobs, plot_helper)
        if html:
            from xai_cli.reports.html import write_report_html

            written.append(write_report_html(report, staging, written))
        write_atomic(staging / "counterfactual.json", dumps(report).encode("utf-8"))
        written.append("counterfactual.json")
    return written


def value_text(value: Any) -> str:
    """A cell value as a person reads it."""
    if isinstance(value, float):
        return f"{value:.6g}" if not value.is_integer() or abs(value) >= 1e15 else f"{value:.0f}"
    return str(value)


def changes_text(entry: dict[str, Any]) -> str:
    """``income 30000 -> 45200, region north -> east``."""
    return ", ".join(
        f"{name} {value_text(change['from'])} → {value_text(change['to'])}"
        for name, change in entry["changes"].items()
    )


def prediction_text(entry: dict[str, Any]) -> str:
    """``approved (0.71)`` or a regressor's value."""
    if entry["probability"] is None:
        return value_text(entry["prediction"])
    return f"{entry['prediction']} ({entry['probability']:.3f})"


def print_counterfactual_summary(report: dict[str, Any], out_dir: Path, files: list[str]) -> None:
    """Each row's counterfactuals as a table on stdout, then where the report went."""
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False)  # names from files print as they are: '[red]' stays text
    table = Table(title="counterfactuals (valid, sparse, close, diverse)", title_justify="left")
    for name, justify in (
        ("row", "right"),
        ("was", "left"),
        ("#", "right"),
        ("changes", "left"),
        ("now", "left"),
        ("changed", "right"),
        ("distance", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for entry in report["rows"][:MAX_ROWS_SHOWN]:
        was = prediction_text(entry["original"])
        if entry["status"] == "already-target":
            table.add_row(str(entry["row"]), was, "", "already predicted as the target", "", "", "")
            continue
        if not entry["found"]:
            attempt = entry["closest_attempt"]
            text = "none found" + (f"; closest: {changes_text(attempt)}" if attempt else "")
            now = prediction_text(attempt) if attempt else ""
            table.add_row(str(entry["row"]), was, "", text, now, "", "")
            continue
        for k, counterfactual in enumerate(entry["counterfactuals"]):
            table.add_row(
                str(entry["row"]) if k == 0 else "",
                was if k == 0 else "",
                str(k + 1),
                changes_text(counterfactual),
                prediction_text(counterfactual),
                str(counterfactual["n_changed"]),
                f"{counterfactual['distance']:.3g}",
            )
    console.print(table)
    hidden = len(report["rows"]) - MAX_ROWS_SHOWN
    if hidden > 0:
        console.print(f"... {hidden} more rows in counterfactual.json")
    summary = report["summary"]
    console.print(
        f"target reached for {summary['found']} of {summary['rows']} row(s); distance in MADs of each column "
        f"(1 per changed category); report: {out_dir}/counterfactual.json and {len(files) - 1} PNG file(s)"
    )
