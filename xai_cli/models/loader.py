"""``load_model(path, trust)``: any supported model file as the one ``Model`` shape."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType

from xai_cli.errors import InputError, UnsafeModelError, UsageError
from xai_cli.models.base import Model
from xai_cli.models.detect import detect_format

TRUST_HINT = "if you trust this file, pass --trust-model (or set XAI_TRUST_MODEL=1)"


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


DEEP_FORMATS = frozenset({"keras", "keras-h5", "torch", "torchscript", "torch-export", "onnx"})
BOOSTER_FORMATS = frozenset({"xgboost-json", "xgboost-ubj", "lightgbm-txt"})


def load_model(
    path: Path,
    *,
    trust: bool = False,
    arch: str | None = None,
    code: Path | None = None,
    device: str = "cpu",
) -> Model:
    """Load a model file safely: pickles through the allow-list unless ``trust`` is set.

    Deep-learning files (Keras, PyTorch, ONNX) take ``device`` (auto/cpu/cuda), ``code`` (the user's
    .py file that defines custom classes) and, for a PyTorch state_dict, ``arch`` (module:factory).
    """
    file_format = detect_format(path)
    sha256 = file_sha256(path)
    if file_format in DEEP_FORMATS:
        return _load_deep(path, file_format, sha256, trust=trust, arch=arch, code=code, device=device)
    if arch is not None or code is not None:
        raise UsageError(f"{path}: --arch and --code apply to PyTorch and Keras files, not {file_format}")
    if file_format in BOOSTER_FORMATS:
        return _load_booster_file(path, file_format, sha256)
    if file_format in ("pickle", "joblib"):
        from xai_cli.models.safe_pickle import load_pickle

        obj = load_pickle(path, trust=trust)
    elif file_format == "skops":
        obj = _load_skops(path, trust=trust)
    else:
        raise InputError(
            f"{path}: {file_format} models are not supported by this version; "
            "use a scikit-learn model saved with joblib, pickle or skops"
        )
    from xai_cli.models.sklearn import from_estimator

    if not trust:
        from xai_cli.models.audit import audit_model
        from xai_cli.models.integrity import check_model_integrity

        audit_model(obj, path)  # before any method of the loaded object runs
        check_model_integrity(obj, path)
    if isinstance(obj, type):
        raise InputError(
            f"{path}: the file holds the class {obj.__name__}, not a fitted model; save the fitted model"
        )
    from xai_cli.models.boosters import from_booster, is_raw_booster

    try:
        if is_raw_booster(obj):
            return from_booster(obj, path=path, sha256=sha256, file_format=file_format)
        return from_estimator(obj, path=path, sha256=sha256, file_format=file_format)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        # A damaged or unfitted estimator: attributes missing or of the wrong kind.
        raise InputError(
            f"{path}: the file holds a {type(obj).__name__} that is not a usable fitted model "
            f"({type(exc).__name__}: {str(exc)[:200]}); save the fitted model again"
        ) from exc


def _load_booster_file(path: Path, file_format: str, sha256: str) -> Model:
    """An XGBoost JSON/UBJSON or LightGBM text model: data only, so it loads without --trust-model once
    the scanner's checks say it really is one."""
    from xai_cli.models import boosters
    from xai_cli.models.scanning.booster_files import (
        verify_lightgbm_txt,
        verify_xgboost_json,
        verify_xgboost_ubj,
    )

    if file_format == "lightgbm-txt":
        verify_lightgbm_txt(path)
        _require(path, "lightgbm", "lightgbm")
        return boosters.lightgbm_from_file(path, sha256=sha256, file_format=file_format)
    (verify_xgboost_json if file_format == "xgboost-json" else verify_xgboost_ubj)(path)
    _require(path, "xgboost", "xgboost")
    return boosters.xgboost_from_file(path, sha256=sha256, file_format=file_format)


def _load_deep(
    path: Path,
    file_format: str,
    sha256: str,
    *,
    trust: bool,
    arch: str | None,
    code: Path | None,
    device: str,
) -> Model:
    from xai_cli.models.deep import model_from_network
    from xai_cli.models.device import resolve_device
    from xai_cli.models.network import Network

    code_module: ModuleType | None = None
    network: Network
    if arch is not None and file_format != "torch":
        raise UsageError(f"{path}: --arch applies to a PyTorch state_dict file; this is a {file_format} file")
    if code is not None and file_format == "onnx":
        raise UsageError(f"{path}: --code applies to PyTorch and Keras files; an ONNX file holds no Python")
    if file_format in ("keras", "keras-h5"):
        from xai_cli.models.keras import keras_backend, load_keras

        backend = keras_backend()
        resolved = resolve_device(device, "torch") if backend == "torch" else "cpu"
        if not trust:
            _refuse_unsafe_keras_config(path, file_format, user_code=code is not None)
        if code is not None:
            _import_code(code)
        network = load_keras(path, file_format, trust=trust, device=resolved)
    elif file_format == "onnx":
        from xai_cli.models.onnx import checked_onnx_graph, load_onnx

        _require(path, "onnxruntime", "onnx")
        fold = checked_onnx_graph(path) if not trust else True
        network = load_onnx(path, device=resolve_device(device, "onnx"), fold_constants=fold)
    else:
        from xai_cli.models.torch import load_torch

        _require(path, "torch", "torch")
        if code is not None:
            code_module = _import_code(code)
        network = load_torch(
            path,
            file_format,
            trust=trust,
            arch=arch,
            code=code_module,
            device=resolve_device(device, "torch"),
        )
    return model_from_network(network, path=path, sha256=sha256, file_format=file_format)


def _refuse_unsafe_keras_config(path: Path, file_format: str, *, user_code: bool) -> None:
    """Judge the Keras config before Keras reads it: Lambda bytecode, Keras helpers that are no part of a
    model, and classes from outside Keras (unless the user gave their own ``--code`` for them) are refused.

    Keras' own safe mode catches Lambda layers only; a class named from another module would make Keras
    try to resolve it, so it is refused here, before anything is imported.
    """
    from xai_cli.models.scanning.keras_config import scan_keras, scan_keras_h5

    scan = scan_keras(path, file_format) if file_format == "keras" else scan_keras_h5(path, file_format)
    for finding in scan.refused:
        if finding.kind == "custom-object" and user_code:
            continue
        if finding.kind == "lambda":
            raise UnsafeModelError(
                f"{path}: refused to load: the model has a Lambda layer holding Python code "
                f"('{finding.name}'), which Keras' safe mode does not run; {TRUST_HINT}"
            )
        what = f" ({finding.detail})" if finding.detail else ""
        raise UnsafeModelError(
            f"{path}: refused to load: the model config asks for '{finding.name}'{what}; {TRUST_HINT}"
        )


def _import_code(code: Path) -> ModuleType:
    from xai_cli.models.user_code import import_code_file

    return import_code_file(code)


def _require(path: Path, package: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(package) is None:
        raise InputError(f"{path}: this model needs the {package} package: pip install 'xai-cli[{extra}]'")


def _load_skops(path: Path, *, trust: bool) -> object:
    try:
        import skops.io as sio
    except ImportError as exc:
        raise InputError(
            f"{path}: a .skops file needs the skops package: pip install 'xai-cli[skops]'"
        ) from exc
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable skops file ({exc})") from exc
    if trust:
        try:
            return sio.load(path, trusted=untrusted)
        except Exception as exc:
            raise InputError(f"{path}: not a readable skops file ({exc})") from exc
    from xai_cli.models.scanning.skops_schema import load_checked_skops

    return load_checked_skops(path)
