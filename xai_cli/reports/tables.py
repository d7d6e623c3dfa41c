"""The rich tables printed on stdout for people (``--json`` replaces them for machines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_ROWS_SHOWN = 10
TOP_FEATURES = 5


def print_explain_summary(report: dict[str, Any], out_dir: Path, files: list[str]) -> None:
    """Strongest columns per explained row and globally, then where the report went."""
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False)  # names from files print as they are: '[red]' stays text
    method = report["method"].upper()
    rows_table = Table(
        title=f"{method} ({report['algorithm']}): strongest columns per row", title_justify="left"
    )
    rows_table.add_column("row", justify="right")
    rows_table.add_column("target")
    rows_table.add_column("prediction", justify="right")
    rows_table.add_column(f"top {TOP_FEATURES} columns (attribution)")
    for entry in report["rows"][:MAX_ROWS_SHOWN]:
        ranked = sorted(entry["attributions"].items(), key=lambda item: -abs(item[1]))[:TOP_FEATURES]
        text = ", ".join(f"{name} {value:+.3g}" for name, value in ranked)
        rows_table.add_row(str(entry["row"]), str(entry["target"]), f"{entry['prediction']:.4g}", text)
    if report.get("rows_file"):
        rows_file = report["rows_file"]
        console.print(
            f"{method} ({report['algorithm']}): {rows_file['n_rows']:,} rows, per row in {rows_file['path']}"
        )
    else:
        console.print(rows_table)
    hidden = len(report["rows"]) - MAX_ROWS_SHOWN
    if hidden > 0:
        console.print(f"... {hidden} more rows in explain.json")
    global_table = Table(title="global importance (mean |attribution|)", title_justify="left")
    global_table.add_column("column")
    global_table.add_column("importance", justify="right")
    for name, value in list(report["global_importance"].items())[:10]:
        global_table.add_row(name, f"{value:.4g}")
    console.print(global_table)
    others = [name for name in files if not name.endswith((".png", "explain.json"))]
    console.print(
        f"max additivity error {report['max_additivity_error']:.2e}; "
        f"report: {out_dir}/explain.json, {sum(name.endswith('.png') for name in files)} PNG file(s)"
        + "".join(f", {name}" for name in others)
    )
