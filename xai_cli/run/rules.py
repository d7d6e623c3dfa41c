"""``xai rules``: load, validate, read the tree or distil a surrogate, write the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xai_cli.errors import InputError, UsageError
from xai_cli.models.sandbox import SandboxLimits, sandboxed


@dataclass
class RulesArgs:
    """Everything ``xai rules`` was asked to do, as plain values."""

    model: Path
    data: Path
    out: Path = Path("xai-report")
    max_depth: int = 4
    min_samples_leaf: int = 5
    augment: int = 0
    holdout: float = 0.25
    label_column: str | None = None
    seed: int = 0
    trust_model: bool = False
    html: bool = False
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    def canonical_argv(self) -> list[str]:
        """The command line that reproduces this run (output location and verbosity left out)."""
        argv = ["rules", str(self.model), str(self.data), "--max-depth", str(self.max_depth)]
        argv += ["--min-samples-leaf", str(self.min_samples_leaf), "--augment", str(self.augment)]
        argv += ["--holdout", repr(self.holdout), "--seed", str(self.seed)]
        if self.label_column is not None:
            argv += ["--label-column", self.label_column]
        return argv


@dataclass
class RulesOutcome:
    """What the CLI shows after a run."""

    report: dict[str, Any]
    out_dir: Path
    files: list[str]
    notes: list[str] = field(default_factory=list)


@sandboxed
def run_rules(args: RulesArgs, on_note: Callable[[str], None] = lambda _: None) -> RulesOutcome:
    """Rules of ``args.model`` over ``args.data``: rules.json, rules.txt and rules.png in ``args.out``."""
    from xai_cli.data.tabular import read_table
    from xai_cli.data.validate import align_to_model, check_model_accepts, first_missing_cell
    from xai_cli.methods.rules import RulesOptions, extract_rules
    from xai_cli.models.loader import load_model

    if args.max_depth < 1:
        raise UsageError("--max-depth must be at least 1")
    if args.min_samples_leaf < 1:
        raise UsageError("--min-samples-leaf must be at least 1")
    if args.augment < 0:
        raise UsageError("--augment must be 0 or more")
    if not 0.0 < args.holdout <= 0.9:
        raise UsageError(f"--holdout {args.holdout}: expected a share of the rows in (0, 0.9]")
    model = load_model(args.model, trust=args.trust_model)
    if model.input != "tabular":
        raise UsageError(f"{args.model}: an image model; rules apply to tabular models")
    table = align_to_model(read_table(args.data), model, args.data, args.label_column)
    frame = table.frame
    missing = first_missing_cell(frame)
    if missing is not None:
        row, column = missing
        raise InputError(
            f"{args.data}: row {row} (line {row + 2}), column '{column}' is empty; rules need complete rows "
            "(a condition cannot say where a missing value goes): fill it in or drop the row"
        )
    check_model_accepts(model, frame, args.data)
    notes: list[str] = []
    if table.ignored_columns:
        notes.append(
            f"{args.data}: ignoring column(s) the model does not use: {', '.join(table.ignored_columns)}"
        )
    for note in notes:
        on_note(note)
    options = RulesOptions(
        max_depth=args.max_depth,
        min_samples_leaf=args.min_samples_leaf,
        augment=args.augment,
        holdout=args.holdout,
        seed=args.seed,
    )
    result = extract_rules(model, frame, options)
    for note in result.notes:
        on_note(note)

    from xai_cli.reports.json_report import report_header
    from xai_cli.reports.rules import rules_report, write_rules_report

    header = report_header("rules", args.canonical_argv(), args.seed, model)
    data_info = {"path": str(args.data), "n_rows": len(frame), "ignored_columns": table.ignored_columns}
    report = rules_report(header, result, data_info, notes + result.notes)
    files = write_rules_report(report, result, args.out, html=args.html)
    return RulesOutcome(report=report, out_dir=args.out, files=files, notes=notes + result.notes)
