"""Opening pickle and joblib files: decompression, legacy formats, and one error for every way a
broken file fails."""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TypeVar

from joblib.compressor import _BUFFER_SIZE, _MODE_READ_EOF, BinaryGzipFile, BinaryZlibFile
from joblib.numpy_pickle_compat import _MAX_LEN
from joblib.numpy_pickle_utils import _ZFILE_PREFIX, _detect_compressor, _validate_fileobject_and_memmap

from xai_cli.errors import InputError, UnsafeModelError
from xai_cli.models.allowlist import Unresolvable
from xai_cli.models.allowlist.names import printable
from xai_cli.models.pickle_budget import BudgetExceeded

T = TypeVar("T")
TRUST_HINT = "if you trust this file, pass --trust-model (or set XAI_TRUST_MODEL=1)"
EXPECTED = "expected a scikit-learn model saved with joblib.dump or pickle.dump"


def short_reason(exc: BaseException) -> str:
    if isinstance(exc, Unresolvable):
        return str(exc)
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    text = printable(str(exc), 120)
    if isinstance(exc, EOFError) or any(word in text for word in ("exhausted", "truncated", "EOF")):
        return "the file ends too early; is it truncated?"
    kind = type(exc).__name__
    if kind == "error":  # zlib.error, struct.error, ...
        kind = f"{type(exc).__module__}.{kind}"
    detail = f"{kind}: {text}" if text else kind
    if isinstance(exc, pickle.UnpicklingError | KeyError | IndexError | struct.error | UnicodeDecodeError):
        return f"corrupt data or not a pickle: {detail}"
    return detail


def unreadable(path: Path, reason: str) -> InputError:
    return InputError(f"{path}: not a readable model file ({reason}); {EXPECTED}")


def is_legacy_zfile(raw: IO[bytes]) -> bool:
    """True for a joblib < 0.10 'ZF' file with a valid header; ValueError for a bogus one."""
    if _detect_compressor(raw) != "compat":
        return False
    header = raw.read(len(_ZFILE_PREFIX) + _MAX_LEN)[len(_ZFILE_PREFIX) :]
    raw.seek(0)
    int(header, 16)
    return True


@contextmanager
def decompressed(path: Path) -> Iterator[IO[bytes]]:
    """The pickle stream of ``path`` (plain, or joblib zlib/gzip/bz2/xz/lzma), as an open file."""
    with open(path, "rb") as raw:
        strict = {"zlib": _StrictZlibFile, "gzip": _StrictGzipFile}.get(_detect_compressor(raw))
        if strict is not None:
            with strict(raw, "rb") as stream:
                yield stream
            return
        with _validate_fileobject_and_memmap(raw, str(path), None) as (fobj, _):
            yield fobj


class _StrictZlibFile(BinaryZlibFile):
    """joblib's zlib reader, refusing data after the end of the compressed stream.

    joblib 1.6 feeds such trailing bytes back into the finished decompressor, which appends them to
    its unused data, which is fed back again: the buffer doubles on every turn (a 1 KB file took
    minutes, or was killed for memory). Real joblib files end with their stream.
    """

    def _fill_buffer(self) -> bool:
        if self._mode == _MODE_READ_EOF:
            return False
        while self._buffer_offset == len(self._buffer):
            if self._decompressor.eof:
                if self._decompressor.unused_data or self._fp.read(1):
                    raise ValueError("data after the end of the compressed stream")
                rawblock = b""
            else:
                rawblock = self._fp.read(_BUFFER_SIZE)
            if not rawblock:
                self._mode = _MODE_READ_EOF
                self._size = self._pos
                return False
            self._buffer = self._decompressor.decompress(rawblock)
            self._buffer_offset = 0
        return True


class _StrictGzipFile(_StrictZlibFile):
    """The same, for joblib's gzip files."""

    wbits = BinaryGzipFile.wbits


def guarded_read(path: Path, action: Callable[[], T]) -> T:
    """Run ``action``, turning everything a broken file can raise into InputError.

    UnsafeModelError (and an InputError raised on purpose) pass through unchanged.
    """
    try:
        if not path.exists():
            raise FileNotFoundError(path)
        return action()
    except (UnsafeModelError, InputError):
        raise
    except BudgetExceeded as exc:
        raise InputError(f"{path}: refused to read: the pickle needs {exc}; {EXPECTED}") from exc
    except RecursionError as exc:
        raise InputError(f"{path}: refused to read: the pickle is nested too deeply; {EXPECTED}") from exc
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except Exception as exc:
        # A hostile or corrupt stream can make pickle, joblib, numpy or the decompressors raise
        # nearly anything (UnpicklingError, EOFError, ValueError, KeyError, IndexError,
        # TypeError, AttributeError, MemoryError, struct.error, zlib.error, OSError, ...).
        raise unreadable(path, short_reason(exc)) from exc
