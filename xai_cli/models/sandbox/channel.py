"""The messages between a sandboxed model process and its parent, and how values cross in them.

A sandboxed process may be running code from a hostile file, so nothing it sends is unpickled: each
message is a JSON header (and an optional block of raw bytes, a report file's contents), and values are
rebuilt by ``decode_value`` from a closed set of shapes: JSON scalars, lists, tuples, dicts, paths,
numeric arrays, and dataclasses defined in xai_cli itself. Errors come back as xai_cli's own error
classes or as a few builtin exception types, with their message.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from xai_cli import errors

_HEADER = struct.Struct("<II")
# One message's JSON or body; a report larger than this is not one the tool writes.
MAX_PART_BYTES = 1 << 30
_BUILTIN_ERRORS = frozenset(
    {
        "ArithmeticError", "AssertionError", "AttributeError", "EOFError", "FloatingPointError",
        "ImportError", "IndexError", "KeyError", "LookupError", "MemoryError", "ModuleNotFoundError",
        "NotImplementedError", "OSError", "OverflowError", "PermissionError", "RecursionError",
        "RuntimeError", "TypeError", "UnicodeDecodeError", "ValueError", "ZeroDivisionError",
    }
)  # fmt: skip


class ChannelClosed(EOFError):
    """The other side closed the channel (or died) before a whole message arrived."""


class ProtocolError(ValueError):
    """A message that is not one this protocol sends: the sandboxed side is misbehaving."""


def send(fd: int, header: dict[str, Any], body: bytes = b"") -> None:
    """Write one message: its JSON header and its body."""
    data = json.dumps(header, allow_nan=True, separators=(",", ":")).encode("utf-8")
    _write_all(fd, _HEADER.pack(len(data), len(body)) + data)
    if body:
        _write_all(fd, body)


def receive(fd: int) -> tuple[dict[str, Any], bytes]:
    """Read one message; ChannelClosed if the other side is gone, ProtocolError if it is malformed."""
    header_size, body_size = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    if header_size > MAX_PART_BYTES or body_size > MAX_PART_BYTES:
        raise ProtocolError("a message larger than 1 GiB")
    try:
        header = json.loads(_read_exactly(fd, header_size))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"a message that is not JSON ({exc})") from exc
    if not isinstance(header, dict) or not isinstance(header.get("op"), str):
        raise ProtocolError("a message without an operation")
    return header, _read_exactly(fd, body_size) if body_size else b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise ChannelClosed("the sandboxed process closed the channel")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def encode_value(value: Any) -> Any:
    """``value`` as JSON-ready data that ``decode_value`` rebuilds; TypeError for other shapes."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return encode_value(value.item())
    if isinstance(value, list):
        return [encode_value(item) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(item) for item in value]}
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith("$") for key in value):
            return {key: encode_value(item) for key, item in value.items()}
        return {"$dict": [[encode_value(key), encode_value(item)] for key, item in value.items()]}
    if isinstance(value, Path):
        return {"$path": str(value)}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"$array": value.tolist(), "dtype": value.dtype.str}
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and _own_class(type(value)):
        fields = {f.name: encode_value(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return {"$dataclass": f"{type(value).__module__}:{type(value).__qualname__}", "fields": fields}
    raise TypeError(f"a {type(value).__name__} cannot leave the sandboxed process")


def decode_value(data: Any) -> Any:
    """Rebuild a value ``encode_value`` made; ProtocolError for anything else."""
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [decode_value(item) for item in data]
    if not isinstance(data, dict):
        raise ProtocolError(f"an unexpected {type(data).__name__}")
    if not any(key.startswith("$") for key in data):
        return {key: decode_value(item) for key, item in data.items()}
    if "$tuple" in data:
        return tuple(decode_value(item) for item in _list(data["$tuple"]))
    if "$dict" in data:
        return {_hashable(decode_value(pair[0])): decode_value(pair[1]) for pair in _pairs(data["$dict"])}
    if "$path" in data and isinstance(data["$path"], str):
        return Path(data["$path"])
    if "$array" in data and isinstance(data.get("dtype"), str):
        dtype = np.dtype(data["dtype"])
        if dtype.kind not in "biuf":
            raise ProtocolError(f"an array of dtype {dtype}")
        return np.asarray(decode_value(data["$array"]), dtype=dtype)
    if "$dataclass" in data and isinstance(data.get("fields"), dict):
        cls = _dataclass(data["$dataclass"])
        return cls(**{name: decode_value(item) for name, item in data["fields"].items()})
    raise ProtocolError(f"an unknown value tag {sorted(data)[:3]}")


def encode_error(exc: BaseException, traceback_text: str) -> dict[str, Any]:
    """An exception raised in the sandboxed process, as a message header."""
    return {
        "op": "error",
        "type": type(exc).__name__,
        "own": isinstance(exc, errors.XaiError),
        "message": str(exc),
        "exit_code": getattr(exc, "exit_code", None),
        "traceback": traceback_text,
    }


def decode_error(header: dict[str, Any]) -> BaseException:
    """The exception an ``error`` message describes: xai_cli's own class, a builtin one, or RuntimeError."""
    name, message = str(header.get("type")), str(header.get("message"))
    error: BaseException
    own = getattr(errors, name, None)
    if header.get("own") and isinstance(own, type) and issubclass(own, errors.XaiError):
        error = own(message)
        if isinstance(header.get("exit_code"), int) and type(error) is errors.XaiError:
            error.exit_code = header["exit_code"]
    elif name in _BUILTIN_ERRORS:
        error = getattr(builtins, name)(message)
    else:
        error = RuntimeError(f"{name}: {message}" if message else name)
    if isinstance(header.get("traceback"), str) and header["traceback"]:
        error.add_note(f"in the sandboxed model process:\n{header['traceback']}")
    return error


def _own_class(cls: type) -> bool:
    return cls.__module__ == "xai_cli" or cls.__module__.startswith("xai_cli.")


def _dataclass(name: object) -> type:
    if not isinstance(name, str) or ":" not in name:
        raise ProtocolError("a dataclass without a name")
    module_name, _, qualname = name.partition(":")
    if not (module_name.startswith("xai_cli.") and qualname.isidentifier()):
        raise ProtocolError(f"a dataclass from outside xai_cli ({name})")
    try:
        cls = getattr(importlib.import_module(module_name), qualname)
    except (ImportError, AttributeError) as exc:
        raise ProtocolError(f"an unknown dataclass {name}") from exc
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and _own_class(cls)):
        raise ProtocolError(f"{name} is not one of xai_cli's dataclasses")
    return cls


def _list(data: object) -> list[Any]:
    if not isinstance(data, list):
        raise ProtocolError("a malformed list")
    return data


def _pairs(data: object) -> list[list[Any]]:
    items = _list(data)
    if not all(isinstance(pair, list) and len(pair) == 2 for pair in items):
        raise ProtocolError("a malformed mapping")
    return items


def _hashable(key: Any) -> Any:
    try:
        hash(key)
    except TypeError as exc:
        raise ProtocolError("a mapping key that cannot be a key") from exc
    return key
