"""The commands a directory batch can run, one adapter each.

The adapter contract
--------------------
The batch machinery (``xai_cli.batch.runner``) knows nothing about any command. It walks the inputs,
gives each one a staging folder, runs it (in this process, joblib workers, or a Dask/Ray cluster),
publishes the folder, and writes ``index.json``/``index.html``. What is command-specific comes from a
``BatchAdapter``:

``command``
    The subcommand name (``"explain"``); also the ``command`` of the index document.
``suffixes``
    Lower-case file suffixes the command reads (``{".csv", ".parquet"}``); a directory is filtered by
    them unless ``--glob`` is given. ``kinds`` names them for messages ("CSV or Parquet files").
``report_file``
    The JSON file that marks a complete report (``"explain.json"``). The command's writer must move it
    into the report folder last (``reports.writer.staged_report`` does), so its presence means complete:
    ``--resume`` skips inputs whose folder has it.
``input_field``
    The field of the command's args dataclass that holds the input path (``"data"``). The args must be
    a (picklable) dataclass with that field, an ``out: Path`` field and a ``seed`` field, and a
    ``canonical_argv()`` method (recorded in the index). For each input the runner calls
    ``run_one(dataclasses.replace(args, **{input_field: input_path, "out": staging_folder}))``.
``preflight(args) -> dict | None``
    Called once in the main process before any input runs; raises the command's usual errors (a
    missing or unsafe model fails the whole batch with exit 3/4 instead of N identical failures) and
    returns the ``model`` block for the index (``Model.describe()``), or None.
``run_one(args) -> list[str]``
    Runs one input and writes its whole report into ``args.out``; returns notes for stderr. Raises
    ``XaiError`` (or anything else) for a failing input: the runner records the message and goes on.
    Runs in worker processes, so it must be a module-level function and import heavy libraries inside.
``headline(report) -> dict``
    A few JSON-ready figures read from the report JSON for the index table (rows explained, the top
    columns, a fidelity...). Keep it small: it is shown in a table and a PR comment.
``gates(report, gate_args) -> list[GateResult]``
    Optional: the command's ``--fail-*``/``--min-*`` gates evaluated on one report (see
    ``xai_cli.gates``); ``gate_args`` is whatever the CLI passed to ``run_batch``. A failed gate on any
    input makes the batch exit 1 (after every input ran and the index was written).
``thumbnail``
    Optional file name in the report folder that ``index.html`` shows next to the input.

Adding a command (e.g. ``rules``): write ``rules_preflight``/``rules_one``/``rules_headline`` next to
its run function, register ``BatchAdapter(command="rules", ...)`` in ``ADAPTERS`` below, and in its CLI
function, when its DATA argument is a directory, call ``_run_directory("rules", args, data, out, glob,
resume, jobs, backend, gate_args, fmt, quiet, note)`` (in ``cli.py``, as ``explain`` does; add the
``--glob``, ``--resume``, ``--jobs``, ``--backend`` options to the command). ``reports/html.py``
renders any report JSON as tables; register a specialised renderer there for a nicer ``report.html``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xai_cli.gates import GateResult

TABULAR_KINDS = "CSV or Parquet files"
# What a directory batch picks up without --glob: .txt (which `explain` reads as CSV) is left out, since a
# folder's .txt files are rarely tables; --glob '*.txt' takes them.
TABULAR_BATCH_SUFFIXES = frozenset({".csv", ".tsv", ".parquet", ".pq"})


@dataclass(frozen=True)
class BatchAdapter:
    """How the batch runner drives one command (see the module docstring for the contract)."""

    command: str
    suffixes: frozenset[str]
    kinds: str
    report_file: str
    preflight: Callable[[Any], dict[str, Any] | None]
    run_one: Callable[[Any], list[str]]
    headline: Callable[[dict[str, Any]], dict[str, Any]]
    input_field: str = "data"
    gates: Callable[[dict[str, Any], Any], list[GateResult]] | None = None
    thumbnail: str | None = None


def _explain_adapter() -> BatchAdapter:
    from xai_cli.run import explain_batch

    return BatchAdapter(
        command="explain",
        suffixes=TABULAR_BATCH_SUFFIXES,
        kinds=TABULAR_KINDS,
        report_file="explain.json",
        preflight=explain_batch.explain_preflight,
        run_one=explain_batch.explain_one,
        headline=explain_batch.explain_headline,
        gates=explain_batch.explain_gates,
        thumbnail="global_importance.png",
    )


def _rules_adapter() -> BatchAdapter:
    from xai_cli.run import rules_batch

    return BatchAdapter(
        command="rules",
        suffixes=TABULAR_BATCH_SUFFIXES,
        kinds=TABULAR_KINDS,
        report_file="rules.json",
        preflight=rules_batch.rules_preflight,
        run_one=rules_batch.rules_one,
        headline=rules_batch.rules_headline,
        gates=rules_batch.rules_gates,
        thumbnail="rules.png",
    )


def _counterfactual_adapter() -> BatchAdapter:
    from xai_cli.run import counterfactual_batch

    return BatchAdapter(
        command="counterfactual",
        suffixes=TABULAR_BATCH_SUFFIXES,
        kinds=TABULAR_KINDS,
        report_file="counterfactual.json",
        preflight=counterfactual_batch.counterfactual_preflight,
        run_one=counterfactual_batch.counterfactual_one,
        headline=counterfactual_batch.counterfactual_headline,
        gates=counterfactual_batch.counterfactual_gates,
    )


# Command name -> a function building its adapter (called only when a batch runs, so nothing heavy is
# imported by ``xai --help``).
ADAPTERS: dict[str, Callable[[], BatchAdapter]] = {
    "explain": _explain_adapter,
    "rules": _rules_adapter,
    "counterfactual": _counterfactual_adapter,
}


def get_adapter(command: str) -> BatchAdapter:
    """The adapter of a command; KeyError names the commands that have one."""
    try:
        factory = ADAPTERS[command]
    except KeyError:
        raise KeyError(f"no batch adapter for {command!r}; known: {', '.join(sorted(ADAPTERS))}") from None
    return factory()
