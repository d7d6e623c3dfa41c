"""Which format a model file is in: magic bytes first, then the suffix."""

from __future__ import annotations

import re
from pathlib import Path

from xai_cli.errors import InputError

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".sav"})
TORCH_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".ckpt"})
BOOSTER_SUFFIXES = {
    ".json": "xgboost-json",
    ".ubj": "xgboost-ubj",
    ".txt": "lightgbm-txt",
    ".model": "lightgbm-txt",  # an older name for LightGBM text models
}
# joblib's compressors: zlib, gzip, bz2, xz, lzma (raw 'alone' format), lz4.
COMPRESSED_MAGIC = (b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x5d\x00\x00", b"\x04\x22\x4d\x18")


def detect_format(path: Path) -> str:
    """Return 'pickle', 'joblib', 'skops', 'keras', 'keras-h5', 'torch', 'torchscript', 'torch-export',
    'onnx', 'xgboost-json', 'xgboost-ubj' or 'lightgbm-txt'.

    A file that is none of them raises InputError naming the file.
    """
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a model file")
    with path.open("rb") as handle:
        head = handle.read(32)
    if not head:
        raise InputError(f"{path}: the file is empty, expected a saved model")
    suffix = path.suffix.lower()
    if head.startswith(b"PK\x03\x04"):
        return _zip_format(path)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "keras-h5"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        if suffix in TORCH_SUFFIXES:
            return "torch"
        return "joblib" if suffix == ".joblib" else "pickle"
    if head.startswith(COMPRESSED_MAGIC) and suffix in PICKLE_SUFFIXES:
        return "joblib"
    if suffix in PICKLE_SUFFIXES:
        return "joblib" if suffix == ".joblib" else "pickle"
    if suffix == ".onnx":
        return "onnx"
    booster = _booster_format(head, suffix)
    if booster is not None:
        return booster
    raise InputError(
        f"{path}: not a model file this tool knows (first bytes {head[:8]!r}); expected a scikit-learn "
        "model saved with joblib or pickle (.joblib, .pkl), a .skops file, a Keras, PyTorch or ONNX file, "
        "an XGBoost .json/.ubj or a LightGBM .txt model"
    )


def _booster_format(head: bytes, suffix: str) -> str | None:
    """XGBoost JSON/UBJSON or LightGBM text by their first bytes, else by the suffix when the file at least
    opens like one (an object, or LightGBM's 'tree' line), so the scanner says what is wrong with it.
    None for anything else: a CSV or notes saved as .txt stay 'not a model file'."""
    if head.startswith(b"tree\nversion="):
        return "lightgbm-txt"
    if head.startswith(b"{") and len(head) > 1 and head[1] in b"iUIlL" and b"learner" in head:
        return "xgboost-ubj"
    if re.match(rb'\s*\{\s*"learner"', head):
        return "xgboost-json"
    guess = BOOSTER_SUFFIXES.get(suffix)
    if guess == "lightgbm-txt" and head.startswith(b"tree"):
        return guess
    if guess in ("xgboost-json", "xgboost-ubj") and head.lstrip().startswith(b"{"):
        return guess
    return None


def _zip_format(path: Path) -> str:
    from xai_cli.models.scanning.zip_limits import open_archive

    # The central directory is checked against the zip limits here, before any reader inflates a member.
    with open_archive(path) as archive:
        names = archive.namelist()
    if "schema.json" in names:
        return "skops"
    if "config.json" in names and any(n.endswith(".weights.h5") or n == "metadata.json" for n in names):
        return "keras"
    if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
        return "torch-export"
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        return "torchscript"
    if any(n.endswith("data.pkl") for n in names):
        return "torch"
    raise InputError(f"{path}: a zip archive that is neither a skops, Keras nor PyTorch model")
