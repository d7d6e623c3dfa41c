"""``xai explain ... --chunk-size N``: explain a large table chunk by chunk in bounded memory.

The file is read ``N`` rows at a time; each chunk's selected rows are explained, their per-row results
appended to ``rows.parquet`` and folded into running sums (global importance, the largest additivity
error), then dropped. The background rows and the rows' results are the same as a plain run's: the
background is drawn with the same seed over the same row count, and every method is per-row (per-row
seeds), so only the layout of the report differs: ``explain.json`` has ``rows: []`` and ``rows_file``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xai_cli.errors import InputError, UsageError
from xai_cli.run.explain import (
    METHODS,
    OUTPUTS,
    ExplainArgs,
    ExplainOutcome,
    background_from_file,
    check_no_missing_for_lime,
)

if TYPE_CHECKING:
    from xai_cli.methods.streaming import StreamedExplanation


def run_explain_streaming(
    args: ExplainArgs,
    on_note: Callable[[str], None] = lambda _: None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ExplainOutcome:
    """Explain the selected rows of ``args.data`` chunk by chunk; write explain.json and rows.parquet."""
    from xai_cli.data.stream import check_streamable, count_rows, iter_table_chunks
    from xai_cli.data.validate import align_to_model, check_model_accepts
    from xai_cli.methods.streaming import StreamedExplanation
    from xai_cli.models.loader import load_model
    from xai_cli.reports.explain_stream import ROWS_FILE, RowsFileWriter, streamed_explain_report
    from xai_cli.reports.json_report import report_header
    from xai_cli.reports.writer import staged_report
    from xai_cli.run.explain import explain_selected_rows

    _check_options(args)
    chunk_size = int(args.chunk_size or 0)
    model = load_model(args.model, trust=args.trust_model)
    if model.input != "tabular":
        raise UsageError(f"{args.model}: an image model; use 'xai attention' for it")
    check_streamable(args.data)
    n_rows = count_rows(args.data, chunk_size)
    if n_rows == 0:
        raise InputError(f"{args.data}: has a header but no data rows")
    selection = selected_rows(args.rows, n_rows, str(args.data))
    background, background_source, background_rows = _streamed_background(args, model, n_rows)
    source = Path(args.background) if background_source.startswith("file") else args.data
    check_model_accepts(model, background, source, row_numbers=background_rows)
    if args.method == "lime":
        check_no_missing_for_lime(background, background_rows, source)

    feature_names: list[str] | None = None
    summary: StreamedExplanation | None = None
    ignored_columns: list[str] = []
    notes: list[str] = []
    total = len(selection)
    with staged_report(args.out) as staging:
        rows_file = RowsFileWriter(staging / ROWS_FILE)
        if on_progress is not None:
            on_progress(0, total)
        offset = 0
        try:
            for chunk in iter_table_chunks(args.data, chunk_size):
                if offset >= _selection_end(selection):
                    break
                positions = _positions_in_chunk(selection, offset, len(chunk))
                if len(positions):
                    table = align_to_model(chunk, model, args.data, args.label_column, first_row=offset)
                    if feature_names is None:
                        feature_names, ignored_columns = list(table.frame.columns), table.ignored_columns
                        if ignored_columns:
                            notes.append(
                                f"{args.data}: ignoring column(s) the model does not use: "
                                f"{', '.join(ignored_columns)}"
                            )
                            on_note(notes[-1])
                        summary = StreamedExplanation.start(feature_names, total, args.max_plots, args.seed)
                    explained = table.frame.iloc[positions].reset_index(drop=True)
                    rows = [offset + int(p) for p in positions]
                    check_model_accepts(model, explained, args.data, row_numbers=rows)
                    if args.method == "lime":
                        check_no_missing_for_lime(explained, rows, args.data)
                    result = explain_selected_rows(args, model, explained, background, rows)
                    for note in result.notes:
                        if note not in notes:
                            notes.append(note)
                            on_note(note)
                    assert summary is not None
                    summary.add(result)
                    rows_file.write(result)
                    if on_progress is not None:
                        on_progress(summary.rows_done, total)
                offset += len(chunk)
        finally:
            rows_file.close()
        assert summary is not None
        header = report_header("explain", args.canonical_argv(), args.seed, model)
        data_info = {
            "path": str(args.data),
            "n_rows": n_rows,
            "ignored_columns": ignored_columns,
            "background": background_source,
        }
        report = streamed_explain_report(header, data_info, summary, rows_file, chunk_size)
        files = _write_plots_and_json(report, summary, staging, args)
    return ExplainOutcome(report=report, out_dir=args.out, files=[ROWS_FILE, *files], notes=notes)


def selected_rows(spec: str | None, n_rows: int, source: str) -> range | list[int]:
    """``--rows`` for a streamed file: a ``range`` for ``all`` and ``A:B`` (no list of a million ints)."""
    from xai_cli.data.rows import parse_rows

    text = (spec or "").strip().lower()
    if text == "all":
        return range(n_rows)
    rows = parse_rows(spec, n_rows, source=source)
    if rows == list(range(rows[0], rows[-1] + 1)):
        return range(rows[0], rows[-1] + 1)
    return rows


def _selection_end(selection: range | list[int]) -> int:
    if isinstance(selection, range):
        return selection.stop
    return max(selection) + 1


def _check_options(args: ExplainArgs) -> None:
    if args.method not in METHODS:
        raise UsageError(f"--method {args.method}: expected one of {', '.join(METHODS)}")
    if args.output not in OUTPUTS:
        raise UsageError(f"--output {args.output}: expected one of {', '.join(OUTPUTS)}")
    if args.chunk_size is None or args.chunk_size < 1:
        raise UsageError("--chunk-size N needs N >= 1")


def _positions_in_chunk(selection: range | list[int], offset: int, length: int) -> np.ndarray:
    """0-based positions within the chunk ``[offset, offset + length)`` of the selected rows, in order."""
    if isinstance(selection, range):
        start, stop = max(selection.start, offset), min(selection.stop, offset + length)
        return np.arange(start - offset, max(stop, start) - offset)
    wanted = np.asarray(selection)
    return wanted[(wanted >= offset) & (wanted < offset + length)] - offset


def _streamed_background(args: ExplainArgs, model: Any, n_rows: int) -> tuple[pd.DataFrame, str, list[int]]:
    """The same background rows as a plain run: N rows drawn with the seed over ``n_rows``, or a file;
    with where they came from and their row numbers in their file.

    Drawing from the data takes one pass that also validates every row (as a plain run does before it
    explains anything), so a bad cell fails the run at once, named by its row in the file.
    """
    from xai_cli.data.stream import iter_table_chunks
    from xai_cli.data.validate import align_to_model

    chunk_size = int(args.chunk_size or 0)
    spec = args.background.strip()
    if not spec.isdigit():
        background, source = background_from_file(args, model)
        return background, source, list(range(len(background)))
    count = int(spec)
    if count < 1:
        raise UsageError("--background N needs N >= 1")
    if count >= n_rows:
        positions = np.arange(n_rows)
        source = f"all {n_rows} data rows"
    else:
        rng = np.random.default_rng(args.seed)
        positions = np.sort(rng.choice(n_rows, size=count, replace=False))
        source = f"{count} data rows drawn with seed {args.seed}"
    pieces = []
    offset = 0
    for chunk in iter_table_chunks(args.data, chunk_size):
        aligned = align_to_model(chunk, model, args.data, args.label_column, first_row=offset).frame
        inside = positions[(positions >= offset) & (positions < offset + len(chunk))] - offset
        pieces.append(aligned.iloc[inside])
        offset += len(chunk)
    return pd.concat(pieces, ignore_index=True), source, [int(p) for p in positions]


def _write_plots_and_json(
    report: dict[str, Any], summary: StreamedExplanation, staging: Path, args: ExplainArgs
) -> list[str]:
    from xai_cli.reports.explain import draw_explain_plots
    from xai_cli.reports.json_report import dumps
    from xai_cli.reports.writer import write_atomic

    sample = summary.sample()
    note = ""
    if len(sample.rows) < summary.rows_done:
        note = f"; {len(sample.rows):,} of {summary.rows_done:,} rows sampled with the seed"
    written = draw_explain_plots(
        staging,
        report["global_importance"],
        summary.rows_done,
        summary.target_labels,
        sample,
        summary.first(),
        args.max_plots,
        beeswarm_note=note,
    )
    if args.html:
        from xai_cli.reports.html import write_report_html

        written.append(write_report_html(report, staging, written))
    write_atomic(staging / "explain.json", dumps(report).encode("utf-8"))
    written.append("explain.json")
    return written
