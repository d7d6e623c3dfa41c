"""The batch's folder under ``--out``: staging, publishing whole report folders, cleanup, one writer.

A report is built in a hidden staging folder (``.xai-staging-*``) beside its final place and renamed
into place in one step, so a report folder either exists complete or not at all, whenever the run is
killed. What a SIGKILL can leave behind is only hidden: staging folders, ``.xai-old-*`` folders (a
report being replaced) and ``.index.*.tmp`` files (an index being written); ``remove_leftovers`` clears
them at the start of the next batch into the same folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from xai_cli.errors import InputError
from xai_cli.reports.writer import CURRENT_UMASK, STAGING_PREFIX

REPLACED_PREFIX = ".xai-old-"
LEFTOVER_DIR_PREFIXES = (STAGING_PREFIX, REPLACED_PREFIX)
# write_atomic's temp names for the files the batch writes at the top of --out.
INDEX_TEMP_PREFIXES = (".index.json.", ".index.html.")


def new_staging_folder(out_root: Path, folder: str) -> Path:
    """An empty hidden folder in ``out_root`` to build one report in (mode as ``mkdir`` would give)."""
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{folder[:40]}-", dir=out_root))
    staging.chmod(0o777 & ~CURRENT_UMASK)
    return staging


def publish(staging: Path, target: Path) -> None:
    """Move a finished staging folder to ``target`` in one rename, replacing an older report there."""
    if not target.exists():
        os.rename(staging, target)
        return
    previous = Path(tempfile.mkdtemp(prefix=f"{REPLACED_PREFIX}{target.name[:40]}-", dir=target.parent))
    os.rename(target, previous / "report")
    os.rename(staging, target)
    shutil.rmtree(previous, ignore_errors=True)


def remove_leftovers(out_root: Path) -> list[Path]:
    """Delete the hidden staging folders and temp files an interrupted batch left in ``out_root``.

    Only our own names: ``.xai-staging-*`` and ``.xai-old-*`` folders, and the temp files of the index
    (``.index.json.*.tmp``, ``.index.html.*.tmp``); anything else in the folder is left alone. Report
    folders never hold temp files (they are renamed into place whole). Returns what it removed.
    """
    removed: list[Path] = []
    if not out_root.is_dir():
        return removed
    for item in out_root.iterdir():
        if item.is_dir() and item.name.startswith(LEFTOVER_DIR_PREFIXES):
            shutil.rmtree(item, ignore_errors=True)
            removed.append(item)
        elif item.is_file() and item.name.startswith(INDEX_TEMP_PREFIXES) and item.name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                item.unlink()
            removed.append(item)
    return removed


@contextlib.contextmanager
def exclusive_writer(out_root: Path) -> Iterator[None]:
    """Hold an advisory lock on ``out_root`` so two batches never clean up each other's staging folders.

    The lock is ``flock`` on the folder itself (no lock file to leave behind) and dies with the process,
    so a killed run never leaves it held. Where ``fcntl`` is missing (Windows) no lock is taken.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    handle = os.open(out_root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise InputError(
                f"{out_root}: another xai batch is writing to this folder; wait for it or use another --out"
            ) from exc
        except OSError:
            pass  # a file system without flock (some network mounts): run unlocked
        yield
    finally:
        os.close(handle)


def prepare_out_root(out_root: Path) -> None:
    """Create ``--out`` (a folder), or say clearly why it cannot be."""
    if out_root.exists() and not out_root.is_dir():
        raise InputError(f"{out_root}: exists and is not a folder; choose another --out")
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{out_root}: cannot create the report folder ({exc.strerror}); choose another --out"
        ) from exc
