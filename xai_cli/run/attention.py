"""``xai attention``: load an image model, stream the images through it in batches, write the maps.

Memory stays flat over a folder of any size: images are read ``--batch-size`` at a time, and each
image's overlay (and map) is written to the staging folder as soon as it is done; only the small JSON
entries are kept until ``attention.json`` is written last.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xai_cli.errors import InputError, UsageError
from xai_cli.models.sandbox import SandboxLimits, sandboxed

# report.html embeds the overlays of the first images only: a page of thousands of embedded PNGs would
# not open; the others are beside it in --out.
MAX_HTML_OVERLAYS = 50
SCORES = {"logits": "logit", "probabilities": "probability", "sigmoid": "probability", "values": "value"}


@dataclass
class AttentionArgs:
    """Everything ``xai attention`` was asked to do, as plain values."""

    model: Path
    images: Path
    out: Path = Path("xai-report")
    method: str | None = None
    target: str | None = None
    classes: Path | None = None
    layer: str | None = None
    size: str | None = None
    mean: str | None = None
    std: str | None = None
    batch_size: int = 32
    steps: int = 32
    baseline: str = "black"
    samples: int = 16
    noise: float = 0.15
    window: int | None = None
    stride: int | None = None
    faithfulness_steps: int = 16
    save_maps: bool = False
    device: str = "auto"
    arch: str | None = None
    code: Path | None = None
    seed: int = 0
    trust_model: bool = False
    resume: bool = False
    html: bool = False
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    def canonical_argv(self, method: str, layer: str | None) -> list[str]:
        """The command line that reproduces this run (output location and verbosity left out)."""
        argv = ["attention", str(self.model), str(self.images), "--method", method]
        optional: list[tuple[str, object]] = [
            ("--layer", layer),
            ("--target", self.target),
            ("--classes", self.classes),
            ("--size", self.size),
            ("--mean", self.mean),
            ("--std", self.std),
            ("--arch", self.arch),
            ("--code", self.code),
        ]
        argv += [item for name, value in optional if value is not None for item in (name, str(value))]
        if method == "integrated-gradients":
            argv += ["--steps", str(self.steps), "--baseline", self.baseline]
        if method == "smoothgrad":
            argv += ["--samples", str(self.samples), "--noise", str(self.noise)]
        if method == "occlusion":
            argv += [
                item
                for name, value in (("--window", self.window), ("--stride", self.stride))
                if value is not None
                for item in (name, str(value))
            ]
        argv += ["--batch-size", str(self.batch_size), "--faithfulness-steps", str(self.faithfulness_steps)]
        argv += ["--device", self.device, "--seed", str(self.seed)]
        return argv


@dataclass
class AttentionOutcome:
    """What the CLI shows after a run."""

    report: dict[str, Any]
    out_dir: Path
    files: list[str]
    failures: list[dict[str, str]] = field(default_factory=list)


@sandboxed
def run_attention(
    args: AttentionArgs,
    on_note: Callable[[str], None] = lambda _: None,
    on_error: Callable[[str], None] = lambda _: None,
) -> AttentionOutcome:
    """Explain every image under ``args.images``; write overlays, maps and attention.json to ``args.out``."""
    from xai_cli.data.images import list_images, parse_size, preprocessing_for
    from xai_cli.methods.attention import BASELINES, AttentionOptions, choose_method
    from xai_cli.methods.cam import default_layer
    from xai_cli.models.loader import load_model

    _check_numbers(args)
    if args.baseline not in BASELINES:
        raise UsageError(f"--baseline {args.baseline}: expected one of {', '.join(BASELINES)}")
    size = parse_size(args.size)
    files = list_images(args.images)
    class_names = read_classes(args.classes) if args.classes is not None else None
    model = load_model(args.model, trust=args.trust_model, arch=args.arch, code=args.code, device=args.device)
    if model.input != "image":
        raise UsageError(f"{args.model}: a model of table rows; use 'xai explain MODEL DATA' for it")
    network = model.network
    prep = preprocessing_for(network.input_spec, size, args.mean, args.std)
    method = choose_method(network, args.method)
    layer = None
    if method in ("gradcam", "gradcam++"):
        layer = args.layer or default_layer(network)
    elif args.layer is not None:
        raise UsageError(f"--layer applies to gradcam and gradcam++, not {method}")
    notes: list[str] = []
    batch_size = args.batch_size
    if network.fixed_batch == 1 and batch_size > 1:
        batch_size = 1
        notes.append(
            "the exported program takes one image at a time (export with a dynamic batch to go faster)"
        )
    options = AttentionOptions(
        method=method,
        layer=layer,
        steps=args.steps,
        baseline=args.baseline,
        samples=args.samples,
        noise=args.noise,
        window=args.window,
        stride=args.stride,
        batch_size=batch_size,
        faithfulness_steps=args.faithfulness_steps,
        seed=args.seed,
    )
    if files.ignored:
        shown = ", ".join(p.name for p in files.ignored[:5]) + (" ..." if len(files.ignored) > 5 else "")
        notes.append(
            f"{args.images}: skipped {len(files.ignored)} file(s) that are not images by name: {shown}"
        )
    if prep.size is None:
        notes.append("the model fixes no input size and --size was not given: each image keeps its own size")
    if method == "rollout" and args.target is not None:
        notes.append("rollout is class-agnostic: --target does not change its maps")
    for note in notes:
        on_note(note)

    from xai_cli.reports.attention import overlay_names, write_image_outputs
    from xai_cli.reports.attention_progress import AttentionProgress, run_key_of

    names = overlay_names(files.paths, args.images if files.is_directory else None)
    run_key = run_key_of(args.canonical_argv(method, layer), model.describe()["sha256"], args.save_maps)
    progress = AttentionProgress(args.out, run_key, args.resume)
    indexed = [(index, progress.done[stem]) for index, stem in enumerate(names) if stem in progress.done]
    pending = [index for index, stem in enumerate(names) if stem not in progress.done]
    if indexed:
        on_note(
            f"--resume: {len(indexed)} of {len(names)} image(s) are complete in {args.out}; "
            "computing the rest"
        )
    failures: list[dict[str, str]] = []
    written: list[str] = [entry["overlay"] for _, entry in indexed]
    written += [entry["map"] for _, entry in indexed if entry.get("map")]
    target: int | None = None
    settled = False
    if indexed:
        # The network is calibrated on the first batch of all images, as in a run from scratch, so a
        # resumed report equals an uninterrupted one.
        target, settled = _settle_on_first_images(
            model, files.paths, options.batch_size, prep, class_names, args
        )
    try:
        for start in range(0, len(pending), options.batch_size):
            batch_indices = pending[start : start + options.batch_size]
            loaded = _read_images(files.paths, batch_indices, prep, files.is_directory, failures, on_error)
            for group in _same_shape_groups(loaded):
                batch = np.stack([image.model_input for _, image in group])
                if not settled:
                    target, settled = _settle_model(model, batch, class_names, args.target), True
                from xai_cli.methods.attention import attend

                indices = [index for index, _ in group]
                results = attend(network, batch, target, options, prep.pixel_value(0.0), indices)
                for (index, image), result in zip(group, results, strict=True):
                    entry, files_written = write_image_outputs(
                        progress.folder, names[index], image, result, model, method, layer, args.save_maps
                    )
                    progress.record(names[index], entry)
                    indexed.append((index, entry))
                    written += files_written
        if not indexed:
            raise InputError(
                f"{args.images}: none of the {len(files.paths)} image(s) could be read; first problem: "
                f"{failures[0]['error'] if failures else 'unknown'}"
            )
    except (InputError, UsageError):
        progress.abandon()
        raise
    ordered = [entry for _, entry in sorted(indexed, key=lambda pair: pair[0])]
    report = _report(args, model, method, layer, options, prep, files, ordered, failures, notes)
    if args.html:
        from xai_cli.reports.html import write_report_html

        overlays = [entry["overlay"] for entry in ordered[:MAX_HTML_OVERLAYS]]
        written.append(write_report_html(report, progress.folder, overlays, also_in=args.out))
    progress.finish(report)
    written.append("attention.json")
    return AttentionOutcome(report=report, out_dir=args.out, files=written, failures=failures)


def _settle_on_first_images(
    model: Any, paths: list[Path], batch_size: int, prep: Any, class_names: list[str] | None, args: Any
) -> tuple[int | None, bool]:
    """Settle the model on the first readable batch of all images (images read but not explained)."""
    for start in range(0, len(paths), batch_size):
        loaded = _read_images(paths, list(range(start, min(start + batch_size, len(paths)))), prep, True, [])
        groups = _same_shape_groups(loaded)
        if groups:
            batch = np.stack([image.model_input for _, image in groups[0]])
            return _settle_model(model, batch, class_names, args.target), True
    return None, False


def _check_numbers(args: AttentionArgs) -> None:
    checks = [
        (args.batch_size >= 1, "--batch-size must be at least 1"),
        (args.steps >= 2, "--steps must be at least 2"),
        (args.samples >= 1, "--samples must be at least 1"),
        (args.noise >= 0, "--noise must not be negative"),
        (args.faithfulness_steps >= 0, "--faithfulness-steps must not be negative (0 skips the curves)"),
        (args.window is None or args.window >= 1, "--window must be at least 1 pixel"),
        (args.stride is None or args.stride >= 1, "--stride must be at least 1 pixel"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    if args.faithfulness_steps == 1:
        raise UsageError("--faithfulness-steps must be 0 (skip) or at least 2")


def read_classes(path: Path) -> list[str]:
    """Class names from a file: a JSON list, or one name per line."""
    if not path.is_file():
        raise InputError(f"--classes {path}: no such file")
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if text.startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"--classes {path}: not a valid JSON list ({exc})") from exc
        if not isinstance(names, list):
            raise InputError(f"--classes {path}: expected a JSON list of names")
        return [str(n) for n in names]
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise InputError(f"--classes {path}: the file is empty; expected one class name per line")
    return names


def _read_images(
    paths: list[Path],
    indices: list[int],
    prep: Any,
    is_directory: bool,
    failures: list[dict[str, str]],
    on_error: Callable[[str], None] = lambda _: None,
) -> list[tuple[int, Any]]:
    from xai_cli.data.images import read_image

    loaded = []
    for index in indices:
        try:
            loaded.append((index, read_image(paths[index], prep)))
        except InputError as exc:
            if not is_directory:
                raise
            failures.append({"image": str(paths[index]), "error": str(exc)})
            on_error(str(exc))
    return loaded


def _same_shape_groups(loaded: list[tuple[int, Any]]) -> list[list[tuple[int, Any]]]:
    groups: dict[tuple[int, ...], list[tuple[int, Any]]] = {}
    for index, image in loaded:
        groups.setdefault(tuple(image.model_input.shape), []).append((index, image))
    return list(groups.values())


def _settle_model(
    model: Any, batch: np.ndarray, class_names: list[str] | None, target: str | None
) -> int | None:
    """Calibrate the network on the first batch; return ``--target`` as a class index (None: predicted)."""
    from xai_cli.methods.targets import class_index
    from xai_cli.models.deep import finish_image_model

    try:
        finish_image_model(model, batch, class_names)
    except (InputError, UsageError):
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{model.path}: the model cannot run on these images of shape {tuple(batch.shape[1:])} "
            f"({text}); check --size and the model's input"
        ) from exc
    if target is None:
        return None
    if model.kind == "regressor":
        raise UsageError("--target: this model has one unbounded output, not classes")
    return class_index(model, target)


def _report(
    args: AttentionArgs,
    model: Any,
    method: str,
    layer: str | None,
    options: Any,
    prep: Any,
    files: Any,
    entries: list[dict[str, Any]],
    failures: list[dict[str, str]],
    notes: list[str],
) -> dict[str, Any]:
    from xai_cli.reports.attention import summary
    from xai_cli.reports.json_report import report_header

    header = report_header("attention", args.canonical_argv(method, layer), args.seed, model)
    height, width = prep.size if prep.size is not None else (None, None)
    settings = {
        **options.settings(height, width),
        "score": SCORES[model.network.kind_of_output()],
        "target": args.target,
        "preprocessing": prep.describe(),
    }
    return {
        **header,
        "images": {
            "path": str(args.images),
            "n_images": len(files.paths),
            "n_explained": len(entries),
            "n_failed": len(failures),
            "ignored_files": [str(p) for p in files.ignored],
        },
        "method": method,
        "settings": settings,
        "results": entries,
        "failed": failures,
        "summary": summary(entries),
        "notes": notes,
    }


def insertion_auc_gate(report: dict[str, Any], minimum: float) -> Any:
    """``--min-insertion-auc F``: the mean insertion AUC over the images must be at least ``F``."""
    from xai_cli.gates import minimum_gate

    mean = report["summary"].get("mean_insertion_auc")
    what = f"mean insertion AUC over {report['summary']['n_scored']} image(s)"
    if mean is None:
        what = "mean insertion AUC (--faithfulness-steps 0 skips it)"
    return minimum_gate("min-insertion-auc", mean, minimum, what)
