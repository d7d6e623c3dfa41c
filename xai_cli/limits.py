"""Size limits on what a file may make xai decode or allocate, with their documented defaults.

A small file can describe a huge object: a PNG of 13000x13000 pixels compresses to kilobytes, a CSV
header can name ten million columns, a 400-byte ONNX graph can ask for a tensor of many gigabytes.
Each reader checks the size a file declares against these limits BEFORE it decodes or allocates, and
refuses with an InputError (exit 3) naming the file, the size, the limit and how to raise it.

Every limit can be raised with an environment variable (read at each check, so worker processes see
it too); ``xai attention --max-pixels N`` sets the pixel limit for one run (``limits_override``).

A leaf module: it imports nothing from xai_cli but the errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from xai_cli.errors import UsageError

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Limit:
    """One limit: its default, the environment variable that raises it, and the option (if any)."""

    name: str
    default: int
    envvar: str
    unit: str
    option: str | None = None

    @property
    def how_to_raise(self) -> str:
        """'pass --max-pixels N (or set XAI_MAX_PIXELS=N)' for a message."""
        if self.option:
            return f"pass {self.option} N (or set {self.envvar}=N) if you trust the file"
        return f"set {self.envvar}=N to raise it if you trust the file"


# 64 megapixels (8192 x 8192): above every camera sensor sold today (61 MP) and any phone photo, far
# above what image models take (they resize to <= 1024 px a side). Pillow's own default (89 MP) only
# warns, and errors at twice that; decoding at the limit costs about 256 MB (4 bytes a pixel).
MAX_PIXELS = Limit("pixels", 64_000_000, "XAI_MAX_PIXELS", "pixels", "--max-pixels")
# Real wide tables (genomics, one-hot text) reach tens of thousands of columns; pandas is still usable.
MAX_CSV_COLUMNS = Limit("columns", 100_000, "XAI_MAX_CSV_COLUMNS", "columns")
# One value; long free text is kilobytes. 1 MiB keeps a quoted blob from costing more than the file.
MAX_CSV_FIELD_BYTES = Limit("field bytes", 1 * MiB, "XAI_MAX_CSV_FIELD_BYTES", "bytes")
# One line (a logical row: quoted line breaks do not end it): 100,000 columns of ~160 bytes.
MAX_CSV_LINE_BYTES = Limit("line bytes", 16 * MiB, "XAI_MAX_CSV_LINE_BYTES", "bytes")
# Parquet: the decoded size of one row group (about what the streamed reader holds at a time), from
# the footer: the size it declares, or rows x the width of the fixed-size columns, the larger.
MAX_ROW_GROUP_BYTES = Limit("row-group bytes", 2 * GiB, "XAI_MAX_ROW_GROUP_BYTES", "bytes")
# Parquet, whole-file reads: a file that decodes to more than 1 GiB and more than this many times its
# own size (run-length encoding of one repeated value does that; real tables compress 2-20x).
MAX_PARQUET_EXPANSION = Limit("expansion", 1000, "XAI_MAX_PARQUET_EXPANSION", "times the file's size")
# ONNX: one tensor (an initializer, a constant, or any value at the batch xai runs: 256 rows).
# An XGBoost JSON/UBJSON or LightGBM text model is read whole to be verified (JSON parsed into Python
# objects, about 10x its size): 1 GiB holds ensembles of tens of thousands of deep trees.
MAX_BOOSTER_FILE_BYTES = Limit("model file bytes", 1 * GiB, "XAI_MAX_BOOSTER_FILE_BYTES", "bytes")
MAX_TENSOR_BYTES = Limit("tensor bytes", 2 * GiB, "XAI_MAX_TENSOR_BYTES", "bytes")
# ONNX: onnxruntime's CPU arena for one run (the values a run computes; weights are not in it).
MAX_ONNX_ARENA_BYTES = Limit("arena bytes", 4 * GiB, "XAI_MAX_ONNX_ARENA_BYTES", "bytes")

ALL_LIMITS = (
    MAX_PIXELS,
    MAX_CSV_COLUMNS,
    MAX_CSV_FIELD_BYTES,
    MAX_CSV_LINE_BYTES,
    MAX_ROW_GROUP_BYTES,
    MAX_PARQUET_EXPANSION,
    MAX_TENSOR_BYTES,
    MAX_ONNX_ARENA_BYTES,
)

_OVERRIDES: dict[str, int] = {}


def limit_value(limit: Limit) -> int:
    """The limit in force: an override for this run, else the environment variable, else the default."""
    if limit.envvar in _OVERRIDES:
        return _OVERRIDES[limit.envvar]
    text = os.environ.get(limit.envvar, "").strip().replace("_", "")
    if not text:
        return limit.default
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{limit.envvar}={text!r}: expected a whole number of {limit.unit}") from None
    if value < 1:
        raise UsageError(f"{limit.envvar}={value}: must be positive")
    return value


@contextmanager
def limits_override(values: dict[Limit, int | None]) -> Iterator[None]:
    """Within the block, the given limits (those not None) take these values (a command's options)."""
    saved = dict(_OVERRIDES)
    for limit, value in values.items():
        if value is not None:
            _OVERRIDES[limit.envvar] = value
    try:
        yield
    finally:
        _OVERRIDES.clear()
        _OVERRIDES.update(saved)


def size_text(count: int, unit: str = "bytes") -> str:
    """'13,000,000 bytes = 12.4 MiB' style, for messages."""
    if unit != "bytes" or count < MiB:
        return f"{count:,} {unit}"
    scaled = f"{count / GiB:.1f} GiB" if count >= GiB else f"{count / MiB:.1f} MiB"
    return f"{count:,} bytes = {scaled}"
