"""Atomic report writing: every file appears whole or not at all, the JSON last."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from xai_cli.errors import InputError

STAGING_PREFIX = ".xai-staging-"


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to a temp file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


@contextlib.contextmanager
def staged_report(out_dir: Path) -> Iterator[Path]:
    """A hidden staging folder inside ``out_dir``; on success its files move into ``out_dir``.

    Files are moved in name order except ``*.json``, which move last, so a report's JSON (the marker
    that a report is complete) never exists without its images. On any failure the staging folder is
    removed and ``out_dir`` keeps what it had.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))
    except OSError as exc:
        raise InputError(
            f"{out_dir}: cannot write the report there ({exc.strerror}); choose another --out"
        ) from exc
    try:
        yield staging
        files = sorted(staging.iterdir(), key=lambda p: (p.suffix == ".json", p.name))
        for item in files:
            os.replace(item, out_dir / item.name)
    except OSError as exc:
        raise InputError(
            f"{out_dir}: cannot write the report there ({exc.strerror}); choose another --out"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
