"""``load_model(path, trust)``: any supported model file as the one ``Model`` shape."""

from __future__ import annotations

import hashlib
from pathlib import Path

from xai_cli.errors import InputError, UnsafeModelError
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


def load_model(path: Path, *, trust: bool = False) -> Model:
    """Load a model file safely: pickles through the allow-list unless ``trust`` is set."""
    file_format = detect_format(path)
    sha256 = file_sha256(path)
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
        from xai_cli.models.integrity import check_model_integrity

        check_model_integrity(obj, path)
    if isinstance(obj, type):
        raise InputError(
            f"{path}: the file holds the class {obj.__name__}, not a fitted model; save the fitted model"
        )
    try:
        return from_estimator(obj, path=path, sha256=sha256, file_format=file_format)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        # A damaged or unfitted estimator: attributes missing or of the wrong kind.
        raise InputError(
            f"{path}: the file holds a {type(obj).__name__} that is not a usable fitted model "
            f"({type(exc).__name__}: {str(exc)[:200]}); save the fitted model again"
        ) from exc


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
    from xai_cli.models.scanning.skops_schema import refused_skops_types

    refused = refused_skops_types(untrusted)
    if refused and not trust:
        listed = ", ".join(refused[:5]) + (" ..." if len(refused) > 5 else "")
        raise UnsafeModelError(
            f"{path}: refused to load: the file asks for types skops does not trust: {listed}; {TRUST_HINT}"
        )
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as exc:
        raise InputError(f"{path}: not a readable skops file ({exc})") from exc
