"""Self-contained HTML pages: ``report.html`` for one report and ``index.html`` for a batch.

One file each, inline CSS, no script or font from anywhere else: ``report.html`` embeds its PNGs as
``data:`` URIs (it can be mailed or uploaded alone); ``index.html`` links each report folder by relative
path. A tiny inline script marks ``<body data-images-total data-images-broken>`` after loading and shows
a warning line if an image could not be displayed.

Renderers are chosen by the report's ``command``: ``explain`` has its own; any other report kind is
rendered generically (scalars as a table, lists of objects as tables, the rest as JSON), so a new
command's report reads well before it gets a specialised renderer: add one to ``RENDERERS``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from html import escape
from pathlib import Path
from typing import Any

from xai_cli.reports.writer import write_atomic

REPORT_HTML = "report.html"
MAX_TABLE_ROWS = 200
MAX_ROW_SECTIONS = 50

STYLE = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #f6f7f9; --accent: #1f77b4; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: var(--muted); }
main { padding: 8px 28px 28px; max-width: 1280px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 16px 0;
          padding: 14px 18px; }
h2 { font-size: 17px; margin: 0 0 10px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv th { width: 220px; }
table.importance td:nth-child(3) { width: 50%; }
.bar { background: var(--accent); height: 10px; border-radius: 2px; min-width: 1px; }
.plots { display: flex; flex-wrap: wrap; gap: 14px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 4px; padding: 8px; background: #fff; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
img.thumb { max-width: 220px; height: auto; display: block; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { white-space: pre-wrap; word-break: break-word; background: #f3f4f6; padding: 8px; border-radius: 4px; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
         font-weight: 600; }
.status-ok { background: #dff3e4; color: #1b6b32; } .status-skipped { background: #e4ecf7; color: #23508a; }
.status-failed { background: #fbe1e1; color: #9b1c1c; }
.status-pending { background: #f3ecd9; color: #7a5b0c; }
.gate-failed { color: #9b1c1c; font-weight: 600; }
.note { color: var(--muted); }
#image-check { background: #fbe1e1; color: #9b1c1c; padding: 8px 28px; }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
"""

IMAGE_CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); });
  document.body.setAttribute("data-images-total", String(images.length));
  document.body.setAttribute("data-images-broken", String(broken.length));
  if (broken.length) {
    var line = document.getElementById("image-check");
    line.hidden = false;
    line.textContent = broken.length + " image(s) could not be displayed: " +
      broken.map(function (img) { return img.getAttribute("alt"); }).join(", ");
  }
});
"""

Renderer = Callable[[dict[str, Any], dict[str, bytes]], list[str]]


def write_report_html(
    report: dict[str, Any], folder: Path, files: Iterable[str], also_in: Path | None = None
) -> str:
    """Render ``report.html`` into ``folder``, embedding the PNGs among ``files`` (read from ``folder``, or
    from ``also_in`` when not there); returns its name."""
    images = {
        name: (folder / name if (folder / name).is_file() or also_in is None else also_in / name).read_bytes()
        for name in files
        if name.endswith(".png")
    }
    write_atomic(folder / REPORT_HTML, render_report_html(report, images).encode("utf-8"))
    return REPORT_HTML


def render_report_html(report: dict[str, Any], images: dict[str, bytes]) -> str:
    """One report as a page: its kind's renderer, or the generic one; images embedded."""
    command = str(report.get("command", "report"))
    renderer = RENDERERS.get(command, generic_sections)
    model = report.get("model") or {}
    subtitle = " · ".join(
        str(part)
        for part in (
            model.get("estimator"),
            Path(str(model.get("path", ""))).name or None,
            _data_path(report),
        )
        if part
    )
    return _page(f"xai {command} report", subtitle, renderer(report, images), report)


def render_index_html(index: dict[str, Any], out_root: Path) -> str:
    """A batch's ``index.html``: counts, then one row per input with its status, figures and thumbnail."""
    counts = index["counts"]
    summary = ", ".join(f"{counts[status]} {status}" for status in counts if counts[status])
    sections = [_section("Batch", _key_values(_index_headline(index)))]
    headline_keys: list[str] = []
    for entry in index["inputs"]:
        for key in entry.get("headline") or {}:
            if key not in headline_keys:
                headline_keys.append(key)
    header = ["input", "status", *(key.replace("_", " ") for key in headline_keys), "gates", "error"]
    if index.get("thumbnail"):
        header.append("plot")
    rows = []
    for entry in index["inputs"]:
        link = entry.get("html") or entry.get("report")
        name = escape(entry["name"])
        cells = [f'<a href="{escape(link)}">{name}</a>' if link else name, _status(entry["status"])]
        headline = entry.get("headline") or {}
        cells += [_cell_value(headline.get(key)) for key in headline_keys]
        cells.append(_gates_cell(entry.get("gates") or []))
        cells.append(escape(entry.get("error") or ""))
        if index.get("thumbnail"):
            cells.append(_thumbnail(entry, index["thumbnail"], out_root))
        rows.append(cells)
    sections.append(_section(f"Inputs ({summary})", _table(header, rows, raw=True)))
    from xai_cli.reports.summary import inputs_text

    title = f"xai {index['command']} batch: {inputs_text(len(index['inputs']))}"
    return _page(title, str(index.get("inputs_root", "")), sections, index)


def explain_sections(report: dict[str, Any], images: dict[str, bytes]) -> list[str]:
    """The sections of an explain report: headline, global importance, plots, rows, settings, notes."""
    sections = [_section("Summary", _key_values(_explain_headline(report)))]
    importance = report.get("global_importance") or {}
    if importance:
        top = max(importance.values()) or 1.0
        rows = [
            [
                escape(name),
                f'<span class="num">{value:.4g}</span>',
                f'<div class="bar" style="width:{100 * value / top:.1f}%"></div>',
            ]
            for name, value in importance.items()
        ]
        sections.append(
            _section(
                "Global importance (mean |attribution|)",
                _table(["column", "importance", ""], rows, raw=True, css="importance"),
            )
        )
    overview = [name for name in ("global_importance.png", "beeswarm.png") if name in images]
    if overview:
        sections.append(_section("Plots", _figures(overview, images)))
    rows_section = _explain_rows(report)
    if rows_section:
        sections.append(rows_section)
    per_row = sorted((name for name in images if name not in overview), key=_row_plot_order)
    if per_row:
        sections.append(_section("Per-row plots", _figures(per_row, images)))
    if report.get("settings"):
        sections.append(_section("Settings", _key_values(report["settings"])))
    if report.get("notes"):
        notes = "".join(f"<li>{escape(str(note))}</li>" for note in report["notes"])
        sections.append(_section("Notes", f"<ul>{notes}</ul>"))
    return sections


def generic_sections(report: dict[str, Any], images: dict[str, bytes]) -> list[str]:
    """Any report JSON as tables: its scalars, then each list or object field in its own section."""
    scalars = {key: value for key, value in report.items() if not isinstance(value, dict | list)}
    sections = [_section("Summary", _key_values(scalars))]
    for key, value in report.items():
        if isinstance(value, dict | list) and value:
            sections.append(_section(key.replace("_", " ").capitalize(), _any_value(value)))
    if images:
        sections.append(_section("Plots", _figures(sorted(images), images)))
    return sections


def rules_sections(report: dict[str, Any], images: dict[str, bytes]) -> list[str]:
    """The sections of a rules report: source and fidelity, the rule table, the tree, settings, notes."""
    from xai_cli.reports.rules import condition_text, fidelity_text, format_number

    fidelity = report.get("fidelity") or {}
    headline = {
        "model": _model_text(report),
        "data": (report.get("data") or {}).get("path"),
        "rows": (report.get("data") or {}).get("n_rows"),
        "source": report.get("reason"),
        "rules": report.get("n_rules"),
        "fidelity": fidelity_text(report),
        "held-out fidelity": fidelity.get("held_out"),
        "fidelity on the data": fidelity.get("on_data"),
        "command line": "xai " + " ".join(report.get("argv", [])),
    }
    sections = [_section("Summary", _key_values(headline))]
    classifier = (report.get("model") or {}).get("kind") == "classifier"
    rows = []
    for rule in report.get("rules", [])[:MAX_TABLE_ROWS]:
        conditions = "<br>".join(escape(condition_text(c)) for c in rule["conditions"]) or "(every row)"
        if classifier:
            quality = _cell_value(rule.get("precision"))
            then = escape(str(rule["prediction"]))
        else:
            mean, spread = rule.get("output_mean"), rule.get("output_std")
            quality = "" if mean is None else escape(f"{format_number(mean)} ± {format_number(spread)}")
            then = escape(format_number(rule["prediction"]))
        coverage = f'<span class="num">{rule["coverage"]:.1%}</span>'
        rows.append([escape(rule["id"]), conditions, then, coverage, _cell_value(rule["support"]), quality])
    header = ["rule", "if", "then", "coverage", "rows", "precision" if classifier else "model mean ± sd"]
    sections.append(_section("Rules (each data row satisfies exactly one)", _table(header, rows, raw=True)))
    if images:
        sections.append(_section("Tree", _figures(sorted(images), images)))
    if report.get("settings"):
        sections.append(_section("Settings", _key_values(report["settings"])))
    sections += _notes(report)
    return sections


def counterfactual_sections(report: dict[str, Any], images: dict[str, bytes]) -> list[str]:
    """The sections of a counterfactual report: summary, a table of changes per row, the plots."""
    from xai_cli.reports.counterfactual import changes_text, prediction_text

    summary = report.get("summary") or {}
    headline = {
        "model": _model_text(report),
        "data": (report.get("data") or {}).get("path"),
        "target": report.get("target"),
        "rows searched": summary.get("rows"),
        "target reached": summary.get("found"),
        "constraints": {
            k: v for k, v in (report.get("constraints") or {}).items() if v and k != "allowed_ranges"
        }
        or None,
        "command line": "xai " + " ".join(report.get("argv", [])),
    }
    sections = [_section("Summary", _key_values(headline))]
    for entry in report.get("rows", [])[:MAX_ROW_SECTIONS]:
        rows = [
            [k + 1, changes_text(found), prediction_text(found), found["n_changed"], found["distance"]]
            for k, found in enumerate(entry["counterfactuals"])
        ]
        if rows:
            body = _table(["#", "changes", "now predicted", "columns changed", "distance (MADs)"], rows)
        else:
            attempt = entry.get("closest_attempt")
            body = (
                '<p class="note">'
                + (
                    "already predicted as the target"
                    if entry["status"] == "already-target"
                    else "no counterfactual found"
                    + (f"; closest attempt: {escape(changes_text(attempt))}" if attempt else "")
                )
                + "</p>"
            )
        was = escape(prediction_text(entry["original"]))
        sections.append(_section(f"Row {entry['row']} (predicted {was})", body))
    if images:
        sections.append(_section("Plots", _figures(sorted(images, key=_row_plot_order), images)))
    sections += _notes(report)
    return sections


def attention_sections(report: dict[str, Any], images: dict[str, bytes]) -> list[str]:
    """The sections of an attention report: faithfulness means, per-image table, overlays."""
    totals = report.get("summary") or {}
    info = report.get("images") or {}
    headline = {
        "model": _model_text(report),
        "images": info.get("path"),
        "explained": info.get("n_explained"),
        "failed": info.get("n_failed"),
        "method": report.get("method"),
        "mean deletion AUC (lower is better)": totals.get("mean_deletion_auc"),
        "random deletion AUC": totals.get("mean_random_deletion_auc"),
        "mean insertion AUC (higher is better)": totals.get("mean_insertion_auc"),
        "random insertion AUC": totals.get("mean_random_insertion_auc"),
        "share beating random": totals.get("share_beating_random"),
        "command line": "xai " + " ".join(report.get("argv", [])),
    }
    sections = [_section("Summary", _key_values(headline))]
    rows = []
    for entry in report.get("results", [])[:MAX_TABLE_ROWS]:
        faith = entry.get("faithfulness") or {}
        rows.append(
            [
                Path(entry["image"]).name,
                f"{entry['prediction']} ({entry['probability']:.1%})",
                entry["target"],
                f"{entry['peak']['x']},{entry['peak']['y']}",
                faith.get("deletion_auc"),
                faith.get("insertion_auc"),
            ]
        )
    header = ["image", "prediction", "target", "peak x,y", "deletion AUC", "insertion AUC"]
    sections.append(_section("Images", _table(header, rows)))
    if images:
        sections.append(_section("Overlays", _figures(list(images), images)))
    if report.get("failed"):
        sections.append(_section("Images that could not be read", _any_value(report["failed"])))
    sections += _notes(report)
    return sections


RENDERERS: dict[str, Renderer] = {
    "explain": explain_sections,
    "rules": rules_sections,
    "counterfactual": counterfactual_sections,
    "attention": attention_sections,
}


def _model_text(report: dict[str, Any]) -> str:
    model = report.get("model") or {}
    return f"{model.get('estimator', '')} ({model.get('kind', '')}) from {model.get('path', '')}"


def _notes(report: dict[str, Any]) -> list[str]:
    if not report.get("notes"):
        return []
    notes = "".join(f"<li>{escape(str(note))}</li>" for note in report["notes"])
    return [_section("Notes", f"<ul>{notes}</ul>")]


def _page(title: str, subtitle: str, sections: list[str], document: dict[str, Any]) -> str:
    versions = f"xai-cli {document.get('tool_version', '')} · schema {document.get('schema_version', '')}"
    footer = escape(versions)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        '<div id="image-check" hidden></div>\n'
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>\n<main>\n"
        + "\n".join(sections)
        + f"\n</main>\n<footer>{footer}</footer>\n<script>{IMAGE_CHECK_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _section(title: str, body: str) -> str:
    return f"<section><h2>{escape(title)}</h2>\n{body}\n</section>"


def _table(header: list[str], rows: list[list[Any]], raw: bool = False, css: str = "") -> str:
    head = "".join(f"<th>{escape(str(name))}</th>" for name in header)
    body = []
    for row in rows:
        cells = "".join(f"<td>{cell if raw else _cell_value(cell)}</td>" for cell in row)
        body.append(f"<tr>{cells}</tr>")
    css_class = f' class="{css}"' if css else ""
    return f"<table{css_class}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _key_values(values: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{escape(str(key))}</th><td>{_cell_value(value)}</td></tr>"
        for key, value in values.items()
        if value is not None
    )
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _cell_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f'<span class="num">{value:.4g}</span>'
    if isinstance(value, int):
        return f'<span class="num">{value}</span>'
    if isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
        return escape(", ".join(f"{k} {_plain_text(v)}" for k, v in value.items()))
    if isinstance(value, dict | list):
        return f"<code>{escape(json.dumps(value, ensure_ascii=False))}</code>"
    return escape(str(value))


def _plain_text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _any_value(value: Any) -> str:
    """A list of objects as a table, an object of scalars as key/values, anything else as JSON."""
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        columns: list[str] = []
        for item in value[:MAX_TABLE_ROWS]:
            columns += [key for key in item if key not in columns]
        rows = [[item.get(column) for column in columns] for item in value[:MAX_TABLE_ROWS]]
        more = len(value) - MAX_TABLE_ROWS
        tail = f'<p class="note">... {more} more in the JSON</p>' if more > 0 else ""
        return _table(columns, rows) + tail
    if isinstance(value, dict):
        return _key_values(value)
    if isinstance(value, list) and all(not isinstance(item, dict | list) for item in value):
        return escape(", ".join(_plain_text(item) for item in value))
    return f"<pre>{escape(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"


def _figures(names: list[str], images: dict[str, bytes]) -> str:
    figures = []
    for name in names:
        data = base64.b64encode(images[name]).decode("ascii")
        figures.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{escape(name)}">'
            f"<figcaption>{escape(name)}</figcaption></figure>"
        )
    return f'<div class="plots">{"".join(figures)}</div>'


def _row_plot_order(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else -1, name)


def _status(status: str) -> str:
    return f'<span class="status status-{escape(status)}">{escape(status)}</span>'


def _gates_cell(gates: list[dict[str, Any]]) -> str:
    parts = []
    for gate in gates:
        css = "" if gate["passed"] else ' class="gate-failed"'
        verdict = "passed" if gate["passed"] else "FAILED"
        parts.append(f"<div{css}>{escape(gate['gate'])}: {verdict}: {escape(gate['message'])}</div>")
    return "".join(parts)


def _thumbnail(entry: dict[str, Any], thumbnail: str, out_root: Path) -> str:
    if entry["status"] not in ("ok", "skipped") or not (out_root / entry["folder"] / thumbnail).is_file():
        return ""
    src = escape(f"{entry['folder']}/{thumbnail}")
    return f'<img class="thumb" src="{src}" alt="{escape(entry["name"])}: {escape(thumbnail)}">'


def _data_path(report: dict[str, Any]) -> str | None:
    data = report.get("data")
    return Path(str(data["path"])).name if isinstance(data, dict) and data.get("path") else None


def _index_headline(index: dict[str, Any]) -> dict[str, Any]:
    model = index.get("model") or {}
    return {
        "command": index["command"],
        "model": f"{model.get('estimator', '')} ({model.get('path', '')})" if model else None,
        "model sha256": model.get("sha256"),
        "inputs": index.get("inputs_root"),
        "glob": index.get("glob"),
        **{f"inputs {status}": count for status, count in index["counts"].items()},
        "command line": "xai " + " ".join(index.get("argv", [])),
    }


def _explain_headline(report: dict[str, Any]) -> dict[str, Any]:
    model = report.get("model") or {}
    data = report.get("data") or {}
    rows_file = report.get("rows_file")
    rows = report.get("rows") or []
    targets = sorted({str(row["target"]) for row in rows})
    return {
        "model": f"{model.get('estimator', '')} ({model.get('kind', '')}) from {model.get('path', '')}",
        "model sha256": model.get("sha256"),
        "classes": ", ".join(str(c) for c in model.get("classes") or []) or None,
        "data": data.get("path"),
        "rows in file": data.get("n_rows"),
        "rows explained": rows_file["n_rows"] if rows_file else len(rows),
        "per-row results": f"{rows_file['path']} (Parquet, one row per explained row)" if rows_file else None,
        "method": f"{str(report.get('method', '')).upper()} ({report.get('algorithm')})",
        "output": report.get("output"),
        "target": ", ".join(targets)
        if len(targets) <= 3
        else f"{len(targets)} classes (each row's predicted class)",
        "background": data.get("background"),
        "max additivity error": report.get("max_additivity_error"),
        "seed": report.get("seed"),
        "command line": "xai " + " ".join(report.get("argv", [])),
    }


def _explain_rows(report: dict[str, Any]) -> str | None:
    rows = report.get("rows") or []
    if not rows:
        return None
    table_rows = []
    for row in rows[:MAX_ROW_SECTIONS]:
        ranked = sorted(row["attributions"].items(), key=lambda item: -abs(item[1]))[:3]
        strongest = ", ".join(f"{name} {value:+.3g}" for name, value in ranked)
        table_rows.append(
            [
                row["row"],
                row["target"],
                row["prediction"],
                row["base_value"],
                strongest,
                row["additivity_error"],
            ]
        )
    more = len(rows) - MAX_ROW_SECTIONS
    tail = f'<p class="note">... {more} more rows in explain.json</p>' if more > 0 else ""
    header = ["row", "target", "prediction", "base value", "strongest columns", "additivity error"]
    return _section("Explained rows", _table(header, table_rows) + tail)
