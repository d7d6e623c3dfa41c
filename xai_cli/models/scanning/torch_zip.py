"""Scanning PyTorch files (torch.save zip archives, TorchScript archives) without importing torch.

A torch.save file is a zip archive whose ``data.pkl`` is a pickle; ``torch.load`` unpickles it. The
names it asks for are judged against what ``torch.load(weights_only=True)`` admits by default, so a
file that passes loads as plain tensors and containers; anything else (a pickled ``nn.Module``, a
payload) needs full unpickling, i.e. running code from the file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from xai_cli.errors import InputError
from xai_cli.models.safe_pickle import list_pickle_stream
from xai_cli.models.scanning.base import Finding, ScanResult
from xai_cli.models.scanning.pickles import findings_of

_TENSOR_KINDS = ("BFloat16", "Bool", "Byte", "Char", "Double", "Float", "Half", "Int", "Long", "Short")
_STORAGE_ONLY = ("ComplexDouble", "ComplexFloat", "QInt32", "QInt8", "QUInt2x4", "QUInt4x2", "QUInt8")
_DTYPES = (
    "bfloat16", "bits16", "bits1x8", "bits2x4", "bits4x2", "bits8", "bool", "complex128", "complex32",
    "complex64", "float16", "float32", "float4_e2m1fn_x2", "float64", "float8_e4m3fn", "float8_e4m3fnuz",
    "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu", "qint32", "qint8", "quint2x4", "quint4x2", "quint8",
    *(f"int{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64)),
    *(f"uint{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64)),
    "per_channel_affine", "per_channel_affine_float_qparams", "per_channel_symmetric",
    "per_tensor_affine", "per_tensor_symmetric",
)  # fmt: skip
_REBUILD = (
    "_rebuild_device_tensor_from_cpu_tensor", "_rebuild_device_tensor_from_numpy",
    "_rebuild_meta_tensor_no_storage", "_rebuild_nested_tensor", "_rebuild_parameter",
    "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor", "_rebuild_tensor",
    "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_wrapper_subclass",
)  # fmt: skip

# What torch.load(weights_only=True) admits by default (torch 2.x, torch/_weights_only_unpickler.py
# _get_allowed_globals), written out so that the scan needs no torch.
TORCH_WEIGHTS_ONLY: frozenset[str] = frozenset(
    {
        "_codecs.encode", "builtins.bytearray", "builtins.complex", "builtins.set",
        "collections.Counter", "collections.OrderedDict", "torch.Size", "torch.Tensor", "torch.device",
        "torch.nn.parameter.Parameter", "torch.serialization._get_layout",
        "torch._tensor._rebuild_from_type_v2", "torch.storage.TypedStorage", "torch.storage.UntypedStorage",
        *(f"torch.{kind}Storage" for kind in _TENSOR_KINDS + _STORAGE_ONLY),
        *(f"torch.{kind}Tensor" for kind in _TENSOR_KINDS),
        *(f"torch.cuda.{kind}Storage" for kind in _TENSOR_KINDS + _STORAGE_ONLY[:2]),
        *(f"torch.cuda.{kind}Tensor" for kind in _TENSOR_KINDS),
        *(f"torch.{sparse}.{kind}Tensor" for sparse in ("sparse", "cuda.sparse") for kind in _TENSOR_KINDS
          if kind != "Bool"),
        *(f"torch.{dtype}" for dtype in _DTYPES),
        *(f"torch._utils.{name}" for name in _REBUILD),
    }
)  # fmt: skip

TORCH_CHECKED = (
    "every class and function the pickle inside the archive would import, against what "
    "torch.load(weights_only=True) admits by default"
)
TORCHSCRIPT_CHECKED = (
    "the pickles inside the archive (constants and attributes): only torch types and the archive's "
    "own TorchScript classes"
)
TORCHSCRIPT_NOT_CHECKED = (
    "the TorchScript code under code/, which torch.jit.load compiles and runs in its own interpreter "
    "(it cannot import Python modules, but this scan does not judge what it does)"
)


def _weights_only(module: str, name: str) -> bool:
    return f"{module}.{name}" in TORCH_WEIGHTS_ONLY


def _torchscript_name(module: str, name: str) -> bool:
    return module == "__torch__" or module.startswith("__torch__.") or _weights_only(module, name)


def _pickle_members(path: Path) -> list[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(path) as archive:
            return [(n, archive.read(n)) for n in archive.namelist() if n.endswith(".pkl")]
    except Exception as exc:  # zipfile raises BadZipFile, NotImplementedError, ValueError, ...
        raise InputError(f"{path}: a damaged zip archive ({exc}); save the model again") from exc


def scan_torch(path: Path, file_format: str) -> ScanResult:
    """Judge the pickles of a torch.save archive (or a TorchScript archive) without loading them."""
    import io

    torchscript = file_format == "torchscript"
    judge = _torchscript_name if torchscript else _weights_only
    findings: list[Finding] = []
    members = _pickle_members(path)
    if not members:
        raise InputError(f"{path}: a PyTorch archive without a data.pkl; save the model again")
    for member, data in members:
        try:
            listing = list_pickle_stream(io.BytesIO(data))
        except Exception as exc:
            raise InputError(
                f"{path}: {member} inside the archive is not a readable pickle ({type(exc).__name__}: {exc})"
            ) from exc
        findings += findings_of(listing, judge, member)
    if torchscript:
        return ScanResult(path, file_format, findings, TORCHSCRIPT_CHECKED, TORCHSCRIPT_NOT_CHECKED)
    return ScanResult(path, file_format, findings, TORCH_CHECKED)
