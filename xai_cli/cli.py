"""The ``xai`` command line: parses options, calls one run function, maps errors to exit codes.

Nothing heavy is imported at module level, so ``xai --help`` answers fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from xai_cli import __version__

app = typer.Typer(
    name="xai",
    help="Explain saved machine-learning models: SHAP and LIME attributions in reports to diff and gate on.",
    epilog="Exit codes: 0 ok, 1 a gate failed, 2 usage, 3 bad input, 4 model refused as unsafe, "
    "5 partial batch.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    add_completion=False,
    pretty_exceptions_enable=False,
)

STATE: dict[str, bool] = {"debug": False}
T = TypeVar("T")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xai-cli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="XAI_DEBUG", help="Show Python tracebacks for errors.")
    ] = False,
) -> None:
    """xai-cli: point it at a model file and data, get PNG and JSON reports.

    Exit codes: 0 ok, 1 a gate failed, 2 usage, 3 bad input, 4 model refused as unsafe, 5 partial batch.
    """
    STATE["debug"] = debug


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip() + "\n")
    sys.stderr.flush()


def guarded(action: Callable[[], T]) -> T:
    """Run a command body; turn our errors into one line on stderr and the documented exit code."""
    from xai_cli.errors import EXIT_BAD_INPUT, XaiError

    try:
        return action()
    except XaiError as exc:
        if STATE["debug"]:
            raise
        _err(f"error: {exc}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _err("interrupted: no report was written")
        raise typer.Exit(130) from None
    except MemoryError:
        if STATE["debug"]:
            raise
        _err("error: out of memory; explain fewer --rows or use a smaller --background")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except Exception as exc:
        if STATE["debug"]:
            raise
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        _err(f"error: {type(exc).__name__}: {first_line} (rerun with --debug for the traceback)")
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _trust_from_env(flag: bool) -> bool:
    return flag or os.environ.get("XAI_TRUST_MODEL", "").strip().lower() in ("1", "true", "yes")


@app.command()
def explain(
    model: Annotated[Path, typer.Argument(help="Model file: .joblib, .pkl or .skops (scikit-learn).")],
    data: Annotated[Path, typer.Argument(help="Rows to explain: a CSV or Parquet file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("xai-report"),
    method: Annotated[str, typer.Option(help="shap or lime.")] = "shap",
    rows: Annotated[
        str | None,
        typer.Option(help="0-based data rows: 'A:B' (end exclusive), 'A,B,C' or 'all'. Default 0:100."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="Class to explain (name or index). Default: the positive class of a binary classifier, "
            "each row's predicted class otherwise."
        ),
    ] = None,
    background: Annotated[
        str,
        typer.Option(help="N rows drawn from DATA with the seed, or a CSV/Parquet file of background rows."),
    ] = "100",
    algorithm: Annotated[
        str, typer.Option(help="SHAP algorithm: auto, tree, linear, exact or permutation.")
    ] = "auto",
    output: Annotated[
        str,
        typer.Option(help="auto (probabilities for classifiers), probability, or raw (margins / log-odds)."),
    ] = "auto",
    permutations: Annotated[
        int, typer.Option(min=2, help="Permutation SHAP: sampled orders per row (in antithetic pairs).")
    ] = 64,
    num_samples: Annotated[int, typer.Option(help="LIME: perturbed samples per row.")] = 5000,
    num_features: Annotated[
        int | None, typer.Option(min=1, help="LIME: columns in each local model (default: all).")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="A column of DATA to drop (the label), so it is not taken as input.")
    ] = None,
    max_plots: Annotated[int, typer.Option(min=0, help="Per-row plots to draw.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed for every random choice; same seed, same report.")] = 0,
    trust_model: Annotated[
        bool,
        typer.Option(
            "--trust-model",
            help="Load pickles without the allow-list: only for files you trust.",
            envvar="XAI_TRUST_MODEL",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report JSON on stdout, nothing else.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes or progress on stderr.")] = False,
) -> None:
    """Attribute predictions to input columns with SHAP or LIME; write explain.json and PNGs to --out.

    Example: [bold]xai explain sample_models/credit_pipeline.joblib sample_data/credit.csv[/bold]
    """
    from xai_cli.run.explain import ExplainArgs, run_explain

    args = ExplainArgs(
        model=model,
        data=data,
        out=out,
        method=method,
        rows=rows,
        target=target,
        background=background,
        algorithm=algorithm,
        output=output,
        permutations=permutations,
        num_samples=num_samples,
        num_features=num_features,
        label_column=label_column,
        max_plots=max_plots,
        seed=seed,
        trust_model=_trust_from_env(trust_model),
    )
    note = (lambda _: None) if quiet else (lambda text: _err(f"note: {text}"))
    outcome = guarded(
        lambda: _with_status(f"explaining with {method}", quiet, lambda: run_explain(args, note))
    )
    if json_output:
        from xai_cli.reports.json_report import dumps

        sys.stdout.write(dumps(outcome.report))
        return
    from xai_cli.reports.tables import print_explain_summary

    print_explain_summary(outcome.report, outcome.out_dir, outcome.files)


def _with_status(text: str, quiet: bool, action: Callable[[], T]) -> T:
    """A spinner on stderr while ``action`` runs, only on a terminal and without --quiet."""
    if quiet or not sys.stderr.isatty():
        return action()
    from rich.console import Console

    with Console(stderr=True).status(text):
        return action()


@app.command()
def attention(
    model: Annotated[
        Path,
        typer.Argument(help="Image model: .keras/.h5, PyTorch (.pt TorchScript, .pt2, state_dict), .onnx."),
    ],
    images: Annotated[
        Path, typer.Argument(help="An image file, or a folder of them (searched recursively).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("xai-report"),
    method: Annotated[
        str | None,
        typer.Option(
            help="gradcam, gradcam++, saliency, integrated-gradients, smoothgrad, occlusion or rollout. "
            "Default: gradcam where the model has convolutions and gradients, else occlusion."
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Class to explain (name or index). Default: each image's prediction.")
    ] = None,
    classes: Annotated[
        Path | None, typer.Option(help="Class names: one per line, or a JSON list (overrides the model's).")
    ] = None,
    layer: Annotated[
        str | None, typer.Option(help="gradcam/gradcam++: the layer (default: the last convolution).")
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(help="Resize images to HxW (default: the model's input size, if it fixes one)."),
    ] = None,
    mean: Annotated[
        str | None, typer.Option(help="Per-channel mean subtracted from 0..1 pixels, e.g. 0.485,0.456,0.406.")
    ] = None,
    std: Annotated[str | None, typer.Option(help="Per-channel standard deviation to divide by.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Model inputs per forward pass.")] = 32,
    steps: Annotated[int, typer.Option(min=2, help="integrated-gradients: steps along the path.")] = 32,
    baseline: Annotated[
        str, typer.Option(help="integrated-gradients: black or blurred starting image.")
    ] = "black",
    samples: Annotated[int, typer.Option(min=1, help="smoothgrad: noisy copies per image.")] = 16,
    noise: Annotated[
        float, typer.Option(min=0.0, help="smoothgrad: noise std as a fraction of the input range.")
    ] = 0.15,
    window: Annotated[
        int | None, typer.Option(min=1, help="occlusion: window side in pixels (default 1/8 of the image).")
    ] = None,
    stride: Annotated[
        int | None, typer.Option(min=1, help="occlusion: step in pixels (default half the window).")
    ] = None,
    faithfulness_steps: Annotated[
        int, typer.Option(min=0, help="Stages of the deletion/insertion curves; 0 skips them.")
    ] = 16,
    save_maps: Annotated[bool, typer.Option("--save-maps", help="Also write each raw map as .npy.")] = False,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    arch: Annotated[
        str | None,
        typer.Option(help="PyTorch state_dict files: package.module:factory that builds the network."),
    ] = None,
    code: Annotated[
        Path | None,
        typer.Option(
            help="Your .py file defining the model's classes (custom Keras layers, pickled modules)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for every random choice; same seed, same report.")] = 0,
    trust_model: Annotated[
        bool,
        typer.Option(
            "--trust-model",
            help="Load pickled modules and Keras Lambda layers: only for files you trust.",
            envvar="XAI_TRUST_MODEL",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report JSON on stdout, nothing else.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes or progress on stderr.")] = False,
) -> None:
    """Attention maps for an image model: an overlay PNG per image, faithfulness scores, attention.json.

    Example: [bold]xai attention sample_models/digits_cnn.pt sample_data/digits/ --out reports/digits[/bold]
    """
    from xai_cli.errors import EXIT_PARTIAL
    from xai_cli.run.attention import AttentionArgs, run_attention

    args = AttentionArgs(
        model=model,
        images=images,
        out=out,
        method=method,
        target=target,
        classes=classes,
        layer=layer,
        size=size,
        mean=mean,
        std=std,
        batch_size=batch_size,
        steps=steps,
        baseline=baseline,
        samples=samples,
        noise=noise,
        window=window,
        stride=stride,
        faithfulness_steps=faithfulness_steps,
        save_maps=save_maps,
        device=device,
        arch=arch,
        code=code,
        seed=seed,
        trust_model=_trust_from_env(trust_model),
    )
    note = (lambda _: None) if quiet else (lambda text: _err(f"note: {text}"))
    outcome = guarded(
        lambda: _with_status(
            "computing attention maps",
            quiet,
            lambda: run_attention(args, note, lambda t: _err(f"error: {t}")),
        )
    )
    if json_output:
        from xai_cli.reports.json_report import dumps

        sys.stdout.write(dumps(outcome.report))
    else:
        from xai_cli.reports.attention import print_attention_summary

        print_attention_summary(outcome.report, outcome.out_dir, outcome.files)
    if outcome.failures:
        _err(
            f"error: {len(outcome.failures)} of {outcome.report['images']['n_images']} images could not be "
            "read (listed above and under 'failed' in attention.json); the others were written"
        )
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def schema(
    name: Annotated[str, typer.Argument(help="Report kind: explain or attention.")] = "explain",
) -> None:
    """Print the JSON Schema of a report (explain.json, attention.json)."""
    from xai_cli.errors import UsageError
    from xai_cli.reports.json_report import SCHEMA_NAMES, schema_text

    def show() -> Any:
        if name not in SCHEMA_NAMES:
            raise UsageError(f"no schema named {name!r}; known: {', '.join(SCHEMA_NAMES)}")
        sys.stdout.write(schema_text(name))

    guarded(show)


def main() -> None:
    """Console-script entry point."""
    app()
