"""PNG plots of explanations, drawn with matplotlib's Agg backend (never ``plt.show()``).

Drawn here rather than with ``shap.plots``: shap's beeswarm colours by numeric value only and breaks on
string categories, and its plots draw on pyplot's global figure; ours take raw-column values as they are
(categories in grey), use explicit figures, and are closed after saving, so a batch does not leak memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xai_cli.reports.png import save_png

MAX_BARS = 20
POSITIVE = "#d62728"
NEGATIVE = "#1f77b4"


def _figure(height_items: int, width: float = 8.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, max(2.5, 0.38 * height_items + 1.4)), dpi=110)
    return figure, figure.add_subplot(1, 1, 1)


def _save(figure: Any, path: Path, axes: Any = None) -> None:
    """Lay out (margins measured from ``axes``' labels, else tight_layout) and write the PNG."""
    if axes is not None:
        _fit_margins(figure, axes)
    save_png(figure, path)


def _fit_margins(figure: Any, axes: Any, right_inches: float = 0.3) -> None:
    """Margins from the measured width of the y tick labels and the height of the title and x labels.

    What ``tight_layout`` finds for these one-axes bar charts, at a fraction of its cost: it lays out
    every artist of the figure, which took a quarter of the time of each per-row plot (profiled).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    width, height = figure.get_size_inches() * figure.dpi

    def extent(text: Any) -> tuple[float, float]:
        if not text.get_text():
            return 0.0, 0.0
        w, h, _ = renderer.get_text_width_height_descent(text.get_text(), text.get_fontproperties(), False)
        return w, h

    label_width = max((extent(t)[0] for t in axes.get_yticklabels()), default=0.0)
    tick_height = max((extent(t)[1] for t in axes.get_xticklabels()), default=0.0)
    pad = 0.12 * figure.dpi
    left = label_width + pad + 0.1 * figure.dpi
    bottom = tick_height + extent(axes.xaxis.label)[1] + 2.4 * pad
    top = extent(axes.title)[1] + pad
    figure.subplots_adjust(
        left=min(0.6, left / width),
        right=1 - right_inches * figure.dpi / width,
        bottom=min(0.45, bottom / height),
        top=1 - min(0.3, top / height),
    )


def global_importance_plot(importance: dict[str, float], path: Path, title: str, xlabel: str) -> None:
    """Horizontal bars of mean |attribution| per column, strongest on top."""
    items = list(importance.items())[:MAX_BARS][::-1]
    figure, axes = _figure(len(items))
    axes.barh([name for name, _ in items], [value for _, value in items], color=NEGATIVE)
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    _save(figure, path, axes)


def beeswarm_plot(
    values: np.ndarray,
    features: pd.DataFrame,
    importance: dict[str, float],
    path: Path,
    title: str,
    xlabel: str,
) -> None:
    """One row of dots per column: each dot a data row at its attribution, coloured by the column's value."""
    names = list(importance)[:MAX_BARS][::-1]
    figure, axes = _figure(len(names), width=9.0)
    from matplotlib import colormaps

    cmap = colormaps["coolwarm"]
    rng = np.random.default_rng(0)
    scatter = None
    for level, name in enumerate(names):
        column = list(features.columns).index(name)
        shap_values = values[:, column]
        raw = features[name]
        jitter = _swarm_offsets(shap_values, rng)
        if pd.api.types.is_numeric_dtype(raw):
            numeric = raw.to_numpy(dtype=float)
            low, high = np.nanpercentile(numeric, [5, 95]) if np.isfinite(numeric).any() else (0.0, 1.0)
            scaled = (
                np.clip((numeric - low) / (high - low), 0, 1) if high > low else np.full(len(numeric), 0.5)
            )
            scatter = axes.scatter(
                shap_values, level + jitter, c=scaled, cmap=cmap, vmin=0, vmax=1, s=12, linewidths=0
            )
        else:
            axes.scatter(shap_values, level + jitter, color="#888888", s=12, linewidths=0)
    axes.set_yticks(range(len(names)), names)
    axes.axvline(0, color="#999999", linewidth=0.8)
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    # Margins first: the colour bar then takes its room from the laid-out axes.
    _fit_margins(figure, axes, right_inches=0.75 if scatter is not None else 0.3)
    if scatter is not None:
        bar = figure.colorbar(scatter, ax=axes, ticks=[0, 1], aspect=40, pad=0.02)
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("column value (grey: category)")
    _save(figure, path)


def _swarm_offsets(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vertical spread proportional to how crowded each dot's neighbourhood is."""
    if len(values) < 2 or np.ptp(values) == 0:
        return rng.uniform(-0.3, 0.3, len(values)) * (len(values) > 1)
    bins = np.clip(((values - values.min()) / np.ptp(values) * 50).astype(int), 0, 49)
    counts = np.bincount(bins, minlength=50)
    density = counts[bins] / counts.max()
    return rng.uniform(-0.4, 0.4, len(values)) * density


def waterfall_plot(
    names: list[str],
    values: np.ndarray,
    feature_values: dict[str, Any],
    base: float,
    prediction: float,
    path: Path,
    title: str,
    xlabel: str,
) -> None:
    """From the base value to the prediction, one bar per column (the weakest merged)."""
    order = np.argsort(-np.abs(values), kind="stable")
    shown = order[: MAX_BARS - 1] if len(order) > MAX_BARS else order
    rest = order[len(shown) :]
    labels = [f"{names[i]} = {_short(feature_values.get(names[i]))}" for i in shown]
    contributions = [float(values[i]) for i in shown]
    if len(rest):
        labels.append(f"{len(rest)} other columns")
        contributions.append(float(values[rest].sum()))
    labels, contributions = labels[::-1], contributions[::-1]
    figure, axes = _figure(len(labels) + 1, width=9.0)
    start = base + float(np.sum(values)) - np.cumsum(contributions[::-1])[::-1]
    levels = np.arange(len(labels))
    colors = [POSITIVE if width >= 0 else NEGATIVE for width in contributions]
    axes.barh(levels, contributions, left=start, color=colors)
    for level, (left, width) in enumerate(zip(start, contributions, strict=True)):
        axes.text(
            left + width,
            level,
            f" {width:+.3g}",
            va="center",
            ha="left" if width >= 0 else "right",
            fontsize=8,
        )
    axes.set_yticks(levels, labels)
    ends = np.concatenate([start, start + np.asarray(contributions), [base, prediction]])
    low, high = float(ends.min()), float(ends.max())
    room = 0.12 * (high - low) or 0.05  # for the value printed at the end of each bar
    axes.set_xlim(low - room, high + room)
    axes.axvline(base, color="#999999", linestyle="--", linewidth=0.8, label=f"base value {base:.3g}")
    axes.axvline(prediction, color="#333333", linewidth=0.8, label=f"prediction {prediction:.3g}")
    axes.legend(loc="lower right", fontsize=8)
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    _save(figure, path, axes)


def weights_plot(labels: list[str], weights: np.ndarray, path: Path, title: str, xlabel: str) -> None:
    """Signed horizontal bars (LIME's local-model weights), strongest on top."""
    order = np.argsort(np.abs(weights), kind="stable")[-MAX_BARS:]
    figure, axes = _figure(len(order))
    axes.barh(
        [labels[i] for i in order],
        weights[order],
        color=[POSITIVE if weights[i] >= 0 else NEGATIVE for i in order],
    )
    axes.axvline(0, color="#999999", linewidth=0.8)
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    _save(figure, path, axes)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) < 1e12 else f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 18 else text[:17] + "…"
