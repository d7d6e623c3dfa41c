"""Atomic report writing: every file appears whole or not at all, the JSON last."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from xai_cli.errors import InputError

STAGING_PREFIX = ".xai-staging-"
CURRENT_UMASK = os.umask(0)
os.umask(CURRENT_UMASK)


class FileSink(Protocol):
    """Where report files go instead of this process's file system: a sandboxed model process cannot
    write files, so it sends each file to its parent, which checks and writes it (models/sandbox/)."""

    def write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically."""

    def append(self, path: Path, data: bytes, *, first: bool) -> None:
        """Append ``data`` to ``path`` (``first``: create or empty it first)."""

    def make_folder(self, path: Path) -> None:
        """Create ``path`` and its parents."""

    def make_staging(self, out_dir: Path) -> Path:
        """Create a fresh staging folder inside ``out_dir``."""

    def commit(self, staging: Path, out_dir: Path) -> None:
        """Move a staging folder's files into ``out_dir`` (JSON last) and remove it."""

    def remove_tree(self, path: Path) -> None:
        """Remove a folder this run made, ignoring errors."""


# Set in a sandboxed model process (see install_sink); None: write here.
_sink: FileSink | None = None


def install_sink(sink: FileSink | None) -> None:
    """Send every report file to ``sink`` from now on (None: write to this process's file system)."""
    global _sink
    _sink = sink


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to a temp file in the same folder, fsync, then rename over ``path``."""
    if _sink is not None:
        _sink.write(path, data)
        return
    write_local(path, data)


def write_staged(path: Path, data: bytes) -> None:
    """Write a file inside a staging folder, which moves in whole later: no temp file, no fsync."""
    if _sink is not None:
        _sink.write(path, data)
        return
    path.write_bytes(data)


class _SinkFile(io.RawIOBase):
    """A file being written through the sink: its bytes go out in blocks of ``_SINK_BLOCK``."""

    def __init__(self, sink: FileSink, path: Path) -> None:
        self.sink, self.path = sink, path
        self.pending = bytearray()
        self.position = 0
        self.sent_any = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        block = bytes(data)
        self.pending += block
        self.position += len(block)
        if len(self.pending) >= _SINK_BLOCK:
            self.flush()
        return len(block)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        if self.pending or not self.sent_any:
            self.sink.append(self.path, bytes(self.pending), first=not self.sent_any)
            self.pending.clear()
            self.sent_any = True

    def close(self) -> None:
        if not self.closed:
            self.flush()
        super().close()


_SINK_BLOCK = 1 << 20


def open_staged(path: Path) -> BinaryIO:
    """A file inside a staging folder to write in pieces (here, or through the sink)."""
    if _sink is not None:
        return io.BufferedWriter(_SinkFile(_sink, path), buffer_size=_SINK_BLOCK)
    return path.open("wb")


def write_local(path: Path, data: bytes) -> None:
    """``write_atomic`` on this process's own file system."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 less the umask).
        os.chmod(temp_name, 0o666 & ~CURRENT_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


# Set by deferred_commits(): staged_report then lists finished staging folders here instead of
# moving their files in (a --timeout worker process hands them to its parent, which commits them).
_deferred: list[tuple[Path, Path]] | None = None


def _cannot_write(out_dir: Path, exc: OSError) -> InputError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return InputError(f"{out_dir}: cannot write the report there ({reason}); choose another --out")


@contextlib.contextmanager
def staged_report(out_dir: Path) -> Iterator[Path]:
    """A hidden staging folder inside ``out_dir``; on success its files move into ``out_dir``.

    Files are moved in name order except ``*.json``, which move last, so a report's JSON (the marker
    that a report is complete) never exists without its images. On any failure the staging folder is
    removed and ``out_dir`` keeps what it had. Inside ``deferred_commits()`` a finished staging
    folder is left in place and listed instead, for ``commit_staging`` to move in later.
    """
    try:
        staging = _sink.make_staging(out_dir) if _sink is not None else make_local_staging(out_dir)
    except OSError as exc:
        raise _cannot_write(out_dir, exc) from exc
    finished = False
    try:
        yield staging
        finished = True
    except OSError as exc:
        raise _cannot_write(out_dir, exc) from exc
    finally:
        if not finished:
            remove_tree(staging)
    if _deferred is not None:
        _deferred.append((staging, out_dir))
    else:
        commit_staging(staging, out_dir)


def make_local_staging(out_dir: Path) -> Path:
    """A fresh hidden staging folder inside ``out_dir`` (created with its parents)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))


def make_folder(path: Path) -> None:
    """``mkdir -p path``, here or through the sink."""
    if _sink is not None:
        _sink.make_folder(path)
    else:
        path.mkdir(parents=True, exist_ok=True)


def remove_tree(path: Path) -> None:
    """Remove a folder this run made, ignoring errors, here or through the sink."""
    if _sink is not None:
        _sink.remove_tree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def commit_staging(staging: Path, out_dir: Path) -> None:
    """Move a finished staging folder's files into ``out_dir``, JSON last, then remove the folder."""
    if _sink is not None:
        _sink.commit(staging, out_dir)
        return
    commit_local(staging, out_dir)


def commit_local(staging: Path, out_dir: Path) -> None:
    """``commit_staging`` on this process's own file system."""
    try:
        files = sorted(staging.iterdir(), key=lambda p: (p.suffix == ".json", p.name))
        for item in files:
            os.replace(item, out_dir / item.name)
    except OSError as exc:
        raise _cannot_write(out_dir, exc) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def deferred_commits() -> Iterator[list[tuple[Path, Path]]]:
    """Within this block, reports are staged but not moved in; yields the (staging, out_dir) pairs."""
    global _deferred
    previous, _deferred = _deferred, []
    try:
        yield _deferred
    finally:
        _deferred = previous
