"""Per-image progress of ``xai attention``, so a run over thousands of images can be resumed.

Each image's overlay (and map) is written into a hidden folder ``--out/.xai-attention-partial`` as soon
as it is done, followed by its JSON entry (``.entries/STEM.json``, written atomically: its presence means
the image is complete). ``attention.json`` is written last and the files are moved into ``--out``.
A run killed at any moment (even SIGKILL) leaves only that hidden folder; ``--resume`` keeps the images
whose entry and files are complete there (or in a finished report in ``--out``) and computes the rest.
Progress is kept only for the same command line and model (``run_key``); anything else starts afresh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xai_cli.reports.json_report import dumps
from xai_cli.reports.writer import _cannot_write, commit_staging, make_folder, remove_tree, write_atomic

PROGRESS_FOLDER = ".xai-attention-partial"
ENTRIES_FOLDER = ".entries"
RUN_FILE = "run.json"


class AttentionProgress:
    """The hidden folder a run writes its images into, and the images already complete."""

    def __init__(self, out_dir: Path, run_key: dict[str, Any], resume: bool) -> None:
        self.out_dir = out_dir
        self.folder = out_dir / PROGRESS_FOLDER
        self.entries_folder = self.folder / ENTRIES_FOLDER
        self.done: dict[str, dict[str, Any]] = {}
        try:
            if resume:
                self.done = self._finished_report(run_key)
                self.done.update(self._partial_entries(run_key))
            else:
                remove_tree(self.folder)
            if not self.done:
                remove_tree(self.folder)
            make_folder(self.entries_folder)
            write_atomic(self.entries_folder / RUN_FILE, dumps(run_key).encode("utf-8"))
        except OSError as exc:
            raise _cannot_write(out_dir, exc) from exc

    def record(self, stem: str, entry: dict[str, Any]) -> None:
        """Mark one image complete: its files are already in ``self.folder``."""
        write_atomic(self.entries_folder / f"{stem}.json", dumps(entry).encode("utf-8"))

    def finish(self, report: dict[str, Any]) -> None:
        """Write attention.json and move everything into ``--out`` (the JSON last)."""
        remove_tree(self.entries_folder)
        write_atomic(self.folder / "attention.json", dumps(report).encode("utf-8"))
        commit_staging(self.folder, self.out_dir)

    def abandon(self) -> None:
        """Remove the hidden folder (a run that failed as a whole keeps nothing)."""
        remove_tree(self.folder)

    def _partial_entries(self, run_key: dict[str, Any]) -> dict[str, dict[str, Any]]:
        if _read_json(self.entries_folder / RUN_FILE) != run_key:
            return {}
        found = {}
        for path in sorted(self.entries_folder.glob("*.json")):
            entry = _read_json(path)
            if path.name != RUN_FILE and isinstance(entry, dict) and _files_exist(entry, self.folder):
                found[path.stem] = entry
        return found

    def _finished_report(self, run_key: dict[str, Any]) -> dict[str, dict[str, Any]]:
        report = _read_json(self.out_dir / "attention.json")
        if not isinstance(report, dict):
            return {}
        key = run_key_of(report.get("argv"), (report.get("model") or {}).get("sha256"), run_key["save_maps"])
        if key != run_key:
            return {}
        return {
            entry["overlay"].removesuffix(".overlay.png"): entry
            for entry in report.get("results", [])
            if ("map" in entry) == run_key["save_maps"] and _files_exist(entry, self.out_dir)
        }


def run_key_of(argv: Any, model_sha256: Any, save_maps: bool) -> dict[str, Any]:
    """What must match for earlier images to be reused: the command line, the model's bytes, --save-maps."""
    return {"argv": argv, "model_sha256": model_sha256, "save_maps": save_maps}


def _files_exist(entry: dict[str, Any], folder: Path) -> bool:
    names = [entry.get("overlay"), *([entry["map"]] if entry.get("map") else [])]
    return all(isinstance(name, str) and (folder / name).is_file() for name in names)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
