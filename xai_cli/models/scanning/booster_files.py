"""XGBoost ``.json`` / ``.ubj`` and LightGBM ``.txt`` model files: data only, no code to judge.

Such a file cannot import or run anything, so the scan checks that it really is one: its structure is
read in full (JSON parsed, UBJSON walked marker by marker, LightGBM's header and end-of-trees line), and,
when the library is installed, the library itself parses it. A file that only pretends is InputError.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

from xai_cli.errors import InputError
from xai_cli.models.scanning.base import ScanResult

LIGHTGBM_HEADER = b"tree\nversion="
_SIZES = {ord(marker): size for marker, size in zip("iUIlLdDC", (1, 1, 2, 4, 8, 4, 8, 1), strict=True)}
_INTS = {ord("i"): ">b", ord("U"): ">B", ord("I"): ">h", ord("l"): ">i", ord("L"): ">q"}
_EMPTY = {ord("Z"), ord("N"), ord("T"), ord("F")}
_MAX_DEPTH = 64


def _read_bounded(path: Path) -> bytes:
    """The whole file, once its size is within the limit (checked before anything is read)."""
    from xai_cli.limits import MAX_BOOSTER_FILE_BYTES, limit_value, size_text

    size, limit = path.stat().st_size, limit_value(MAX_BOOSTER_FILE_BYTES)
    if size > limit:
        raise InputError(
            f"{path}: a model file of {size_text(size)}, above the limit of {size_text(limit)}; "
            f"{MAX_BOOSTER_FILE_BYTES.how_to_raise}"
        )
    return path.read_bytes()


def verify_xgboost_json(path: Path) -> None:
    """Raise InputError unless the file is an XGBoost JSON model: an object with 'learner' and 'version'."""
    try:
        document = json.loads(_read_bounded(path))
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: not an XGBoost JSON model: not valid JSON ({str(exc)[:120]})") from exc
    _check_xgboost_keys(path, document.keys() if isinstance(document, dict) else [])
    if not isinstance(document["learner"], dict) or "gradient_booster" not in document["learner"]:
        raise InputError(f"{path}: not an XGBoost JSON model: its 'learner' holds no gradient_booster")


def verify_xgboost_ubj(path: Path) -> None:
    """Raise InputError unless the file is one whole UBJSON object with 'learner' and 'version' keys."""
    data = _read_bounded(path)
    try:
        keys = _ubjson_top_keys(data)
    except (IndexError, struct.error) as exc:
        raise InputError(f"{path}: not an XGBoost UBJSON model: the file ends early (truncated?)") from exc
    except ValueError as exc:
        raise InputError(f"{path}: not an XGBoost UBJSON model: {exc}") from exc
    _check_xgboost_keys(path, keys)


def verify_lightgbm_txt(path: Path) -> None:
    """Raise InputError unless the file is a LightGBM text model: its header and an 'end of trees' line."""
    data = _read_bounded(path)
    if not data.startswith(LIGHTGBM_HEADER):
        raise InputError(f"{path}: not a LightGBM text model: it does not start with 'tree' and 'version='")
    if b"\nend of trees\n" not in data:
        raise InputError(f"{path}: not a whole LightGBM text model: no 'end of trees' line (truncated?)")


def scan_booster_file(path: Path, file_format: str) -> ScanResult:
    """Scan an XGBoost JSON/UBJSON or LightGBM text model; safe once it is verified to be one."""
    verify, library, what = {
        "xgboost-json": (verify_xgboost_json, "xgboost", "an XGBoost JSON model (keys learner, version)"),
        "xgboost-ubj": (verify_xgboost_ubj, "xgboost", "an XGBoost UBJSON model (keys learner, version)"),
        "lightgbm-txt": (verify_lightgbm_txt, "lightgbm", "a LightGBM text model (header, end of trees)"),
    }[file_format]
    verify(path)
    checked = f"the whole file is {what}; such a file holds data only, no code"
    notes = []
    if importlib.util.find_spec(library) is not None:
        parse_with_library(path, library)
        checked += f", and {library} itself parses it"
    else:
        notes.append(f"{library} is not installed: the file was checked by its structure only")
    return ScanResult(path, file_format, [], checked, None, notes)


def parse_with_library(path: Path, library: str) -> None:
    """Parse the file with its own library (no code can run from it); InputError if that fails."""
    try:
        if library == "xgboost":
            import xgboost as xgb

            xgb.Booster(model_file=str(path))
        else:
            import lightgbm as lgb

            lgb.Booster(model_file=str(path))
    except Exception as exc:  # each library raises its own error class for a damaged file
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"{path}: not a readable {library} model file ({line})") from exc


def _check_xgboost_keys(path: Path, keys: object) -> None:
    found = {k.decode() if isinstance(k, bytes) else k for k in keys}  # type: ignore[attr-defined]
    if not {"learner", "version"} <= found:
        raise InputError(
            f"{path}: not an XGBoost model: expected the keys 'learner' and 'version' at the top level"
        )


def _read_int(data: bytes, pos: int) -> tuple[int, int]:
    marker = data[pos]
    if marker not in _INTS:
        raise ValueError(f"expected a length at byte {pos}")
    size = _SIZES[marker]
    (value,) = struct.unpack_from(_INTS[marker], data, pos + 1)
    if value < 0:
        raise ValueError(f"negative length at byte {pos}")
    return int(value), pos + 1 + size


def _open_container(data: bytes, pos: int) -> tuple[int | None, int | None, int]:
    """After '{' or '[': the optional '$type' and '#count' header. Returns (type, count, position)."""
    kind = count = None
    if data[pos] == ord("$"):
        kind, pos = data[pos + 1], pos + 2
        if data[pos] != ord("#"):
            raise ValueError(f"a typed container without a count at byte {pos}")
    if data[pos] == ord("#"):
        count, pos = _read_int(data, pos + 1)
    return kind, count, pos


def _ubjson_top_keys(data: bytes) -> list[bytes]:
    """Walk a UBJSON document marker by marker; the keys of its top-level object."""
    if not data.startswith(b"{"):
        raise ValueError("it does not start with a UBJSON object")
    kind, count, pos = _open_container(data, 1)
    stack: list[list] = [[True, kind, count]]  # [is_object, element type, elements left or None]
    keys: list[bytes] = []
    while stack:
        frame = stack[-1]
        if frame[2] is None and data[pos] == ord("}" if frame[0] else "]"):
            pos += 1
            stack.pop()
            continue
        if frame[2] == 0:
            stack.pop()
            continue
        if frame[2] is not None:
            if not frame[0] and frame[1] in _SIZES:  # a typed array of numbers: skip it whole
                pos += frame[2] * _SIZES[frame[1]]
                frame[2] = 0
                continue
            frame[2] -= 1
        if frame[0]:
            length, pos = _read_int(data, pos)
            if len(stack) == 1:
                keys.append(data[pos : pos + length])
            pos += length
        marker = frame[1]
        if marker is None:
            marker, pos = data[pos], pos + 1
        pos = _skip_value(data, pos, marker, stack)
        if pos > len(data):
            raise ValueError("the file ends early")
    if pos > len(data):
        raise ValueError("the file ends early")
    if pos < len(data):
        raise ValueError(f"{len(data) - pos} bytes after the end of the model")
    return keys


def _skip_value(data: bytes, pos: int, marker: int, stack: list[list]) -> int:
    if marker in _SIZES:
        return pos + _SIZES[marker]
    if marker in _EMPTY:
        return pos
    if marker in (ord("S"), ord("H")):
        length, pos = _read_int(data, pos)
        return pos + length
    if marker in (ord("{"), ord("[")):
        if len(stack) >= _MAX_DEPTH:
            raise ValueError(f"nested deeper than {_MAX_DEPTH} levels")
        kind, count, pos = _open_container(data, pos)
        stack.append([marker == ord("{"), kind, count])
        return pos
    raise ValueError(f"unknown UBJSON marker {chr(marker)!r} at byte {pos - 1}")
