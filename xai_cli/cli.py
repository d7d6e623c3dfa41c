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
from xai_cli.options import DEFAULT_CPU_SECONDS, MaxCpuSecondsOption, MaxMemoryOption

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
    sys.stderr.write(_one_line(message.rstrip()) + "\n")
    sys.stderr.flush()


def _one_line(text: str) -> str:
    """``text`` with line breaks and every other character a terminal acts on (C0/C1 controls, DEL,
    ESC, bidi overrides, zero-width characters) shown as ``\\xNN``/``\\uNNNN``: whatever a hostile
    file puts in a name or value, an error stays one line and cannot drive the terminal."""
    from xai_cli.textsafe import terminal_safe

    return terminal_safe(text)


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


def _sandbox_limits(max_memory: str | None, max_cpu_seconds: int) -> Any:
    from xai_cli.models.sandbox.limits import SandboxLimits, parse_memory

    memory = guarded(lambda: parse_memory(max_memory))
    return SandboxLimits(max_memory=memory, max_cpu_seconds=max_cpu_seconds)


TRUST_VALUES = ("1", "true", "yes")
DISTRUST_VALUES = ("", "0", "false", "no")


def _within_limits(values: dict[str, int | None], action: Callable[[], T]) -> T:
    """Run ``action`` with the size limits named (``xai_cli.limits``) set from options, where given."""
    from xai_cli import limits

    with limits.limits_override({getattr(limits, name): value for name, value in values.items()}):
        return action()


def _trust_from_env(flag: bool) -> bool:
    """``--trust-model``, or XAI_TRUST_MODEL set to exactly 1, true or yes (any case). Anything else
    means not trusted; a value that is none of those nor 0, false, no or empty gets one note."""
    value = os.environ.get("XAI_TRUST_MODEL", "").lower()
    if value not in TRUST_VALUES and value not in DISTRUST_VALUES:
        _err(
            f"note: XAI_TRUST_MODEL={os.environ['XAI_TRUST_MODEL']!r} ignored: only 1, true or yes trust "
            "the model; it is loaded as untrusted"
        )
    return flag or value in TRUST_VALUES


@app.command()
def explain(
    model: Annotated[Path, typer.Argument(help="Model file: .joblib, .pkl or .skops (scikit-learn).")],
    data: Annotated[
        Path, typer.Argument(help="Rows to explain: a CSV or Parquet file, or a directory of them (a batch).")
    ],
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
        int,
        typer.Option(
            min=2,
            help="Permutation SHAP: at most this many orders sampled per row, spread evenly over the "
            "background rows in antithetic pairs; each costs (columns - 1) model rows.",
        ),
    ] = 1024,
    tolerance: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Permutation SHAP: a row stops sampling once its relative standard error (mean standard "
            "error over mean |attribution|) is at most this; 0 always uses the whole --permutations budget.",
        ),
    ] = 0.01,
    num_samples: Annotated[int, typer.Option(help="LIME: perturbed samples per row.")] = 5000,
    num_features: Annotated[
        int | None, typer.Option(min=1, help="LIME: columns in each local model (default: all).")
    ] = None,
    lime_engine: Annotated[
        str,
        typer.Option(
            help="LIME: 'fast' (lime's algorithm batched over rows) or 'lime' (lime's explain_instance row "
            "by row); the same seed gives the same explanation with either."
        ),
    ] = "fast",
    label_column: Annotated[
        str | None, typer.Option(help="A column of DATA to drop (the label), so it is not taken as input.")
    ] = None,
    max_plots: Annotated[int, typer.Option(min=0, help="Per-row plots to draw.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed for every random choice; same seed, same report.")] = 0,
    trust_model: Annotated[
        bool,
        typer.Option(
            "--trust-model",
            help="Load pickles without the allow-list: only for files you trust. "
            "XAI_TRUST_MODEL=1 (or true, yes) does the same.",
        ),
    ] = False,
    max_memory: MaxMemoryOption = None,
    max_cpu_seconds: MaxCpuSecondsOption = DEFAULT_CPU_SECONDS,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report JSON on stdout, nothing else (= --format json).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes or progress on stderr.")] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Stop the work (loading, explaining, writing) after this many seconds; exit 3, no report.",
        ),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option("--format", help="stdout summary: table (default), json (the report) or markdown."),
    ] = None,
    html: Annotated[bool, typer.Option("--html", help="Also write report.html (self-contained).")] = False,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            min=1, help="Stream DATA in chunks of N rows (bounded memory); rows go to rows.parquet."
        ),
    ] = None,
    glob: Annotated[
        str | None, typer.Option(help="Directory DATA: the inputs to take, e.g. '*.csv' or '**/*.parquet'.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip inputs whose report in --out is complete.")
    ] = False,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Directory DATA: inputs explained in parallel (default 1).")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="Directory DATA: local (default), dask://HOST:PORT or ray://HOST:PORT."),
    ] = None,
    fail_if_top: Annotated[
        int | None,
        typer.Option(min=1, help="Gate: exit 1 if a column of --features is in the global top K."),
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="Columns for --fail-if-top, comma-separated (e.g. sex,race).")
    ] = None,
) -> None:
    """Attribute predictions to input columns with SHAP or LIME; write explain.json and PNGs to --out.

    Example: [bold]xai explain sample_models/credit_pipeline.joblib sample_data/credit.csv[/bold]

    DATA may be a directory: one report per input under --out, plus index.json and index.html.
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
        tolerance=tolerance,
        num_samples=num_samples,
        num_features=num_features,
        lime_engine=lime_engine,
        label_column=label_column,
        max_plots=max_plots,
        seed=seed,
        trust_model=_trust_from_env(trust_model),
        limits=_sandbox_limits(max_memory, max_cpu_seconds),
        timeout=timeout,
        chunk_size=chunk_size,
        html=html,
    )
    fmt = guarded(lambda: _summary_format(output_format, json_output))
    gate = guarded(lambda: _top_k_gate(fail_if_top, features))
    note = (lambda _: None) if quiet else (lambda text: _err(f"note: {text}"))
    if data.is_dir():
        _run_directory("explain", args, data, out, glob, resume, jobs, backend, gate, fmt, quiet, note)
        return
    guarded(lambda: _single_input_options(glob, jobs, backend))
    from xai_cli.progress import progress_bar

    def explain_file() -> Any:
        if resume and (out / "explain.json").is_file():
            return _existing_explain(out, note)
        if chunk_size is not None:
            with progress_bar("explaining", "rows", not quiet) as update:
                return run_explain(args, note, update)
        return _with_status(
            f"explaining with {method}", quiet, lambda: run_explain(args, note, plot_helper=True)
        )

    outcome = guarded(explain_file)
    from xai_cli.reports.summary import print_summary

    print_summary("explain", outcome.report, fmt, out_dir=outcome.out_dir, files=outcome.files)
    if gate is not None:
        from xai_cli.gates import enforce
        from xai_cli.run.explain_batch import explain_gates

        guarded(lambda: enforce(explain_gates(outcome.report, gate)))


def _summary_format(output_format: str | None, json_output: bool) -> str:
    """``--format`` (table, json, markdown), with ``--json`` as an alias of ``--format json``."""
    from xai_cli.errors import UsageError
    from xai_cli.reports.summary import FORMATS

    if output_format is not None and output_format not in FORMATS:
        raise UsageError(f"--format {output_format}: expected one of {', '.join(FORMATS)}")
    if json_output and output_format not in (None, "json"):
        raise UsageError(f"--json contradicts --format {output_format}; pass one of them")
    return "json" if json_output else (output_format or "table")


def _top_k_gate(k: int | None, features: str | None) -> Any:
    """``--fail-if-top K --features a,b`` as gate arguments (None when not asked for)."""
    from xai_cli.errors import UsageError

    if k is None and features is None:
        return None
    if k is None or features is None:
        raise UsageError("--fail-if-top K and --features a,b go together")
    from xai_cli.gates import parse_feature_list
    from xai_cli.run.explain_batch import TopKGateArgs

    return TopKGateArgs(k=k, features=tuple(parse_feature_list(features)))


def _single_input_options(glob: str | None, jobs: int | None, backend: str | None) -> None:
    from xai_cli.errors import UsageError

    for name, value in (("--glob", glob), ("--jobs", jobs), ("--backend", backend)):
        if value is not None:
            raise UsageError(f"{name} applies when DATA is a directory of inputs")


def _existing_explain(out: Path, note: Callable[[str], None]) -> Any:
    """``--resume`` on one file whose report is complete: reuse it instead of explaining again."""
    import json

    from xai_cli.run.explain import ExplainOutcome

    note(f"{out}/explain.json is complete; --resume keeps it")
    report = json.loads((out / "explain.json").read_text(encoding="utf-8"))
    files = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    return ExplainOutcome(report=report, out_dir=out, files=files)


def _existing_report(out: Path, report_file: str, note: Callable[[str], None]) -> Any:
    """``--resume`` on one file: the complete report already in ``out`` (None when there is none)."""
    import json
    from types import SimpleNamespace

    path = out / report_file
    if not path.is_file():
        return None
    note(f"{path} is complete; --resume keeps it")
    report = json.loads(path.read_text(encoding="utf-8"))
    files = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    return SimpleNamespace(report=report, out_dir=out, files=files)


def _run_directory(
    command: str,
    args: Any,
    data_dir: Path,
    out: Path,
    glob: str | None,
    resume: bool,
    jobs: int | None,
    backend: str | None,
    gate: Any,
    fmt: str,
    quiet: bool,
    note: Callable[[str], None],
) -> None:
    """``xai COMMAND MODEL DIR``: one report per input, index.json/index.html, exit 5 if some failed.

    Any command with an adapter in ``xai_cli.batch.adapters`` can call this when its DATA is a directory.
    """
    from xai_cli.batch import BatchOptions, run_batch
    from xai_cli.progress import progress_bar

    options = BatchOptions(glob=glob, resume=resume, jobs=jobs, backend=backend, gate_args=gate)

    def batch() -> Any:
        with progress_bar(f"{command}: inputs", "inputs", not quiet) as update:
            return run_batch(command, args, data_dir, out, options, note, update)

    outcome = guarded(batch)
    _finish_batch(outcome, fmt)


def _finish_batch(outcome: Any, fmt: str) -> None:
    """Print the batch summary, then exit 130 (interrupted), 5 (some inputs failed) or 1 (a gate failed)."""
    from xai_cli.errors import GateFailed, PartialBatch
    from xai_cli.reports.summary import print_summary

    print_summary("batch", outcome.index, fmt, out_dir=outcome.out_root)
    counts = outcome.index["counts"]
    done = counts["ok"] + counts["skipped"]
    if outcome.interrupted:
        _err(
            f"interrupted: {done} of {len(outcome.index['inputs'])} inputs have a complete report "
            f"({counts['ok']} new), {counts['failed']} failed, {counts['pending']} not done; "
            f"{outcome.out_root}/index.json lists them; rerun with --resume to finish"
        )
        raise typer.Exit(130)

    def verdict() -> None:
        if counts["failed"]:
            failed = [entry["name"] for entry in outcome.index["inputs"] if entry["status"] == "failed"]
            raise PartialBatch(
                f"{counts['failed']} of {len(outcome.index['inputs'])} inputs failed ({', '.join(failed[:5])}"
                f"{' ...' if len(failed) > 5 else ''}); the others were written; see "
                f"{outcome.out_root}/index.json"
            )
        if outcome.gate_failures:
            raise GateFailed("gate failed: " + "; ".join(outcome.gate_failures))

    guarded(verdict)


def _with_status(text: str, quiet: bool, action: Callable[[], T]) -> T:
    """A spinner on stderr while ``action`` runs, only on a terminal and without --quiet."""
    if quiet or not sys.stderr.isatty():
        return action()
    from rich.console import Console

    with Console(stderr=True).status(text):
        return action()


@app.command()
def diff(
    base: Annotated[Path, typer.Argument(help="The baseline: explain.json or index.json (or its folder).")],
    new: Annotated[Path, typer.Argument(help="The report to check against it, of the same kind.")],
    top_k: Annotated[int, typer.Option(min=1, help="How many top columns to compare as a set.")] = 5,
    min_rank_corr: Annotated[
        float, typer.Option(help="Lowest Spearman rank correlation of global importance that passes.")
    ] = 0.9,
    max_topk_changes: Annotated[
        int, typer.Option(min=0, help="Most columns that may leave the top K and still pass.")
    ] = 0,
    output_format: Annotated[
        str | None, typer.Option("--format", help="table (default), json or markdown.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Compare two explain reports or batch indexes: exit 0 within thresholds, 1 drift, 3 not comparable.

    Example: [bold]xai diff baseline/explain.json reports/explain.json --top-k 5[/bold]
    """
    from xai_cli.run.diff import DiffArgs, run_diff

    fmt = guarded(lambda: _summary_format(output_format, json_output))
    args = DiffArgs(
        base=base, new=new, top_k=top_k, min_rank_corr=min_rank_corr, max_topk_changes=max_topk_changes
    )
    outcome = guarded(lambda: run_diff(args))
    from xai_cli.reports.summary import print_summary

    print_summary("diff", outcome.document, fmt)

    def verdict() -> None:
        if not outcome.passed:
            from xai_cli.errors import GateFailed

            raise GateFailed("drift beyond thresholds: " + " | ".join(outcome.failures))

    guarded(verdict)


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
    max_pixels: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Refuse (exit 3) an image whose header declares more pixels than this, before decoding "
            "it. Default 64000000 (8192x8192), or XAI_MAX_PIXELS.",
        ),
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
            help="Load pickled modules and Keras Lambda layers: only for files you trust. "
            "XAI_TRUST_MODEL=1 (or true, yes) does the same.",
        ),
    ] = False,
    max_memory: MaxMemoryOption = None,
    max_cpu_seconds: MaxCpuSecondsOption = DEFAULT_CPU_SECONDS,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report JSON on stdout, nothing else (= --format json).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes or progress on stderr.")] = False,
    output_format: Annotated[
        str | None,
        typer.Option("--format", help="stdout summary: table (default), json (the report) or markdown."),
    ] = None,
    html: Annotated[
        bool, typer.Option("--html", help="Also write report.html (the first 50 overlays embedded).")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Keep the images whose overlay and entry an earlier (even killed) run into --out completed, "
            "with the same options and model; compute only the rest.",
        ),
    ] = False,
    min_insertion_auc: Annotated[
        float | None,
        typer.Option(help="Gate: exit 1 (after writing the report) if the mean insertion AUC is below F."),
    ] = None,
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
        limits=_sandbox_limits(max_memory, max_cpu_seconds),
        resume=resume,
        html=html,
    )
    fmt = guarded(lambda: _summary_format(output_format, json_output))
    note = (lambda _: None) if quiet else (lambda text: _err(f"note: {text}"))
    outcome = guarded(
        lambda: _with_status(
            "computing attention maps",
            quiet,
            lambda: _within_limits(
                {"MAX_PIXELS": max_pixels}, lambda: run_attention(args, note, lambda t: _err(f"error: {t}"))
            ),
        )
    )
    from xai_cli.reports.summary import print_summary

    print_summary("attention", outcome.report, fmt, out_dir=outcome.out_dir, files=outcome.files)
    if outcome.failures:
        _err(
            f"error: {len(outcome.failures)} of {outcome.report['images']['n_images']} images could not be "
            "read (listed above and under 'failed' in attention.json); the others were written"
        )
        raise typer.Exit(EXIT_PARTIAL)
    if min_insertion_auc is not None:
        from xai_cli.gates import enforce
        from xai_cli.run.attention import insertion_auc_gate

        guarded(lambda: enforce([insertion_auc_gate(outcome.report, min_insertion_auc)]))


@app.command()
def schema(
    name: Annotated[
        str,
        typer.Argument(
            help="Report kind: explain, rules, counterfactual, scan, attention, index (a batch) or diff."
        ),
    ] = "explain",
) -> None:
    """Print the JSON Schema of a report (explain.json, rules.json, ..., a batch's index.json, diff)."""
    from xai_cli.errors import UsageError
    from xai_cli.reports.json_report import SCHEMA_NAMES, schema_text

    def show() -> Any:
        if name not in SCHEMA_NAMES:
            raise UsageError(f"no schema named {name!r}; known: {', '.join(SCHEMA_NAMES)}")
        sys.stdout.write(schema_text(name))

    guarded(show)


@app.command()
def rules(
    model: Annotated[Path, typer.Argument(help="Model file: .joblib, .pkl or .skops (scikit-learn).")],
    data: Annotated[
        Path,
        typer.Argument(help="Rows the rules are read over: a CSV or Parquet file, or a directory of them."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("xai-report"),
    max_depth: Annotated[
        int, typer.Option(min=1, help="Depth of the surrogate tree; also how deep rules.png draws a tree.")
    ] = 4,
    min_samples_leaf: Annotated[int, typer.Option(min=1, help="Surrogate: fewest rows in a leaf.")] = 5,
    augment: Annotated[
        int, typer.Option(min=0, help="Surrogate: add N perturbed rows (labelled by the model) to fit on.")
    ] = 0,
    holdout: Annotated[
        float, typer.Option(help="Surrogate: share of the data rows held out to measure fidelity.")
    ] = 0.25,
    label_column: Annotated[
        str | None, typer.Option(help="A column of DATA to drop (the label), so it is not taken as input.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for every random choice; same seed, same report.")] = 0,
    trust_model: Annotated[
        bool,
        typer.Option(
            "--trust-model",
            help="Load pickles without the allow-list: only for files you trust. "
            "XAI_TRUST_MODEL=1 (or true, yes) does the same.",
        ),
    ] = False,
    max_memory: MaxMemoryOption = None,
    max_cpu_seconds: MaxCpuSecondsOption = DEFAULT_CPU_SECONDS,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report JSON on stdout, nothing else (= --format json).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes or progress on stderr.")] = False,
    output_format: Annotated[
        str | None,
        typer.Option("--format", help="stdout summary: table (default), json (the report) or markdown."),
    ] = None,
    html: Annotated[bool, typer.Option("--html", help="Also write report.html (self-contained).")] = False,
    glob: Annotated[
        str | None, typer.Option(help="Directory DATA: the inputs to take, e.g. '*.csv' or '**/*.parquet'.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip inputs whose report in --out is complete.")
    ] = False,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Directory DATA: inputs run in parallel (default 1).")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="Directory DATA: local (default), dask://HOST:PORT or ray://HOST:PORT."),
    ] = None,
    min_fidelity: Annotated[
        float | None,
        typer.Option(
            help="Gate: exit 1 (after writing the report) if the held-out fidelity is below F "
            "(for the model's own tree: its agreement on the data)."
        ),
    ] = None,
) -> None:
    """If-then rules on your columns: a decision tree's own, or a surrogate tree's with measured fidelity.

    Example: [bold]xai rules sample_models/iris_tree.joblib sample_data/iris.csv --out reports/iris[/bold]
    """
    from xai_cli.run.rules import RulesArgs, run_rules

    args = RulesArgs(
        model=model,
        data=data,
        out=out,
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        augment=augment,
        holdout=holdout,
        label_column=label_column,
        seed=seed,
        trust_model=_trust_from_env(trust_model),
        limits=_sandbox_limits(max_memory, max_cpu_seconds),
        html=html,
    )
    from xai_cli.run.rules_batch import FidelityGateArgs, rules_gates

    fmt = guarded(lambda: _summary_format(output_format, json_output))
    gate = FidelityGateArgs(min_fidelity) if min_fidelity is not None else None
    note = (lambda _: None) if quiet else (lambda text: _err(f"note: {text}"))
    if data.is_dir():
        _run_directory("rules", args, data, out, glob, resume, jobs, backend, gate, fmt, quiet, note)
        return
    guarded(lambda: _single_input_options(glob, jobs, backend))
    outcome = _existing_report(out, "rules.json", note) if resume else None
    if outcome is None:
        outcome = guarded(lambda: _with_status("reading rules", quiet, lambda: run_rules(args, note)))
    from xai_cli.reports.summary import print_summary

    print_summary("rules", outcome.report, fmt, out_dir=outcome.out_dir, files=outcome.files)
    if gate is not None:
        from xai_cli.gates import enforce

        guarded(lambda: enforce(rules_gates(outcome.report, gate)))


@app.command()
def counterfactual(
    model: Annotated[Path, typer.Argument(help="Model file: .joblib, .pkl or .skops (scikit-learn).")],
    data: Annotated[
        Path,
        typer.Argument(
            help="Rows (a CSV or Parquet file, or a directory of them); also the source of realistic values."
        ),
    ],
    row: Annotated[int | None, typer.Option(help="The 0-based data row to change.")] = None,
    rows: Annotated[
        str | None, typer.Option(help="Several rows in one report: 'A:B' (end exclusive), 'A,B,C' or 'all'.")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="Class to reach (name or index). Default: any other class than the row's."),
    ] = None,
    target_range: Annotated[
        str | None, typer.Option(help="Regressors: the output range to reach, LO:HI (a side may be empty).")
    ] = None,
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="How many diverse counterfactuals per row.")] = 3,
    immutable: Annotated[
        list[str] | None, typer.Option(help="Columns that must not change (comma-separated; repeatable).")
    ] = None,
    increase_only: Annotated[
        list[str] | None,
        typer.Option(help="Numeric columns that may only go up (comma-separated; repeatable)."),
    ] = None,
    decrease_only: Annotated[
        list[str] | None,
        typer.Option(help="Numeric columns that may only go down (comma-separated; repeatable)."),
    ] = None,
    range_: Annotated[
        list[str] | None,
        typer.Option("--range", help="COLUMN=LO:HI: the values a changed column may take (repeatable)."),
    ] = None,
    constraints: Annotated[
        Path | None,
        typer.Option(help="A JSON or YAML file with immutable, increase_only, decrease_only, ranges."),
    ] = None,
    max_evals: Annotated[int, typer.Option(help="Search budget: model evaluations per row.")] = 20_000,
    require_found: Annotated[
        bool, typer.Option("--require-found", help="Exit 1 when some row has no counterfactual.")
    ] = False,
    label_column: Annotated[
        str | None, typer.Option(help="A column of DATA to drop (the label), so it is not taken as input.")
    ] = None,
    max_plots: Annotated[int, typer.Option(min=0, help="Per-row plots to draw.")] = 20,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("xai-report"),
    seed: Annotated[int, typer.Option(help="Seed for every random choice; same seed, same report.")] = 0,
    trust_model: Annotated[
        bool,
        typer.Option(
            "--trust-model",
            help="Load pickles without the allow-list: only for files you trust. "
            "XAI_TRUST_MODEL=1 (or true, yes) does the same.",
        ),
    ] = False,
    max_memory: MaxMemoryOption = None,
    max_cpu_seconds: MaxCpuSecondsOption = DEFAULT_CPU_SECONDS,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report JSON on stdout, nothing else (= --format json).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes or progress on stderr.")] = False,
    output_format: Annotated[
        str | None,
        typer.Option("--format", help="stdout summary: table (default), json (the report) or markdown."),
    ] = None,
    html: Annotated[bool, typer.Option("--html", help="Also write report.html (self-contained).")] = False,
    glob: Annotated[
        str | None, typer.Option(help="Directory DATA: the inputs to take, e.g. '*.csv' or '**/*.parquet'.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip inputs whose report in --out is complete.")
    ] = False,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Directory DATA: inputs run in parallel (default 1).")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="Directory DATA: local (default), dask://HOST:PORT or ray://HOST:PORT."),
    ] = None,
) -> None:
    """Smallest realistic changes to a row that move the prediction to a target; counterfactual.json + PNGs.

    Example: [bold]xai counterfactual sample_models/credit_pipeline.joblib sample_data/credit.csv --row 12
    --target approved --immutable age,region --increase-only income[/bold]
    """
    from xai_cli.run.counterfactual import (
        CounterfactualArgs,
        run_counterfactual,
    )
    from xai_cli.run.counterfactual import (
        require_found as check_found,
    )

    args = CounterfactualArgs(
        model=model,
        data=data,
        out=out,
        row=row,
        rows=rows,
        target=target,
        target_range=target_range,
        n=n,
        immutable=immutable or [],
        increase_only=increase_only or [],
        decrease_only=decrease_only or [],
        ranges=range_ or [],
        constraints=constraints,
        max_evals=max_evals,
        label_column=label_column,
        max_plots=max_plots,
        require_found=require_found,
        seed=seed,
        trust_model=_trust_from_env(trust_model),
        limits=_sandbox_limits(max_memory, max_cpu_seconds),
        html=html,
    )
    fmt = guarded(lambda: _summary_format(output_format, json_output))
    note = (lambda _: None) if quiet else (lambda text: _err(f"note: {text}"))
    if data.is_dir():
        gate = True if require_found else None
        _run_directory("counterfactual", args, data, out, glob, resume, jobs, backend, gate, fmt, quiet, note)
        return
    guarded(lambda: _single_input_options(glob, jobs, backend))
    outcome = _existing_report(out, "counterfactual.json", note) if resume else None
    if outcome is None:
        outcome = guarded(
            lambda: _with_status(
                "searching counterfactuals", quiet, lambda: run_counterfactual(args, note, plot_helper=True)
            )
        )
    from xai_cli.reports.summary import print_summary

    print_summary("counterfactual", outcome.report, fmt, out_dir=outcome.out_dir, files=outcome.files)
    if require_found:
        guarded(lambda: check_found(outcome.report))


def main() -> None:
    """Console-script entry point."""
    app()


@app.command()
def scan(
    models: Annotated[
        list[Path],
        typer.Argument(help="Model files: pickle/joblib, .skops, PyTorch, Keras (.keras/.h5) or ONNX."),
    ],
    allow_unchecked: Annotated[
        bool,
        typer.Option(
            "--allow-unchecked",
            help="Exit 0 for a file whose format cannot be fully checked (e.g. TorchScript) "
            "if nothing that could be checked is refused.",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the scan report JSON on stdout, nothing else.")
    ] = False,
) -> None:
    """List what model files would import or run, without loading them; exit 0 if safe to load, 4 if not.

    Example: [bold]xai scan model.joblib[/bold] (in CI: before anything loads the model)
    """
    from xai_cli.run.scan import ScanArgs, run_scan

    outcome = guarded(lambda: run_scan(ScanArgs(models=list(models), allow_unchecked=allow_unchecked)))
    if json_output:
        from xai_cli.reports.json_report import dumps
        from xai_cli.textsafe import json_safe

        sys.stdout.write(json_safe(dumps(outcome.report)))
    else:
        from xai_cli.reports.scan_table import print_scan_summary

        print_scan_summary(outcome.report)
    for problem in outcome.problems:
        _err(f"error: {problem}")
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)
