"""``xai explain``: load, validate, attribute, write the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xai_cli.errors import InputError, UsageError
from xai_cli.models.sandbox import SandboxLimits, sandboxed

if TYPE_CHECKING:
    from xai_cli.methods.results import ExplainResult
    from xai_cli.reports.render import PlotHelper

METHODS = ("shap", "lime")
OUTPUTS = ("auto", "probability", "raw")
DEFAULT_BACKGROUND_ROWS = 100


@dataclass
class ExplainArgs:
    """Everything ``xai explain`` was asked to do, as plain values."""

    model: Path
    data: Path
    out: Path = Path("xai-report")
    method: str = "shap"
    rows: str | None = None
    target: str | None = None
    background: str = str(DEFAULT_BACKGROUND_ROWS)
    algorithm: str = "auto"
    output: str = "auto"
    permutations: int = 1024
    tolerance: float = 0.01
    num_samples: int = 5000
    num_features: int | None = None
    lime_engine: str = "fast"
    label_column: str | None = None
    max_plots: int = 10
    seed: int = 0
    trust_model: bool = False
    chunk_size: int | None = None
    html: bool = False
    timeout: float | None = None
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    def canonical_argv(self) -> list[str]:
        """The command line that reproduces this run (output location and verbosity left out)."""
        argv = [
            "explain",
            str(self.model),
            str(self.data),
            "--method",
            self.method,
            "--rows",
            self.rows or "0:100",
        ]
        argv += ["--background", self.background, "--seed", str(self.seed)]
        if self.target is not None:
            argv += ["--target", self.target]
        if self.label_column is not None:
            argv += ["--label-column", self.label_column]
        if self.method == "shap":
            argv += [
                "--algorithm",
                self.algorithm,
                "--output",
                self.output,
                "--permutations",
                str(self.permutations),
                "--tolerance",
                repr(float(self.tolerance)),
            ]
        else:
            argv += ["--num-samples", str(self.num_samples), "--lime-engine", self.lime_engine]
            if self.num_features is not None:
                argv += ["--num-features", str(self.num_features)]
        if self.chunk_size is not None:
            argv += ["--chunk-size", str(self.chunk_size)]
        return argv


@dataclass
class ExplainOutcome:
    """What the CLI shows after a run."""

    report: dict[str, Any]
    out_dir: Path
    files: list[str]
    notes: list[str] = field(default_factory=list)


@sandboxed
def run_explain(
    args: ExplainArgs,
    on_note: Callable[[str], None] = lambda _: None,
    on_progress: Callable[[int, int], None] | None = None,
    plot_helper: bool = False,
) -> ExplainOutcome:
    """Explain the selected rows of ``args.data`` and write explain.json and the PNGs under ``args.out``.

    With ``args.chunk_size`` the file is streamed in chunks (see ``run.explain_stream``); ``on_progress``
    then hears ``(rows done, rows total)`` after each chunk. With ``args.timeout`` the work runs in a
    child process that is stopped when the time is up. ``plot_helper`` lets a helper process draw part
    of the plots on a second core (reports/render.py): for one input at a time, not inside a batch
    whose workers already use the cores.
    """
    if args.timeout is None:
        return _explain(args, on_note, on_progress, plot_helper)
    from xai_cli.run.limits import run_with_timeout

    label = f"{args.data} (model {args.model})"
    return run_with_timeout(
        lambda: _explain(args, on_note, on_progress, plot_helper), args.timeout, label, [args.out]
    )


def _explain(
    args: ExplainArgs,
    on_note: Callable[[str], None],
    on_progress: Callable[[int, int], None] | None,
    plot_helper: bool,
) -> ExplainOutcome:
    if args.chunk_size is not None:
        from xai_cli.run.explain_stream import run_explain_streaming

        return run_explain_streaming(args, on_note, on_progress)
    if not plot_helper:
        return _explain_table(args, on_note, None)
    from xai_cli.reports.render import plot_helper as forked_helper

    # Forked before the model loads: its matplotlib import overlaps the loading and the explaining.
    with forked_helper(2 + args.max_plots) as helper:
        return _explain_table(args, on_note, helper)


def _explain_table(
    args: ExplainArgs, on_note: Callable[[str], None], helper: PlotHelper | None
) -> ExplainOutcome:
    from xai_cli.data.rows import parse_rows
    from xai_cli.data.tabular import read_table
    from xai_cli.data.validate import align_to_model, check_model_accepts
    from xai_cli.models.loader import load_model

    if args.method not in METHODS:
        raise UsageError(f"--method {args.method}: expected one of {', '.join(METHODS)}")
    if args.output not in OUTPUTS:
        raise UsageError(f"--output {args.output}: expected one of {', '.join(OUTPUTS)}")
    model = load_model(args.model, trust=args.trust_model)
    if model.input != "tabular":
        raise UsageError(f"{args.model}: an image model; use 'xai attention' for it")
    table = align_to_model(read_table(args.data), model, args.data, args.label_column)
    notes: list[str] = []
    if table.ignored_columns:
        notes.append(
            f"{args.data}: ignoring column(s) the model does not use: {', '.join(table.ignored_columns)}"
        )
    frame = table.frame
    rows = parse_rows(args.rows, len(frame), source=str(args.data))
    explained = frame.iloc[rows].reset_index(drop=True)
    background, background_source, background_rows = _background(args, model, frame)
    background_path = Path(args.background) if background_source.startswith("file") else args.data
    check_model_accepts(model, explained, args.data, row_numbers=rows)
    check_model_accepts(model, background, background_path, row_numbers=background_rows)
    if args.method == "lime":
        check_no_missing_for_lime(explained, rows, args.data)
        check_no_missing_for_lime(background, background_rows, background_path)
    for note in notes:
        on_note(note)

    result = explain_selected_rows(args, model, explained, background, rows)
    for note in result.notes:
        on_note(note)

    from xai_cli.reports.explain import write_explain_report
    from xai_cli.reports.json_report import explain_report, report_header

    header = report_header("explain", args.canonical_argv(), args.seed, model)
    data_info = {
        "n_rows": len(frame),
        "ignored_columns": table.ignored_columns,
        "background": background_source,
    }
    report = explain_report(header, result, str(args.data), data_info)
    files = write_explain_report(
        report, result, model, args.out, args.max_plots, html=args.html, plot_helper=helper
    )
    return ExplainOutcome(report=report, out_dir=args.out, files=files, notes=notes + result.notes)


def explain_selected_rows(
    args: ExplainArgs, model: Any, explained: pd.DataFrame, background: pd.DataFrame, rows: list[int]
) -> ExplainResult:
    """Run the chosen method (``args.method`` with its options) on rows ``rows`` of the data."""
    if args.method == "shap":
        from xai_cli.methods.shap import ShapOptions, explain_shap

        output = None if args.output == "auto" else args.output
        if output == "probability" and model.kind == "regressor":
            raise UsageError("--output probability applies to classifiers; this model is a regressor")
        if output == "raw" and model.kind == "regressor":
            output = "value"
        options = ShapOptions(
            algorithm=args.algorithm,
            output=output,
            target=args.target,
            n_permutations=args.permutations,
            tolerance=args.tolerance,
            seed=args.seed,
        )
        return explain_shap(model, explained, background, rows, options)
    from xai_cli.methods.lime import ENGINES, LimeOptions, explain_lime

    if args.num_samples < 10:
        raise UsageError("--num-samples must be at least 10")
    if args.lime_engine not in ENGINES:
        raise UsageError(f"--lime-engine {args.lime_engine}: expected one of {', '.join(ENGINES)}")
    lime_options = LimeOptions(
        target=args.target,
        num_samples=args.num_samples,
        num_features=args.num_features,
        seed=args.seed,
        engine=args.lime_engine,
    )
    return explain_lime(model, explained, background, rows, lime_options)


def _background(args: ExplainArgs, model: Any, frame: pd.DataFrame) -> tuple[pd.DataFrame, str, list[int]]:
    """``--background N`` draws N data rows with the seed; ``--background PATH`` reads a file.

    Also returns the row numbers (in their file) of the background rows.
    """

    spec = args.background.strip()
    if spec.isdigit():
        count = int(spec)
        if count < 1:
            raise UsageError("--background N needs N >= 1")
        if count >= len(frame):
            return frame.reset_index(drop=True), f"all {len(frame)} data rows", list(range(len(frame)))
        rng = np.random.default_rng(args.seed)
        chosen = np.sort(rng.choice(len(frame), size=count, replace=False))
        drawn = frame.iloc[chosen].reset_index(drop=True)
        return drawn, f"{count} data rows drawn with seed {args.seed}", [int(r) for r in chosen]
    background, source = background_from_file(args, model)
    return background, source, list(range(len(background)))


def background_from_file(args: ExplainArgs, model: Any) -> tuple[pd.DataFrame, str]:
    """``--background PATH``: the rows of that file, aligned to the model."""
    from xai_cli.data.tabular import read_table
    from xai_cli.data.validate import align_to_model

    spec = args.background.strip()
    path = Path(spec)
    if not path.exists():
        raise InputError(f"--background {spec}: neither a row count nor an existing file")
    label = args.label_column if args.label_column is not None else None
    raw = read_table(path)
    if label is not None and label not in raw.columns:
        label = None
    table = align_to_model(raw, model, path, label)
    return table.frame, f"file {path} ({len(table.frame)} rows)"


def check_no_missing_for_lime(table: pd.DataFrame, row_numbers: list[int], source: Path) -> None:
    """LIME's perturbation statistics (means, spreads, category counts) cannot take a missing value."""
    from xai_cli.data.messages import row_location, shown
    from xai_cli.data.validate import first_missing_cell

    missing = first_missing_cell(table)
    if missing is not None:
        position, column = missing
        raise InputError(
            f"{source}: {row_location(source, row_numbers[position])}, column {shown(column)} is empty "
            "(missing value), and LIME cannot perturb missing values; fill it in, drop the row, "
            "or use --method shap"
        )
