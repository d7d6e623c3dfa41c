"""Run one command over every input of a directory: one report folder each, an index, resume, workers."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xai_cli.batch.adapters import BatchAdapter, get_adapter
from xai_cli.batch.backends import check_backend, run_tasks
from xai_cli.batch.inputs import BatchInput, discover_inputs
from xai_cli.batch.layout import (
    exclusive_writer,
    new_staging_folder,
    prepare_out_root,
    publish,
    remove_leftovers,
)
from xai_cli.errors import XaiError

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_SKIPPED = "skipped"
STATUS_PENDING = "pending"
STATUSES = (STATUS_OK, STATUS_SKIPPED, STATUS_FAILED, STATUS_PENDING)
INDEX_JSON = "index.json"
INDEX_HTML = "index.html"
REPORT_HTML = "report.html"


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch: which inputs, resume or not, and where the work runs."""

    glob: str | None = None
    resume: bool = False
    jobs: int | None = None
    backend: str | None = None
    gate_args: Any = None


@dataclass
class BatchOutcome:
    """What the CLI shows after a batch: the index document, where it is, and how the run ended."""

    index: dict[str, Any]
    out_root: Path
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many inputs ended with ``status``."""
        return int(self.index["counts"][status])

    @property
    def gate_failures(self) -> list[str]:
        """``NAME: message`` for each failed gate of each input."""
        return [
            f"{entry['name']}: {gate['message']}"
            for entry in self.index["inputs"]
            for gate in entry["gates"]
            if not gate["passed"]
        ]


def run_batch(
    command: str,
    args: Any,
    data_dir: Path,
    out_root: Path,
    options: BatchOptions,
    on_note: Callable[[str], None] = lambda _: None,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> BatchOutcome:
    """Run ``command`` (an adapter in ``batch.adapters``) on every input of ``data_dir`` into ``out_root``.

    Inputs that fail are recorded with their error and the others go on. With ``options.resume`` an
    input whose report is complete is skipped. SIGINT/SIGTERM stop the run: work in flight is dropped
    (nothing half-written stays), the index lists what is done, and ``outcome.interrupted`` is set.
    """
    adapter = get_adapter(command)
    check_backend(options.backend)
    prepare_out_root(out_root)
    inputs = discover_inputs(data_dir, adapter.suffixes, options.glob, out_root, adapter.kinds)
    model_block = adapter.preflight(args)
    entries: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    interrupted = False
    with exclusive_writer(out_root), _sigterm_as_interrupt():
        removed = remove_leftovers(out_root)
        if removed:
            notes.append(f"{out_root}: removed {len(removed)} leftover(s) of an interrupted run")
        todo: list[BatchInput] = []
        for item in inputs:
            if options.resume and (out_root / item.folder / adapter.report_file).is_file():
                entries[item.folder] = _existing_entry(adapter, item, out_root)
            else:
                todo.append(item)
        for note in notes:
            on_note(note)
        on_progress(len(entries), len(inputs))
        calls = [(command, args, item, out_root) for item in todo]
        try:
            for entry in run_tasks(process_input, calls, options.jobs, options.backend):
                entries[entry["folder"]] = entry
                for note in entry.pop("notes", []):
                    on_note(note if entry["input"] in note else f"{entry['name']}: {note}")
                on_progress(len(entries), len(inputs))
        except KeyboardInterrupt:
            interrupted = True
            remove_leftovers(out_root)
        ordered = [entries.get(item.folder) or _pending_entry(item) for item in inputs]
        usage_error = _add_gates(adapter, ordered, out_root, options.gate_args)
        index = _index_document(adapter, args, model_block, data_dir, options, ordered)
        _write_index(index, out_root)
    if usage_error is not None:
        raise usage_error
    return BatchOutcome(index=index, out_root=out_root, interrupted=interrupted, notes=notes)


def process_input(command: str, args: Any, item: BatchInput, out_root: Path) -> dict[str, Any]:
    """Run one input into a staging folder and publish it; never raises for a failing input.

    Module-level and with plain arguments, so joblib, Dask and Ray can ship it to their workers.
    """
    adapter = get_adapter(command)
    entry = _base_entry(item)
    staging = new_staging_folder(out_root, item.folder)
    try:
        run_args = dataclasses.replace(args, **{adapter.input_field: item.path, "out": staging})
        entry["notes"] = list(adapter.run_one(run_args))
        report = json.loads((staging / adapter.report_file).read_text(encoding="utf-8"))
        entry["headline"] = adapter.headline(report)
        publish(staging, out_root / item.folder)
    except Exception as exc:
        entry["error"] = describe_error(exc)
        return entry
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    entry.update(_report_links(adapter, item, out_root), status=STATUS_OK)
    return entry


def describe_error(exc: BaseException) -> str:
    """One line for the index: our errors as they read, others with their type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, XaiError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _base_entry(item: BatchInput) -> dict[str, Any]:
    return {
        "input": str(item.path),
        "name": item.relative,
        "folder": item.folder,
        "status": STATUS_FAILED,
        "report": None,
        "html": None,
        "headline": None,
        "error": None,
        "gates": [],
    }


def _report_links(adapter: BatchAdapter, item: BatchInput, out_root: Path) -> dict[str, Any]:
    html = out_root / item.folder / REPORT_HTML
    return {
        "report": f"{item.folder}/{adapter.report_file}",
        "html": f"{item.folder}/{REPORT_HTML}" if html.is_file() else None,
    }


def _existing_entry(adapter: BatchAdapter, item: BatchInput, out_root: Path) -> dict[str, Any]:
    """The entry of a report a previous run completed (``--resume``)."""
    entry = _base_entry(item)
    try:
        report = json.loads((out_root / item.folder / adapter.report_file).read_text(encoding="utf-8"))
        entry["headline"] = adapter.headline(report)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        entry["error"] = (
            f"the existing report cannot be read ({describe_error(exc)}); delete its folder to redo it"
        )
        return entry
    entry.update(_report_links(adapter, item, out_root), status=STATUS_SKIPPED)
    return entry


def _pending_entry(item: BatchInput) -> dict[str, Any]:
    entry = _base_entry(item)
    entry["status"] = STATUS_PENDING
    return entry


def _add_gates(
    adapter: BatchAdapter, entries: list[dict[str, Any]], out_root: Path, gate_args: Any
) -> XaiError | None:
    """Evaluate the command's gates on every finished report; a usage error is returned, not raised."""
    if adapter.gates is None or gate_args is None:
        return None
    for entry in entries:
        if entry["status"] not in (STATUS_OK, STATUS_SKIPPED):
            continue
        report = json.loads((out_root / entry["report"]).read_text(encoding="utf-8"))
        try:
            entry["gates"] = [gate.as_json() for gate in adapter.gates(report, gate_args)]
        except XaiError as exc:
            return exc
    return None


def _index_document(
    adapter: BatchAdapter,
    args: Any,
    model_block: dict[str, Any] | None,
    data_dir: Path,
    options: BatchOptions,
    entries: list[dict[str, Any]],
) -> dict[str, Any]:
    from xai_cli import __version__
    from xai_cli.reports.json_report import SCHEMA_VERSION

    counts = {status: sum(entry["status"] == status for entry in entries) for status in STATUSES}
    return {
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "command": adapter.command,
        "report_kind": "batch-index",
        "argv": list(args.canonical_argv()),
        "seed": getattr(args, "seed", None),
        "model": model_block,
        "inputs_root": str(data_dir),
        "glob": options.glob,
        "report_file": adapter.report_file,
        "thumbnail": adapter.thumbnail,
        "counts": counts,
        "inputs": entries,
    }


def _write_index(index: dict[str, Any], out_root: Path) -> None:
    from xai_cli.reports.html import render_index_html
    from xai_cli.reports.json_report import dumps
    from xai_cli.reports.writer import write_atomic

    write_atomic(out_root / INDEX_HTML, render_index_html(index, out_root).encode("utf-8"))
    write_atomic(out_root / INDEX_JSON, dumps(index).encode("utf-8"))


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the batch runs, so both stop cleanly with a summary."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
