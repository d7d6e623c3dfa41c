"""Reading zip archives (PyTorch, ``.pt2``, ``.keras``, ``.skops``) with bounded work and memory.

Every model archive is checked on its central directory before any member is inflated
(``check_archive``), and the members a scanner reads whole (pickles, TorchScript code, JSON configs)
go through ``read_member``, which stops as soon as the output passes the member's declared size.

The limits, and why:

- ``MAX_MEMBER_BYTES`` = 256 MiB: the largest pickle, code file or JSON config read whole. Real ones
  are kilobytes to a few megabytes (a BERT-base ``data.pkl`` is ~100 KB, its TorchScript code ~1 MB);
  weights are never read by the scanner (torch reads them itself, by record).
- ``MAX_RATIO`` = 200, for members over ``RATIO_FLOOR`` = 1 MiB: deflate reaches ~1030:1 only on
  runs of one byte; trained or random weights compress ~1.1:1, code and JSON ~3-10:1, and torch writes
  its archives uncompressed. A member that claims more is a bomb (1 MB inflating to 1 GB).
- The archive as a whole: declared sizes add up to at most ``MAX_RATIO`` times the file, the members'
  compressed bytes fit in the file without overlapping (overlap is how small zips reach terabytes),
  a stored member's sizes agree, and no two names collide (torch's reader matches names without case,
  Python's with it: a collision would let the two read different members).
- Members must be stored or deflated (what torch, Keras and skops write): Python's zipfile inflates
  bzip2 and lzma members in one call, with no bound on the output.
- ``MAX_SCANNED_BYTES`` = 1 GiB: everything one scan reads whole, all members together.

Any of these exceeded is an ``InputError`` (exit 3) naming the file and the member.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from xai_cli.errors import InputError

MIB = 1 << 20
MAX_MEMBER_BYTES = 256 * MIB
MAX_SCANNED_BYTES = 1024 * MIB
MAX_RATIO = 200
RATIO_FLOOR = 1 * MIB
_CHUNK = 1 * MIB

# Bytes inflated by read_member in this process (the tests count work with it, not seconds).
_INFLATED = [0]


def inflated_bytes() -> int:
    """How many bytes ``read_member`` has inflated in this process so far."""
    return _INFLATED[0]


def _too_big(path: Path | str, member: str, what: str) -> InputError:
    return InputError(
        f"{path}: member {member} of the zip archive {what}; the file is damaged or a zip bomb, "
        "save the model again"
    )


def check_archive(path: Path | str, archive: zipfile.ZipFile, file_size: int) -> None:
    """Check an open archive's central directory against the limits above, inflating nothing."""
    infos = archive.infolist()
    seen: dict[str, str] = {}
    compressed_total = declared_total = 0
    for info in infos:
        name = info.filename
        if "\x00" in info.orig_filename:
            raise _too_big(path, repr(info.orig_filename), "has a NUL byte in its name")
        folded = name.casefold()
        if folded in seen:
            raise _too_big(path, name, f"has the same name as {seen[folded]} (names must differ)")
        seen[folded] = name
        if info.compress_size > file_size or info.header_offset + info.compress_size > file_size:
            raise _too_big(path, name, f"declares {info.compress_size} compressed bytes beyond the file")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise _too_big(path, name, "is stored uncompressed but declares two different sizes")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _too_big(
                path,
                name,
                f"inflates {info.compress_size} bytes to {info.file_size} (over {MAX_RATIO} times, "
                f"the limit for members over {RATIO_FLOOR // MIB} MiB)",
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # zipfile inflates bzip2 and lzma members without an output bound; no model writer uses them.
            raise _too_big(
                path, name, f"uses compression method {info.compress_type} (only stored and deflate)"
            )
        compressed_total += info.compress_size
        declared_total += info.file_size
    if compressed_total > file_size:
        raise _too_big(
            path, "(all)", "data overlaps: the members' compressed sizes add up to more than the file"
        )
    if declared_total > RATIO_FLOOR and declared_total > MAX_RATIO * max(file_size, 1):
        raise _too_big(
            path, "(all)", f"declares {declared_total} bytes in all, over {MAX_RATIO} times the file"
        )


@contextmanager
def open_archive(path: Path, what: str = "zip archive") -> Iterator[zipfile.ZipFile]:
    """Open ``path`` as a zip archive and check it (``check_archive``); a damaged zip is InputError."""
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:  # zipfile raises BadZipFile, NotImplementedError, ValueError, OSError...
        raise InputError(
            f"{path}: a damaged {what} ({type(exc).__name__}: {exc}); save the model again"
        ) from exc
    with archive:
        check_archive(path, archive, path.stat().st_size)
        yield archive


@contextmanager
def open_nested(path: Path, archive: zipfile.ZipFile, member: str) -> Iterator[zipfile.ZipFile]:
    """Open a member that is itself a zip (a torch.save payload inside a ``.pt2``), checked the same way.

    The member is read through zipfile's own seekable stream: only the records asked for are inflated.
    """
    label = f"{path} (member {member})"
    try:
        handle = archive.open(member)
        inner = zipfile.ZipFile(handle)
    except Exception as exc:
        raise InputError(f"{label}: not a readable torch.save payload ({type(exc).__name__}: {exc})") from exc
    with handle, inner:
        check_archive(label, inner, archive.getinfo(member).file_size)
        yield inner


class ScanBudget:
    """What one scan may still read whole, all members together (``MAX_SCANNED_BYTES``)."""

    def __init__(self, limit: int = MAX_SCANNED_BYTES) -> None:
        self.left = limit

    def take(self, path: Path | str, member: str, size: int) -> None:
        """Spend ``size`` bytes of the budget, or raise InputError naming the member."""
        if size > self.left:
            raise _too_big(
                path, member, f"would take the bytes read by this scan past {MAX_SCANNED_BYTES} bytes"
            )
        self.left -= size


def read_member(
    path: Path | str,
    archive: zipfile.ZipFile,
    member: str,
    *,
    limit: int = MAX_MEMBER_BYTES,
    budget: ScanBudget | None = None,
) -> bytes:
    """A member's bytes, refused before inflating if it declares more than ``limit``, and stopped as soon
    as the real output passes the declared size (a member that lies about it)."""
    info = archive.getinfo(member)
    if info.file_size > limit:
        raise _too_big(
            path, member, f"declares {info.file_size} bytes, over the limit of {limit} for what is read whole"
        )
    if budget is not None:
        budget.take(path, member, info.file_size)
    try:
        with archive.open(info) as stream:
            data = _bounded(stream, info.file_size)
    except InputError:
        raise
    except Exception as exc:  # BadZipFile (CRC, a lying size), zlib.error, NotImplementedError, ...
        raise InputError(
            f"{path}: member {member} of the zip archive is damaged ({type(exc).__name__}: {exc})"
        ) from exc
    if len(data) > info.file_size:
        raise _too_big(path, member, f"inflates past its declared {info.file_size} bytes")
    return data


def _bounded(stream: IO[bytes], declared: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while total <= declared:
        chunk = stream.read(min(_CHUNK, declared + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
        _INFLATED[0] += len(chunk)
    return b"".join(parts)


def check_zip_file(path: Path, what: str = "zip archive") -> None:
    """Check a model archive's central directory before a library (torch, Keras) reads it."""
    with open_archive(path, what):
        pass
