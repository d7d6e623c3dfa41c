"""rules.png: the (surrogate) decision tree drawn with matplotlib, one box per node, in raw-column terms.

Drawn here rather than with ``sklearn.tree.plot_tree``: that one labels splits with the tree's own inputs
(scaled values, one-hot columns ``x7 <= 0.5``); ours shows the conditions on the user's columns, and
collapses levels below ``--max-depth`` so a deep tree stays readable.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from xai_cli.methods.rules import RulesResult
from xai_cli.methods.tree_rules import TreeNode
from xai_cli.reports.png import save_png
from xai_cli.reports.rules import condition_text, format_number, rule_id

SLOT_WIDTH_INCHES = 1.7
LEVEL_HEIGHT_INCHES = 1.3
WRAP = 22


def draw_tree(result: RulesResult, report: dict[str, Any], path: Path, title: str, subtitle: str) -> None:
    """Draw the tree down to ``settings['draw_depth']`` levels and save it as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    draw_depth = int(result.settings.get("draw_depth") or 4)
    nodes = result.nodes
    positions: dict[int, tuple[float, int]] = {}
    shown_leaves: list[int] = []

    def place(index: int) -> float:
        node = nodes[index]
        if node.condition is None or node.depth >= draw_depth:
            x = float(len(shown_leaves))
            shown_leaves.append(index)
        else:
            assert node.left is not None and node.right is not None
            x = (place(node.left) + place(node.right)) / 2
        positions[index] = (x, node.depth)
        return x

    place(0)
    levels = max(depth for _, depth in positions.values()) + 1
    width = max(7.0, SLOT_WIDTH_INCHES * len(shown_leaves))
    height = max(3.5, LEVEL_HEIGHT_INCHES * levels + 1.4)
    figure = Figure(figsize=(width, height), dpi=110)
    axes = figure.add_axes((0.01, 0.02, 0.98, 0.86))
    axes.set_xlim(-0.6, len(shown_leaves) - 0.4)
    axes.set_ylim(-(levels - 1) - 0.55, 0.45)
    axes.axis("off")
    colours = _leaf_colours(result, report)

    for index, (x, depth) in positions.items():
        node = nodes[index]
        if node.condition is not None and depth < draw_depth:
            assert node.left is not None and node.right is not None
            for child, answer in ((node.left, "yes"), (node.right, "no")):
                child_x, child_depth = positions[child]
                axes.plot([x, child_x], [-depth, -child_depth], color="#9a9a9a", linewidth=1.0, zorder=1)
                axes.text(
                    (x + child_x) / 2,
                    -(depth + child_depth) / 2,
                    answer,
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="#555555",
                    zorder=2,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
                )
    for index, (x, depth) in positions.items():
        node = nodes[index]
        text, face = _node_label(node, nodes, report, colours, draw_depth)
        axes.text(
            x,
            -depth,
            text,
            ha="center",
            va="center",
            fontsize=9,
            zorder=3,
            linespacing=1.25,
            bbox={"boxstyle": "round,pad=0.35", "facecolor": face, "edgecolor": "#666666", "linewidth": 0.8},
        )
    if result.kind == "classifier":
        from matplotlib.patches import Patch

        handles = [
            Patch(facecolor=colour, edgecolor="#666666", label=name) for name, colour in colours.items()
        ]
        axes.legend(
            handles=handles, title="prediction", loc="upper left", fontsize=8, title_fontsize=8, frameon=False
        )
    figure.suptitle(title, fontsize=13, y=0.985)
    figure.text(
        0.5,
        0.925,
        subtitle + "   ('yes' = the condition in the box holds)",
        ha="center",
        fontsize=9,
        color="#333333",
    )
    save_png(figure, path)


def _node_label(
    node: TreeNode, nodes: list[TreeNode], report: dict[str, Any], colours: dict[Any, str], draw_depth: int
) -> tuple[str, str]:
    """The text in a node's box and its fill colour."""
    if node.condition is None:
        rule = report["rules"][node.rule_index]
        lines = [
            f"{rule['id']}: {_prediction_text(rule)}",
            f"{rule['coverage']:.1%} of rows (n={rule['support']})",
        ]
        if "precision" in rule:
            lines.append("precision " + ("n/a" if rule["precision"] is None else f"{rule['precision']:.0%}"))
        elif rule["output_mean"] is not None:
            lines.append(f"model {format_number(rule['output_mean'])} ± {format_number(rule['output_std'])}")
        return "\n".join(lines), colours.get(_colour_key(rule), "#eeeeee")
    if node.depth >= draw_depth:
        below = _rules_below(node, nodes)
        first, last = rule_id(min(below)), rule_id(max(below))
        return f"{first}…{last}: {len(below)} rules\n(in rules.txt)\nn={node.n_rows}", "#f4f4f4"
    return f"{_wrapped_condition(node)}\nn={node.n_rows}", "#ffffff"


def _wrapped_condition(node: TreeNode) -> str:
    """A condition on one line when short, else the column on one line and the test below it."""
    assert node.condition is not None
    text = condition_text(node.condition.as_dict())
    if len(text) <= WRAP:
        return text
    feature = node.condition.feature
    test = text[len(feature) + 1 :]
    return feature + "\n" + textwrap.fill(test, WRAP, max_lines=3, placeholder=" …}")


def _rules_below(node: TreeNode, nodes: list[TreeNode]) -> list[int]:
    if node.condition is None:
        assert node.rule_index is not None
        return [node.rule_index]
    assert node.left is not None and node.right is not None
    return _rules_below(nodes[node.left], nodes) + _rules_below(nodes[node.right], nodes)


def _prediction_text(rule: dict[str, Any]) -> str:
    text = str(rule["prediction"]) if "precision" in rule else format_number(rule["prediction"])
    return textwrap.shorten(text, 18, placeholder="…")


def _colour_key(rule: dict[str, Any]) -> Any:
    return str(rule["prediction"]) if "precision" in rule else rule["id"]


def _leaf_colours(result: RulesResult, report: dict[str, Any]) -> dict[Any, str]:
    """A light colour per class (classifiers) or along a scale of the predicted value (regressors)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    rules = report["rules"]
    if result.kind == "classifier":
        classes = [str(c) for c in report["model"]["classes"] or []]
        palette = colormaps["Pastel1"]
        return {name: to_hex(palette(i % palette.N)) for i, name in enumerate(classes)}
    values = [float(r["prediction"]) for r in rules]
    low, high = min(values), max(values)
    scale = colormaps["YlGnBu"]
    return {
        r["id"]: to_hex(
            scale(0.1 + 0.6 * ((float(r["prediction"]) - low) / (high - low) if high > low else 0.5))
        )
        for r in rules
    }
