"""The stdout summary in the three ``--format``s: ``table`` (rich, for people), ``json`` (the document
itself, for machines) and ``markdown`` (GitHub-flavoured tables, for a CI job to post as a PR comment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FORMATS = ("table", "json", "markdown")
TOP_SHOWN = 10


def print_summary(kind: str, document: dict[str, Any], output_format: str, **context: Any) -> None:
    """Print a document (``kind``: explain, rules, counterfactual, attention, batch or diff) on stdout in
    ``output_format``."""
    import sys

    if output_format == "json":
        from xai_cli.reports.json_report import dumps

        sys.stdout.write(dumps(document))
    elif output_format == "markdown":
        render = {
            "explain": explain_markdown,
            "batch": batch_markdown,
            "diff": diff_markdown,
            "rules": rules_markdown,
            "counterfactual": counterfactual_markdown,
            "attention": attention_markdown,
        }[kind]
        sys.stdout.write(render(document, **context))
    elif kind == "explain":
        from xai_cli.reports.tables import print_explain_summary

        print_explain_summary(document, context["out_dir"], context["files"])
    elif kind == "rules":
        from xai_cli.reports.rules import print_rules_summary

        print_rules_summary(document, context["out_dir"], context["files"])
    elif kind == "counterfactual":
        from xai_cli.reports.counterfactual import print_counterfactual_summary

        print_counterfactual_summary(document, context["out_dir"], context["files"])
    elif kind == "attention":
        from xai_cli.reports.attention import print_attention_summary

        print_attention_summary(document, context["out_dir"], context["files"])
    elif kind == "batch":
        print_batch_table(document, context["out_dir"])
    else:
        print_diff_table(document)


def explain_markdown(report: dict[str, Any], out_dir: Path, files: list[str] | None = None) -> str:
    """A heading, the key facts and the global importance of an explain report, as Markdown."""
    model = report.get("model") or {}
    data = report.get("data") or {}
    rows_file = report.get("rows_file")
    explained = rows_file["n_rows"] if rows_file else len(report["rows"])
    lines = [
        f"### xai explain: `{Path(str(data.get('path', ''))).name}` "
        f"({report['method'].upper()}, {report['algorithm']})",
        "",
        "| | |",
        "|---|---|",
        f"| model | {_md(model.get('estimator'))} `{_md(Path(str(model.get('path', ''))).name)}` "
        f"(sha256 `{str(model.get('sha256', ''))[:12]}`) |",
        f"| rows explained | {explained} of {data.get('n_rows')} |",
        f"| output | {_md(report.get('output'))} |",
        f"| max additivity error | {report['max_additivity_error']:.2e} |",
        "",
        "**Global importance (mean \\|attribution\\|)**",
        "",
        "| rank | column | importance |",
        "|---:|---|---:|",
    ]
    for rank, (name, value) in enumerate(list(report["global_importance"].items())[:TOP_SHOWN], start=1):
        lines.append(f"| {rank} | {_md(name)} | {value:.4g} |")
    lines += ["", f"Report: `{out_dir}/explain.json`", ""]
    return "\n".join(lines)


def rules_markdown(report: dict[str, Any], out_dir: Path, files: list[str] | None = None) -> str:
    """The fidelity and the rules of a rules report as a Markdown table."""
    from xai_cli.reports.rules import condition_text, fidelity_text, format_number

    classifier = report["model"]["kind"] == "classifier"
    lines = [
        f"### xai rules: `{_md(Path(str(report['data']['path'])).name)}` ({report['source']}, "
        f"{report['n_rules']} rules)",
        "",
        f"{_md(fidelity_text(report))}",
        "",
        f"| rule | if | then | coverage | {'precision' if classifier else 'model mean ± sd'} |",
        "|---|---|---|---:|---:|",
    ]
    for rule in report["rules"][: TOP_SHOWN * 2]:
        conditions = " and ".join(condition_text(c) for c in rule["conditions"]) or "(every row)"
        if classifier:
            last = "n/a" if rule["precision"] is None else f"{rule['precision']:.1%}"
        elif rule["output_mean"] is None:
            last = "n/a"
        else:
            last = f"{format_number(rule['output_mean'])} ± {format_number(rule['output_std'])}"
        then = rule["prediction"] if classifier else format_number(rule["prediction"])
        lines.append(f"| {rule['id']} | {_md(conditions)} | {_md(then)} | {rule['coverage']:.1%} | {last} |")
    hidden = len(report["rules"]) - TOP_SHOWN * 2
    if hidden > 0:
        lines.append(f"\n... {hidden} more rules in rules.txt")
    lines += ["", f"Report: `{out_dir}/rules.json`", ""]
    return "\n".join(lines)


def counterfactual_markdown(report: dict[str, Any], out_dir: Path, files: list[str] | None = None) -> str:
    """Each searched row and its counterfactuals (the changes and the new prediction) as Markdown."""
    from xai_cli.reports.counterfactual import changes_text, prediction_text

    summary = report["summary"]
    lines = [
        f"### xai counterfactual: `{_md(Path(str(report['data']['path'])).name)}` (target reached for "
        f"{summary['found']} of {summary['rows']} row(s))",
        "",
        "| row | was | # | changes | now | changed | distance |",
        "|---:|---|---:|---|---|---:|---:|",
    ]
    for entry in report["rows"][:TOP_SHOWN]:
        was = _md(prediction_text(entry["original"]))
        if not entry["counterfactuals"]:
            text = "already the target" if entry["status"] == "already-target" else "none found"
            lines.append(f"| {entry['row']} | {was} | | {text} | | | |")
        for k, found in enumerate(entry["counterfactuals"]):
            lines.append(
                f"| {entry['row']} | {was} | {k + 1} | {_md(changes_text(found))} | "
                f"{_md(prediction_text(found))} | {found['n_changed']} | {found['distance']:.3g} |"
            )
    lines += ["", f"Report: `{out_dir}/counterfactual.json`", ""]
    return "\n".join(lines)


def attention_markdown(report: dict[str, Any], out_dir: Path, files: list[str] | None = None) -> str:
    """Per image the prediction and faithfulness AUCs, then their means, as Markdown."""
    totals = report["summary"]
    lines = [
        f"### xai attention: {report['images']['n_explained']} image(s) ({report['method']})",
        "",
        "| image | prediction | target | deletion AUC | insertion AUC |",
        "|---|---|---|---:|---:|",
    ]
    for entry in report["results"][:TOP_SHOWN]:
        faith = entry["faithfulness"] or {}
        deletion, insertion = (
            f"{faith[k]:.3f}" if k in faith else "-" for k in ("deletion_auc", "insertion_auc")
        )
        lines.append(
            f"| `{_md(Path(entry['image']).name)}` | {_md(entry['prediction'])} "
            f"({entry['probability']:.1%}) | "
            f"{_md(entry['target'])} | {deletion} | {insertion} |"
        )
    if totals.get("n_scored"):
        lines += [
            "",
            f"Mean deletion AUC {totals['mean_deletion_auc']:.3f} "
            f"(random {totals['mean_random_deletion_auc']:.3f}, lower is better); "
            f"mean insertion AUC {totals['mean_insertion_auc']:.3f} (random "
            f"{totals['mean_random_insertion_auc']:.3f}, higher is better).",
        ]
    lines += ["", f"Report: `{out_dir}/attention.json`", ""]
    return "\n".join(lines)


def batch_markdown(index: dict[str, Any], out_dir: Path) -> str:
    """One Markdown table row per input of a batch: status, headline figures, error."""
    counts = ", ".join(f"{count} {status}" for status, count in index["counts"].items() if count)
    keys = _headline_keys(index)
    lines = [
        f"### xai {index['command']} batch: {inputs_text(len(index['inputs']))} ({counts})",
        "",
        "| input | status | " + " | ".join(key.replace("_", " ") for key in keys) + " | gates | error |",
        "|---|---|" + "---|" * len(keys) + "---|---|",
    ]
    for entry in index["inputs"]:
        headline = entry.get("headline") or {}
        cells = [f"`{_md(entry['name'])}`", entry["status"], *(_md(_text(headline.get(k))) for k in keys)]
        cells += [_md(_gates_text(entry.get("gates") or [])), _md(entry.get("error") or "")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Index: `{out_dir}/index.json`", ""]
    return "\n".join(lines)


def diff_markdown(document: dict[str, Any]) -> str:
    """The verdict, the thresholds and one Markdown table row per comparison."""
    thresholds = document["thresholds"]
    verdict = "within thresholds" if document["passed"] else "**drift beyond thresholds**"
    lines = [
        f"### xai diff: {verdict}",
        "",
        f"`{_md(document['base'])}` → `{_md(document['new'])}`; thresholds: rank correlation ≥ "
        f"{thresholds['min_rank_corr']:g}, at most {thresholds['max_topk_changes']} change(s) in the top "
        f"{thresholds['top_k']}",
        "",
        "| input | rank correlation | top-k changes | entered | left | largest change | result |",
        "|---|---:|---:|---|---|---|---|",
    ]
    for row in _diff_rows(document):
        lines.append("| " + " | ".join(_md(cell) for cell in row) + " |")
    lines.append("")
    return "\n".join(lines)


def print_batch_table(index: dict[str, Any], out_dir: Path) -> None:
    """A rich table of the batch's inputs on stdout, then where the index is."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    counts = ", ".join(f"{count} {status}" for status, count in index["counts"].items() if count)
    table = Table(
        title=f"xai {index['command']}: {inputs_text(len(index['inputs']))} ({counts})", title_justify="left"
    )
    table.add_column("input", overflow="fold")
    table.add_column("status")
    table.add_column("figures", overflow="fold")
    table.add_column("gates / error", overflow="fold")
    styles = {"ok": "green", "skipped": "blue", "failed": "red", "pending": "yellow"}
    for entry in index["inputs"]:
        headline = entry.get("headline") or {}
        figures = "; ".join(f"{key.replace('_', ' ')}: {_text(value)}" for key, value in headline.items())
        problems = [entry.get("error") or "", _gates_text(entry.get("gates") or [])]
        status = f"[{styles.get(entry['status'], 'white')}]{entry['status']}[/]"
        problem_text = "; ".join(p for p in problems if p)
        table.add_row(_plain(entry["name"]), status, _plain(figures), _plain(problem_text))
    console.print(table)
    console.print(f"index: {out_dir}/index.json and {out_dir}/index.html")


def print_diff_table(document: dict[str, Any]) -> None:
    """A rich table of the comparisons and the verdict."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    thresholds = document["thresholds"]
    table = Table(
        title=f"xai diff {document['base']} -> {document['new']} (top {thresholds['top_k']})",
        title_justify="left",
    )
    for column in ("input", "rank corr", "top-k changes", "entered", "left", "largest change", "result"):
        table.add_column(column, overflow="fold")
    for row in _diff_rows(document):
        table.add_row(*(_plain(cell) for cell in row))
    console.print(table)
    verdict = "within thresholds" if document["passed"] else "[red]drift beyond thresholds[/]"
    console.print(
        f"{verdict} (rank correlation >= {thresholds['min_rank_corr']:g}, at most "
        f"{thresholds['max_topk_changes']} change(s) in the top {thresholds['top_k']})"
    )


def _plain(text: str) -> str:
    """Text from a file for a rich cell: terminal controls escaped, rich markup shown as text."""
    from rich.markup import escape

    from xai_cli.textsafe import terminal_safe

    return escape(terminal_safe(str(text)))


def _diff_rows(document: dict[str, Any]) -> list[list[str]]:
    rows = []
    for entry in document["comparisons"]:
        name = entry["input"] if entry["input"] is not None else Path(document["new"]).name
        if entry["status"] != "compared":
            result = "pass" if entry["passed"] else "FAIL: " + "; ".join(entry["reasons"])
            rows.append([name, "", "", "", "", "", f"{entry['status']}: {result}"])
            continue
        change = entry["largest_change"]
        rows.append(
            [
                name,
                f"{entry['rank_correlation']:.3f}",
                str(entry["top_k_changes"]),
                ", ".join(entry["entered_top_k"]),
                ", ".join(entry["left_top_k"]),
                f"{change['feature']} {change['base']:.4g} -> {change['new']:.4g} ({change['change']:+.3g})",
                "pass" if entry["passed"] else "FAIL: " + "; ".join(entry["reasons"]),
            ]
        )
    return rows


def inputs_text(count: int) -> str:
    """``1 input``, ``3 inputs``."""
    return f"{count} input" if count == 1 else f"{count} inputs"


def _headline_keys(index: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    for entry in index["inputs"]:
        keys += [key for key in entry.get("headline") or {} if key not in keys]
    return keys


def _gates_text(gates: list[dict[str, Any]]) -> str:
    return "; ".join(f"{g['gate']}: {'passed' if g['passed'] else 'FAILED: ' + g['message']}" for g in gates)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{key} {_text(item)}" for key, item in value.items())
    return str(value)


def _md(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str("" if value is None else value).replace("|", "\\|").replace("\n", " ")
