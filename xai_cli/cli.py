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
    sys.stderr.write(_one_line(message.rstrip()) + "\n")
    sys.stderr.flush()


def _one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped: whatever a hostile file
    puts in a name or value, an error stays one line and cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
        int,
        typer.Option(
            min=2,
            help="Permutation SHAP: orders sampled per row, spread evenly over the background rows in "
            "antithetic pairs; each costs (columns - 1) model rows. More orders, smaller sampling error "
            "(the report gives relative_standard_error).",
        ),
    ] = 512,
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
            help="Load pickles without the allow-list: only for files you trust.",
            envvar="XAI_TRUST_MODEL",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report JSON on stdout, nothing else.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes or progress on stderr.")] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Stop the work (loading, explaining, writing) after this many seconds; exit 3, no report.",
        ),
    ] = None,
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
        lime_engine=lime_engine,
        label_column=label_column,
        max_plots=max_plots,
        seed=seed,
        trust_model=_trust_from_env(trust_model),
        timeout=timeout,
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
def schema(
    name: Annotated[str, typer.Argument(help="Report kind: explain, rules, counterfactual.")] = "explain",
) -> None:
    """Print the JSON Schema of a report (explain.json)."""
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
    data: Annotated[Path, typer.Argument(help="Rows the rules are read over: a CSV or Parquet file.")],
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
            help="Load pickles without the allow-list: only for files you trust.",
            envvar="XAI_TRUST_MODEL",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report JSON on stdout, nothing else.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes or progress on stderr.")] = False,
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
    )
    note = (lambda _: None) if quiet else (lambda text: _err(f"note: {text}"))
    outcome = guarded(lambda: _with_status("reading rules", quiet, lambda: run_rules(args, note)))
    if json_output:
        from xai_cli.reports.json_report import dumps

        sys.stdout.write(dumps(outcome.report))
        return
    from xai_cli.reports.rules import print_rules_summary

    print_rules_summary(outcome.report, outcome.out_dir, outcome.files)


@app.command()
def counterfactual(
    model: Annotated[Path, typer.Argument(help="Model file: .joblib, .pkl or .skops (scikit-learn).")],
    data: Annotated[
        Path, typer.Argument(help="Rows (a CSV or Parquet file); also the source of realistic values.")
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
            help="Load pickles without the allow-list: only for files you trust.",
            envvar="XAI_TRUST_MODEL",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report JSON on stdout, nothing else.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes or progress on stderr.")] = False,
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
    )
    note = (lambda _: None) if quiet else (lambda text: _err(f"note: {text}"))
    outcome = guarded(
        lambda: _with_status("searching counterfactuals", quiet, lambda: run_counterfactual(args, note))
    )
    if json_output:
        from xai_cli.reports.json_report import dumps

        sys.stdout.write(dumps(outcome.report))
    else:
        from xai_cli.reports.counterfactual import print_counterfactual_summary

        print_counterfactual_summary(outcome.report, outcome.out_dir, outcome.files)
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

        sys.stdout.write(dumps(outcome.report))
    else:
        from xai_cli.reports.scan_table import print_scan_summary

        print_scan_summary(outcome.report)
    for problem in outcome.problems:
        _err(f"error: {problem}")
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)
