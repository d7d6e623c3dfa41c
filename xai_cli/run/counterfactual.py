"""``xai counterfactual``: load, validate, read the constraints, search each row, write the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xai_cli.errors import GateFailed, InputError, UsageError
from xai_cli.models.sandbox import SandboxLimits, sandboxed

if TYPE_CHECKING:
    from xai_cli.reports.render import PlotHelper

MIN_EVALS = 100


@dataclass
class CounterfactualArgs:
    """Everything ``xai counterfactual`` was asked to do, as plain values."""

    model: Path
    data: Path
    out: Path = Path("xai-report")
    row: int | None = None
    rows: str | None = None
    target: str | None = None
    target_range: str | None = None
    n: int = 3
    immutable: list[str] = field(default_factory=list)
    increase_only: list[str] = field(default_factory=list)
    decrease_only: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    constraints: Path | None = None
    max_evals: int = 20_000
    label_column: str | None = None
    max_plots: int = 20
    require_found: bool = False
    seed: int = 0
    trust_model: bool = False
    html: bool = False
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    def canonical_argv(self) -> list[str]:
        """The command line that reproduces this run (output location and verbosity left out)."""
        argv = ["counterfactual", str(self.model), str(self.data)]
        argv += ["--row", str(self.row)] if self.row is not None else ["--rows", str(self.rows)]
        if self.target is not None:
            argv += ["--target", self.target]
        if self.target_range is not None:
            argv += ["--target-range", self.target_range]
        argv += ["-n", str(self.n), "--max-evals", str(self.max_evals), "--seed", str(self.seed)]
        for option, values in (
            ("--immutable", self.immutable),
            ("--increase-only", self.increase_only),
            ("--decrease-only", self.decrease_only),
            ("--range", self.ranges),
        ):
            for value in values:
                argv += [option, value]
        if self.constraints is not None:
            argv += ["--constraints", str(self.constraints)]
        if self.label_column is not None:
            argv += ["--label-column", self.label_column]
        if self.require_found:
            argv.append("--require-found")
        return argv


@dataclass
class CounterfactualOutcome:
    """What the CLI shows after a run."""

    report: dict[str, Any]
    out_dir: Path
    files: list[str]
    notes: list[str] = field(default_factory=list)


@sandboxed
def run_counterfactual(
    args: CounterfactualArgs, on_note: Callable[[str], None] = lambda _: None, plot_helper: bool = False
) -> CounterfactualOutcome:
    """Counterfactuals for the selected rows; write counterfactual.json and a PNG per row to ``args.out``.

    ``plot_helper`` lets a helper process import matplotlib and draw the PNGs on a second core while
    the search runs (reports/render.py): for one input at a time, not inside a batch."""
    if not plot_helper:
        return _counterfactual(args, on_note, None)
    from xai_cli.reports.render import plot_helper as forked_helper

    with forked_helper(args.max_plots) as helper:
        return _counterfactual(args, on_note, helper)


def _counterfactual(
    args: CounterfactualArgs, on_note: Callable[[str], None], helper: PlotHelper | None
) -> CounterfactualOutcome:
    from xai_cli.data.constraints import merge_specs, read_constraints_file, spec_from_options
    from xai_cli.data.rows import parse_rows
    from xai_cli.data.tabular import read_table
    from xai_cli.data.validate import align_to_model, check_model_accepts, first_missing_cell
    from xai_cli.methods.constraints import build_constraints, column_spaces
    from xai_cli.methods.counterfactual import CounterfactualOptions, find_counterfactuals
    from xai_cli.models.loader import load_model

    if (args.row is None) == (args.rows is None):
        raise UsageError("give the row to change: --row I (0-based), or several with --rows 'A:B' / 'A,B,C'")
    if args.n < 1:
        raise UsageError("-n must be at least 1")
    if args.max_evals < MIN_EVALS:
        raise UsageError(f"--max-evals must be at least {MIN_EVALS}")
    model = load_model(args.model, trust=args.trust_model)
    if model.input != "tabular":
        raise UsageError(f"{args.model}: an image model; counterfactuals apply to tabular models")
    target_range = _target_range(model.kind, args.target, args.target_range)
    if model.kind == "classifier" and args.target is not None:
        from xai_cli.methods.targets import class_index

        class_index(model, args.target)
    table = align_to_model(read_table(args.data), model, args.data, args.label_column)
    frame = table.frame
    if args.row is not None and not 0 <= args.row < len(frame):
        raise InputError(
            f"{args.data}: --row {args.row} is not a data row; the file has {len(frame)} data rows "
            f"(0..{len(frame) - 1}, header excluded)"
        )
    rows = parse_rows(str(args.row) if args.row is not None else args.rows, len(frame), source=str(args.data))
    selected = frame.iloc[rows].reset_index(drop=True)
    missing = first_missing_cell(selected)
    if missing is not None:
        position, column = missing
        row = rows[position]
        raise InputError(
            f"{args.data}: row {row} (line {row + 2}), column '{column}' is empty; a counterfactual starts "
            "from a complete row: fill it in or choose another row"
        )
    check_model_accepts(model, selected, args.data)
    spec = spec_from_options(args.immutable, args.increase_only, args.decrease_only, args.ranges)
    if args.constraints is not None:
        spec = merge_specs(read_constraints_file(args.constraints), spec)
    constraints = build_constraints(spec, frame, model.categorical_columns)
    notes: list[str] = []
    if table.ignored_columns:
        notes.append(
            f"{args.data}: ignoring column(s) the model does not use: {', '.join(table.ignored_columns)}"
        )
    for note in notes:
        on_note(note)
    spaces = column_spaces(frame, model.categorical_columns, constraints)
    options = CounterfactualOptions(
        target=args.target,
        target_range=target_range,
        n=args.n,
        max_evals=args.max_evals,
        seed=args.seed,
    )
    result = find_counterfactuals(model, frame, rows, spaces, constraints, options)
    for note in result.notes:
        on_note(note)

    from xai_cli.reports.counterfactual import counterfactual_report, write_counterfactual_report
    from xai_cli.reports.json_report import report_header

    header = report_header("counterfactual", args.canonical_argv(), args.seed, model)
    data_info = {"path": str(args.data), "n_rows": len(frame), "ignored_columns": table.ignored_columns}
    report = counterfactual_report(header, result, data_info, notes + result.notes)
    files = write_counterfactual_report(report, args.out, args.max_plots, html=args.html, plot_helper=helper)
    return CounterfactualOutcome(report=report, out_dir=args.out, files=files, notes=notes + result.notes)


def _target_range(
    kind: str, target: str | None, text: str | None
) -> tuple[float | None, float | None] | None:
    """``--target-range LO:HI`` for regressors; classifiers take ``--target`` instead."""
    from xai_cli.data.constraints import parse_bounds

    if kind == "classifier":
        if text is not None:
            raise UsageError("--target-range applies to regressors; for a classifier use --target CLASS")
        return None
    if target is not None:
        raise UsageError("--target names a class; this model is a regressor: use --target-range LO:HI")
    if text is None:
        raise UsageError("a regressor needs --target-range LO:HI (either side may be empty), e.g. 200:")
    try:
        low, high = parse_bounds(text, f"--target-range {text}")
    except InputError as exc:
        raise UsageError(str(exc)) from exc
    if low is None and high is None:
        raise UsageError(f"--target-range {text}: give at least one bound")
    if low is not None and high is not None and low > high:
        raise UsageError(f"--target-range {text}: LO is above HI")
    return low, high


def require_found(report: dict[str, Any]) -> None:
    """``--require-found``: fail (exit 1) when some row has no counterfactual."""
    missing = [entry["row"] for entry in report["rows"] if not entry["found"]]
    if missing:
        shown = ", ".join(str(r) for r in missing[:10]) + (" ..." if len(missing) > 10 else "")
        budget = report["settings"]["max_evals"]
        raise GateFailed(
            f"no counterfactual found for row(s) {shown} within --max-evals {budget} (--require-found); "
            "the report has the closest attempt"
        )
