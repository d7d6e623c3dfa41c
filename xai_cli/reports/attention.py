"""Writing attention results: one overlay PNG (and optional .npy map) per image, the JSON entries,
the summary, and the table on the terminal."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from xai_cli.methods.attention import ImageAttention
from xai_cli.models.base import Model, to_json_scalar
from xai_cli.reports.png import save_png
from xai_cli.reports.writer import write_staged

MAX_ROWS_SHOWN = 10


def overlay_names(paths: list[Path], folder: Path | None) -> list[str]:
    """A file-name stem per image, unique within the run: its path under the folder, joined by '__'.

    Two images that differ only by suffix (cat.png, cat.jpg) keep the suffix in their stems.
    """
    relative = [p.relative_to(folder) if folder is not None else Path(p.name) for p in paths]
    stems = ["__".join(r.with_suffix("").parts) for r in relative]
    seen: dict[str, int] = {}
    for stem in stems:
        seen[stem] = seen.get(stem, 0) + 1
    return [
        stem if seen[stem] == 1 else "__".join(r.parts).replace(".", "_")
        for stem, r in zip(stems, relative, strict=True)
    ]


def peak_in_original(
    peak: tuple[int, int], model_size: tuple[int, int], original_size: tuple[int, int]
) -> dict:
    """The map's peak (row, col at the model's input size) as {x, y} pixels of the original image."""
    row, col = peak
    scale_y = original_size[0] / model_size[0]
    scale_x = original_size[1] / model_size[1]
    y = min(int((row + 0.5) * scale_y), original_size[0] - 1)
    x = min(int((col + 0.5) * scale_x), original_size[1] - 1)
    return {"x": x, "y": y}


def write_image_outputs(
    folder: Path,
    stem: str,
    image: Any,
    result: ImageAttention,
    model: Model,
    method: str,
    layer: str | None,
    save_map: bool,
) -> tuple[dict[str, Any], list[str]]:
    """Write the overlay (and the map) of one image into ``folder``; return its JSON entry and file names."""
    classes = model.classes or ["value"]
    prediction = to_json_scalar(classes[result.prediction])
    target = to_json_scalar(classes[result.target])
    probability = float(result.probabilities[result.prediction])
    peak = peak_in_original(result.peak, result.saliency.shape, image.original_size)
    overlay = f"{stem}.overlay.png"
    label = "value" if model.kind == "regressor" else "P"
    title = (
        f"{prediction} ({probability:.1%})" if model.kind == "classifier" else f"{label} = {probability:.4g}"
    )
    title += f"\n{method} for {target}" + (f" at {layer}" if layer else "")
    overlay_png(image.original, result.saliency, peak, title, folder / overlay)
    entry: dict[str, Any] = {
        "image": str(image.path),
        "prediction": prediction,
        "probability": round(probability, 6),
        "target": target,
        "target_probability": round(float(result.probabilities[result.target]), 6),
        "method": method,
        "layer": layer,
        "peak": peak,
        "overlay": overlay,
    }
    files = [overlay]
    if save_map:
        name = f"{stem}.map.npy"
        buffer = io.BytesIO()
        np.save(buffer, result.saliency.astype(np.float32), allow_pickle=False)
        write_staged(folder / name, buffer.getvalue())
        entry["map"] = name
        files.append(name)
    entry["faithfulness"] = None if result.faithfulness is None else result.faithfulness.as_dict()
    if result.convergence_delta is not None:
        entry["convergence_delta"] = round(result.convergence_delta, 6)
    return entry, files


def overlay_png(
    original: np.ndarray, saliency: np.ndarray, peak: dict[str, int], title: str, path: Path
) -> None:
    """The map (its positive part, scaled to its maximum) over the image at the image's own size.

    Colour and opacity both follow the map, so the picture stays visible where the map is low.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure
    from PIL import Image

    height, width = original.shape[:2]
    resized = np.asarray(
        Image.fromarray(saliency.astype(np.float32), mode="F").resize(
            (width, height), Image.Resampling.BILINEAR
        )
    )
    positive = np.clip(resized, 0.0, None)
    top = float(positive.max())
    heat = positive / top if top > 0 else positive
    # The picture's longer side is 3.6 inches; 0.1 inch margins, 0.55 inch above for the title.
    picture_w, picture_h = 3.6 * width / max(height, width), 3.6 * height / max(height, width)
    figure_w, figure_h = picture_w + 0.2, picture_h + 0.65
    figure = Figure(figsize=(figure_w, figure_h), dpi=100)
    axes = figure.add_axes((0.1 / figure_w, 0.1 / figure_h, picture_w / figure_w, picture_h / figure_h))
    if original.shape[2] == 1:
        axes.imshow(original[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axes.imshow(np.clip(original[..., :3], 0.0, 1.0), interpolation="nearest")
    from matplotlib import colormaps

    coloured = colormaps["jet"](heat)
    coloured[..., 3] = 0.15 + 0.5 * heat
    axes.imshow(coloured, interpolation="bilinear")
    axes.plot([peak["x"]], [peak["y"]], marker="+", color="white", markersize=12, markeredgewidth=2)
    axes.set_axis_off()
    axes.set_title(title, fontsize=9)
    save_png(figure, path)


def summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Means of the faithfulness AUCs over the images, and how often the map beat the random ranking."""
    scored = [e["faithfulness"] for e in entries if e.get("faithfulness")]
    if not scored:
        return {"n_scored": 0}
    keys = ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc")
    means = {f"mean_{k}": round(float(np.mean([s[k] for s in scored])), 6) for k in keys}
    beats = [
        s["insertion_auc"] - s["deletion_auc"] > s["random_insertion_auc"] - s["random_deletion_auc"]
        for s in scored
    ]
    return {"n_scored": len(scored), **means, "share_beating_random": round(float(np.mean(beats)), 6)}


def print_attention_summary(report: dict[str, Any], out_dir: Path, files: list[str]) -> None:
    """Per image: prediction, target, peak and AUCs; then the means and where the report went."""
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False)  # names from files print as they are: '[red]' stays text
    table = Table(title=f"{report['method']}: attention per image", title_justify="left")
    for name, justify in (
        ("image", "left"),
        ("prediction", "left"),
        ("target", "left"),
        ("peak x,y", "right"),
        ("deletion AUC", "right"),
        ("insertion AUC", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for entry in report["results"][:MAX_ROWS_SHOWN]:
        faith = entry["faithfulness"] or {}
        table.add_row(
            Path(entry["image"]).name,
            f"{entry['prediction']} ({entry['probability']:.1%})",
            str(entry["target"]),
            f"{entry['peak']['x']},{entry['peak']['y']}",
            _auc(faith, "deletion_auc"),
            _auc(faith, "insertion_auc"),
        )
    console.print(table)
    hidden = len(report["results"]) - MAX_ROWS_SHOWN
    if hidden > 0:
        console.print(f"... {hidden} more images in attention.json")
    totals = report["summary"]
    if totals.get("n_scored"):
        console.print(
            f"mean deletion AUC {totals['mean_deletion_auc']:.3f} "
            f"(random {totals['mean_random_deletion_auc']:.3f}, lower is better); "
            f"mean insertion AUC {totals['mean_insertion_auc']:.3f} "
            f"(random {totals['mean_random_insertion_auc']:.3f}, higher is better)"
        )
    overlays = sum(name.endswith(".overlay.png") for name in files)
    console.print(f"report: {out_dir}/attention.json and {overlays} overlay PNG(s)")


def _auc(faith: dict[str, float], key: str) -> str:
    return f"{faith[key]:.3f}" if key in faith else "-"
