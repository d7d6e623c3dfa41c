"""The rules report: rules.json, rules.txt (if-then text) and rules.png (the tree), written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xai_cli.methods.conditions import SET_OPS
from xai_cli.methods.rules import RulesResult
from xai_cli.reports.json_report import dumps
from xai_cli.reports.writer import staged_report, write_atomic

MAX_RULES_SHOWN = 16


def rule_id(index: int) -> str:
    """The name of the ``index``-th rule (0-based): R1, R2, ..."""
    return f"R{index + 1}"


def rules_report(
    header: dict[str, Any], result: RulesResult, data_info: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    """The rules.json document."""
    rules = []
    for index, rule in enumerate(result.rules):
        entry: dict[str, Any] = {
            "id": rule_id(index),
            "conditions": [c.as_dict() for c in rule.conditions],
            "prediction": rule.prediction,
            "support": rule.support,
            "coverage": rule.coverage,
        }
        if result.kind == "classifier":
            entry["precision"] = rule.precision
        else:
            entry["output_mean"] = rule.output_mean
            entry["output_std"] = rule.output_std
        rules.append(entry)
    return {
        **header,
        "data": data_info,
        "source": result.source,
        "reason": result.reason,
        "settings": result.settings,
        "fidelity": result.fidelity,
        "feature_names": result.feature_names,
        "depth": result.depth,
        "n_rules": len(rules),
        "rules": rules,
        "notes": notes,
    }


def format_number(value: Any) -> str:
    """A number as a person reads it in a rule: ``0.8``, ``26900``, ``1.5e+06``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format(float(value), ".6g")


def condition_text(condition: dict[str, Any]) -> str:
    """``income <= 26900`` or ``region in {north, east}``."""
    if condition["op"] in SET_OPS:
        values = ", ".join(str(v) for v in condition["value"])
        return f"{condition['feature']} {condition['op']} {{{values}}}"
    return f"{condition['feature']} {condition['op']} {format_number(condition['value'])}"


def outcome_text(report: dict[str, Any], rule: dict[str, Any]) -> str:
    """What a rule predicts and how well, in words."""
    share = f"coverage {rule['coverage']:.1%} ({rule['support']} rows)"
    if "precision" in rule:
        precision = "n/a" if rule["precision"] is None else f"{rule['precision']:.1%}"
        return f"predict {rule['prediction']}   [{share}, precision {precision}]"
    spread = (
        "no rows"
        if rule["output_mean"] is None
        else f"model mean {format_number(rule['output_mean'])} ± {format_number(rule['output_std'])}"
    )
    return f"value ≈ {format_number(rule['prediction'])}   [{share}, {spread}]"


def fidelity_text(report: dict[str, Any]) -> str:
    """One line on how far the rules can be trusted."""
    fidelity = report["fidelity"]
    metric = "accuracy" if fidelity["metric"] == "accuracy" else "R²"

    def figure(value: float | None) -> str:
        return "undefined" if value is None else f"{value:.3f}"

    if fidelity["exact"]:
        return f"exact: the model's own tree ({metric} on the data {figure(fidelity['on_data'])})"
    return (
        f"surrogate fidelity ({metric} against the model): held-out {figure(fidelity['held_out'])} on "
        f"{fidelity['held_out_rows']} rows it never saw; in-sample {figure(fidelity['in_sample'])} on the "
        f"{fidelity['in_sample_rows']} rows it was fitted on"
    )


def rules_text(report: dict[str, Any]) -> str:
    """rules.txt: the rules as if-then statements a person reads."""
    lines = [
        f"Rules of {report['model']['path']} over {report['data']['path']} ({report['data']['n_rows']} rows)",
        f"Source: {report['reason']}",
        f"Fidelity: {fidelity_text(report)}",
        "Each data row satisfies exactly one rule.",
        "",
    ]
    for rule in report["rules"]:
        conditions = [condition_text(c) for c in rule["conditions"]] or ["(every row)"]
        lines.append(f"{rule['id']}: IF {conditions[0]}")
        lines.extend(f"     AND {text}" for text in conditions[1:])
        lines.append(f"     THEN {outcome_text(report, rule)}")
        lines.append("")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines).rstrip() + "\n"


def write_rules_report(
    report: dict[str, Any], result: RulesResult, out_dir: Path, html: bool = False
) -> list[str]:
    """Write rules.png, rules.txt and rules.json under ``out_dir`` (with ``html``, report.html); return the
    file names."""
    from xai_cli.reports.tree_plot import draw_tree

    with staged_report(out_dir) as staging:
        title = (
            f"{'Decision tree' if result.source == 'tree' else 'Surrogate tree'} of {report['model']['path']}"
        )
        subtitle = fidelity_text(report)
        draw_tree(result, report, staging / "rules.png", title, subtitle)
        write_atomic(staging / "rules.txt", rules_text(report).encode("utf-8"))
        written = ["rules.png", "rules.txt"]
        if html:
            from xai_cli.reports.html import write_report_html

            written.append(write_report_html(report, staging, written))
        write_atomic(staging / "rules.json", dumps(report).encode("utf-8"))
    return [*written, "rules.json"]


def print_rules_summary(report: dict[str, Any], out_dir: Path, files: list[str]) -> None:
    """The rules as a table on stdout, the fidelity, then where the report went."""
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False)  # names from files print as they are: '[red]' stays text
    table = Table(title=f"rules ({report['source']}): {report['reason']}", title_justify="left")
    table.add_column("rule")
    table.add_column("if")
    table.add_column("then")
    table.add_column("coverage", justify="right")
    table.add_column(
        "precision" if report["model"]["kind"] == "classifier" else "model mean ± sd", justify="right"
    )
    for rule in report["rules"][:MAX_RULES_SHOWN]:
        conditions = " and ".join(condition_text(c) for c in rule["conditions"]) or "(every row)"
        if "precision" in rule:
            last = "n/a" if rule["precision"] is None else f"{rule['precision']:.1%}"
            then = str(rule["prediction"])
        else:
            last = (
                "n/a"
                if rule["output_mean"] is None
                else (f"{format_number(rule['output_mean'])} ± {format_number(rule['output_std'])}")
            )
            then = format_number(rule["prediction"])
        table.add_row(rule["id"], conditions, then, f"{rule['coverage']:.1%}", last)
    console.print(table)
    hidden = len(report["rules"]) - MAX_RULES_SHOWN
    if hidden > 0:
        console.print(f"... {hidden} more rules in rules.txt")
    console.print(fidelity_text(report))
    console.print(f"report: {out_dir}/rules.json, rules.txt and rules.png")
