"""counterfactual_row_N.png: the original row and its counterfactuals side by side, changed columns only."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from xai_cli.reports.png import save_png

CHANGED = "#fde0c5"
HEADER = "#e8e8e8"
SUMMARY = "#f5f5f5"
UNCHANGED_TEXT = "#9a9a9a"
LINE_INCHES = 0.42


def draw_counterfactuals(entry: dict[str, Any], report: dict[str, Any], path: Path) -> None:
    """A table: one line per changed column (then prediction and distance), one column per row version."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    from xai_cli.reports.counterfactual import prediction_text, value_text

    versions = list(entry["counterfactuals"])
    labels = [f"counterfactual {k + 1}" for k in range(len(versions))]
    if not versions and entry["closest_attempt"] is not None:
        versions = [entry["closest_attempt"]]
        labels = ["closest attempt\n(not valid)"]
    order = list(entry["original"]["values"])
    changed = [name for name in order if any(name in v["changes"] for v in versions)]
    header = ["column", "original", *labels]
    cells: list[list[str]] = []
    colours: list[list[str]] = []
    for name in changed:
        line = [name, value_text(entry["original"]["values"][name])]
        shade = [HEADER, "white"]
        for version in versions:
            if name in version["changes"]:
                line.append(value_text(version["changes"][name]["to"]))
                shade.append(CHANGED)
            else:
                line.append("unchanged")
                shade.append("white")
        cells.append(line)
        colours.append(shade)
    cells.append(["prediction", prediction_text(entry["original"]), *(prediction_text(v) for v in versions)])
    cells.append(["columns changed", "0", *(str(v["n_changed"]) for v in versions)])
    cells.append(["distance (MADs)", "0", *(f"{v['distance']:.3g}" for v in versions)])
    colours.extend([[HEADER] + [SUMMARY] * (len(header) - 1)] * 3)

    width = max(6.5, 1.9 + 2.0 * (len(header) - 1))
    subtitle = textwrap.fill(_subtitle(entry, report), int(width * 15))
    top = 0.55 + 0.17 * (subtitle.count("\n") + 1)
    body = LINE_INCHES * (len(cells) + 1)
    height = top + body + 0.15
    figure = Figure(figsize=(width, height), dpi=110)
    axes = figure.add_axes((0.02, 0.15 / height, 0.96, body / height))
    axes.axis("off")
    table = axes.table(
        cellText=cells,
        colLabels=header,
        cellColours=colours,
        colColours=[HEADER] * len(header),
        cellLoc="center",
        bbox=(0.0, 0.0, 1.0, 1.0),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9.5)
    for (line, column), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        text = cell.get_text()
        if line == 0 or column == 0:
            text.set_fontweight("bold")
        if text.get_text() == "unchanged":
            text.set_color(UNCHANGED_TEXT)
            text.set_fontstyle("italic")
    figure.suptitle(f"Row {entry['row']}: {_headline(entry, report)}", fontsize=12, y=1 - 0.12 / height)
    figure.text(0.5, 1 - 0.5 / height, subtitle, ha="center", va="top", fontsize=8.5, color="#444444")
    save_png(figure, path)


def _headline(entry: dict[str, Any], report: dict[str, Any]) -> str:
    from xai_cli.reports.counterfactual import prediction_text

    target = report["target"]
    if target["kind"] == "class":
        wanted = f"target {target['class']}"
    elif target["kind"] == "range":
        wanted = f"target range [{target['low']}, {target['high']}]"
    else:
        wanted = "any other class"
    was = prediction_text(entry["original"])
    if entry["status"] == "already-target":
        return f"already {was} ({wanted})"
    if not entry["found"]:
        return f"{was}; no counterfactual found for {wanted}"
    return f"{was} → {wanted}: {len(entry['counterfactuals'])} counterfactual(s)"


def _subtitle(entry: dict[str, Any], report: dict[str, Any]) -> str:
    constraints = report["constraints"]
    parts = []
    for key, label in (
        ("immutable", "immutable"),
        ("increase_only", "increase only"),
        ("decrease_only", "decrease only"),
    ):
        if constraints[key]:
            parts.append(f"{label}: {', '.join(constraints[key])}")
    for name, (low, high) in constraints["ranges"].items():
        parts.append(
            f"{name} in [{'' if low is None else f'{low:g}'}, {'' if high is None else f'{high:g}'}]"
        )
    text = "; ".join(parts) if parts else "no constraints beyond the data's observed values"
    return f"constraints: {text}. Shaded: changed values; prediction shows (probability)."
