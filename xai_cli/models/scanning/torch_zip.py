"""Scanning PyTorch files (torch.save zip archives, TorchScript archives) without importing torch.

A torch.save file is a zip archive whose ``data.pkl`` is a pickle; ``torch.load`` unpickles it. The
names it asks for are judged against what ``torch.load(weights_only=True)`` admits by default, so a
file that passes loads as plain tensors and containers; anything else (a pickled ``nn.Module``, a
payload) needs full unpickling, i.e. running code from the file.

A TorchScript archive is judged whole: its pickles (``data.pkl``, ``constants.pkl``, debug tables) may
name only torch's tensor rebuilders, the list/tensor helpers of ``torch.jit._pickle`` and the archive's
own classes; and its code (``code/**/*.py``, read with ``ast`` by ``torchscript_ops``) may call only
operators on the allow-list (``torch_operators``). Every operator is reported, allowed or refused.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from xai_cli.errors import InputError
from xai_cli.models.safe_pickle import list_pickle_stream
from xai_cli.models.scanning.base import Finding, ScanResult
from xai_cli.models.scanning.pickles import NameJudge, findings_of
from xai_cli.models.scanning.torch_operators import ALLOWED_OPERATORS, ATEN_NAMES, judge_operator
from xai_cli.models.scanning.torchscript_ops import (
    UNPARSABLE,
    declared_attributes,
    defined_methods,
    distinct,
    operator_uses,
    parse_source,
)
from xai_cli.models.scanning.zip_limits import ScanBudget, open_archive, read_member

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

# torch/jit/_pickle.py: what TorchScript's pickler writes around lists and tensors. Each returns its
# argument (build_intlist, build_tensorlist, build_doublelist, build_boollist, restore_type_tag) or an
# int id (build_tensor_from_id); TorchScript's C++ unpickler handles them itself.
TORCHSCRIPT_PICKLE_HELPERS: frozenset[str] = frozenset(
    f"torch.jit._pickle.{name}"
    for name in (
        "build_intlist", "build_tensorlist", "build_doublelist", "build_boollist", "build_tensor_from_id",
        "restore_type_tag",
    )
)  # fmt: skip

TORCH_CHECKED = (
    "every class and function the pickle inside the archive would import, against what "
    "torch.load(weights_only=True) admits by default"
)
TORCHSCRIPT_CHECKED = (
    "the TorchScript code under code/ (every operator it calls, against the allow-list of network "
    "operators) and the pickles inside the archive (torch tensor types, torch.jit._pickle list helpers "
    "and the archive's own TorchScript classes only)"
)


def weights_only_name(module: str, name: str) -> bool:
    """Whether ``torch.load(weights_only=True)`` admits ``module.name`` by default."""
    return f"{module}.{name}" in TORCH_WEIGHTS_ONLY


def torchscript_name(module: str, name: str) -> bool:
    """Whether a TorchScript pickle may name ``module.name``: the archive's own classes (not a
    torchbind class under ``__torch__.torch.classes``), tensor types, the list helpers."""
    if module == "__torch__.torch.classes" or module.startswith("__torch__.torch.classes."):
        return False
    full = f"{module}.{name}"
    return (
        module == "__torch__"
        or module.startswith("__torch__.")
        or full in TORCH_WEIGHTS_ONLY
        or full in TORCHSCRIPT_PICKLE_HELPERS
    )


def pickle_findings(path: Path, member: str, data: bytes, judge: NameJudge) -> list[Finding]:
    """The findings of one pickle member, listed without loading it."""
    try:
        listing = list_pickle_stream(io.BytesIO(data))
    except Exception as exc:
        raise InputError(
            f"{path}: {member} inside the archive is not a readable pickle ({type(exc).__name__}: {exc})"
        ) from exc
    return findings_of(listing, judge, member)


def _is_pickle(name: str) -> bool:
    return name.lower().endswith((".pkl", ".debug_pkl"))


def _code_findings(path: Path, archive: zipfile.ZipFile, budget: ScanBudget) -> list[Finding]:
    sources = {}
    for name in archive.namelist():
        if name.lower().endswith(".py"):
            sources[name] = parse_source(read_member(path, archive, name, budget=budget))
    parsed = [m for m in sources.values() if not isinstance(m, str)]
    methods, attributes = defined_methods(parsed), declared_attributes(parsed)
    findings: list[Finding] = []
    for name, module in sources.items():
        if isinstance(module, str):
            findings.append(Finding(UNPARSABLE, "operator", False, name, module))
            continue
        for op, line, count, detail in distinct(
            operator_uses(module, methods, ATEN_NAMES, ALLOWED_OPERATORS, attributes)
        ):
            allowed, why = judge_operator(op)
            uses = f"line {line}" + (f", {count} uses" if count > 1 else "")
            findings.append(
                Finding(op, "operator", allowed, name, f"{detail or why}; {uses}" if not allowed else uses)
            )
    return findings


def scan_torch(path: Path, file_format: str) -> ScanResult:
    """Judge a torch.save archive (its pickle) or a TorchScript archive (pickles, code); load nothing."""
    torchscript = file_format == "torchscript"
    judge = torchscript_name if torchscript else weights_only_name
    findings: list[Finding] = []
    budget = ScanBudget()
    with open_archive(path, "PyTorch archive") as archive:
        members = [
            n for n in archive.namelist() if _is_pickle(n) and (torchscript or n.lower().endswith(".pkl"))
        ]
        if not any(n.lower().endswith("data.pkl") for n in members):
            raise InputError(f"{path}: a PyTorch archive without a data.pkl; save the model again")
        for member in members:
            findings += pickle_findings(
                path, member, read_member(path, archive, member, budget=budget), judge
            )
        if torchscript:
            findings += _code_findings(path, archive, budget)
    return ScanResult(path, file_format, findings, TORCHSCRIPT_CHECKED if torchscript else TORCH_CHECKED)
