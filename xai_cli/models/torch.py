"""PyTorch files as a ``Network``: TorchScript, ``torch.export`` programs, state_dicts, pickled modules.

Safety: TorchScript and ``torch.export`` files are scanned before torch reads them (unless
``--trust-model``), with the same scanners ``xai scan`` uses, so scan and load agree: every operator
their code or graphs call must be on the allow-list of network operators (``aten::from_file``,
``aten::save`` and anything unknown are refused), and every pickled payload must pass ``weights_only``.
``torch.load`` always runs with ``weights_only=True`` (tensors and plain containers only) unless
``--trust-model``, so a whole pickled ``nn.Module`` is refused unless trusted. Every zip archive's
central directory is checked against the zip limits (``scanning/zip_limits.py``) first, trusted or not.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from xai_cli.errors import InputError, UnsafeModelError, UsageError
from xai_cli.models.network import Network
from xai_cli.models.torch_networks import EagerNetwork, ExportedNetwork, ScriptNetwork

TRUST_HINT = "if you trust this file, pass --trust-model (or set XAI_TRUST_MODEL=1)"
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


def load_torch(
    path: Path,
    file_format: str,
    *,
    trust: bool,
    arch: str | None,
    code: ModuleType | None,
    device: str,
) -> Network:
    """Load a PyTorch file of the detected format onto ``device``."""
    import torch

    if zipfile.is_zipfile(path):
        from xai_cli.models.scanning.zip_limits import check_zip_file

        check_zip_file(path, "PyTorch archive")
        if not trust and file_format in ("torch", "torchscript"):
            from xai_cli.models.scanning.torch_zip import scan_torch

            refuse_unsafe(scan_torch(path, file_format))  # what `xai scan` refuses, in the same words
    if file_format == "torchscript":
        try:
            module = torch.jit.load(str(path), map_location=device)
        except Exception as exc:
            raise InputError(f"{path}: not a readable TorchScript file ({_first_line(exc)})") from exc
        return ScriptNetwork(module.eval(), device)
    if file_format == "torch-export":
        if not trust:
            check_export_archive(path)
        try:
            program = torch.export.load(str(path))
        except Exception as exc:
            raise InputError(f"{path}: not a readable torch.export program ({_first_line(exc)})") from exc
        return ExportedNetwork(program, device)
    obj = _torch_load(path, trust=trust, code=code)
    classes: list[Any] | None = None
    if isinstance(obj, torch.nn.Module):
        module = obj
    else:
        state_dict, classes = _state_dict_of(obj, path)
        if arch is None:
            raise UsageError(
                f"{path}: holds only weights (a state_dict); pass --arch package.module:factory naming "
                "a function that builds the network (and --code file.py if it is not importable)"
            )
        from xai_cli.models.user_code import build_from_factory

        module = build_from_factory(arch)
        if not isinstance(module, torch.nn.Module):
            raise InputError(f"--arch {arch}: built a {type(module).__name__}, not a torch.nn.Module")
        try:
            module.load_state_dict(state_dict)
        except RuntimeError as exc:
            raise InputError(
                f"{path}: the weights do not fit the network that --arch {arch} builds: {_first_line(exc)}"
            ) from exc
    network = EagerNetwork(module.to(device).eval(), device)
    if classes is not None:
        network.declared_classes = classes
    return network


def _torch_load(path: Path, *, trust: bool, code: ModuleType | None) -> Any:
    import torch

    if not trust:
        try:
            return torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise UnsafeModelError(
                f"{path}: refused to load: the file is a pickled Python object, not only weights "
                f"({_unsupported_global(exc)}); save model.state_dict() and pass --arch, or export with "
                f"TorchScript / torch.export; {TRUST_HINT}"
            ) from exc
        except Exception as exc:
            raise InputError(f"{path}: not a readable PyTorch file ({_first_line(exc)})") from exc
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=_pickle_with(code))
    except (AttributeError, ModuleNotFoundError) as exc:
        raise InputError(
            f"{path}: the pickled model needs a class that is not importable ({_first_line(exc)}); "
            "pass --code file.py that defines it"
        ) from exc
    except Exception as exc:
        raise InputError(f"{path}: not a readable PyTorch file ({_first_line(exc)})") from exc


def _pickle_with(code: ModuleType | None) -> Any:
    """A pickle module whose Unpickler finds classes pickled from ``__main__`` in the --code file."""
    if code is None:
        return pickle

    class CodeUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module == "__main__" and hasattr(code, name):
                return getattr(code, name)
            return super().find_class(module, name)

    return SimpleNamespace(Unpickler=CodeUnpickler, load=pickle.load, __name__="pickle")


def _unsupported_global(exc: Exception) -> str:
    for line in str(exc).splitlines():
        if "Unsupported global" in line or "GLOBAL" in line:
            return line.strip().rstrip(".")
    return "torch.load(weights_only=True) refused it"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _state_dict_of(obj: Any, path: Path) -> tuple[dict[str, Any], list[Any] | None]:
    """A state_dict, bare or inside a checkpoint dict (with an optional ``classes`` list)."""
    import torch

    if not isinstance(obj, dict):
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a network's weights or a module")
    classes = obj.get("classes") if isinstance(obj.get("classes"), list | tuple) else None
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, None
    for key in CHECKPOINT_KEYS:
        inner = obj.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            return inner, list(classes) if classes is not None else None
    raise InputError(
        f"{path}: a dict without a state_dict of tensors (looked at the file itself and the keys "
        f"{', '.join(CHECKPOINT_KEYS)})"
    )


def refuse_unsafe(result: Any) -> None:
    """Raise UnsafeModelError naming the first thing ``xai scan`` refuses in this file, if any."""
    refused = result.refused
    if not refused:
        return
    first = refused[0]
    if first.kind == "operator":
        part = "graph" if str(first.where).endswith(".json") else "code"
        what = f"its {part} ({first.where}) calls the operator '{first.name}'"
    elif first.kind == "custom-object":
        what = f"{first.where} is {first.detail or 'an object that needs full unpickling'}"
    else:
        what = f"{first.where} asks for '{first.name}'"
    if first.detail and first.kind != "custom-object":
        what += f" ({first.detail})"
    more = f", and {len(refused) - 1} more refused" if len(refused) > 1 else ""
    raise UnsafeModelError(f"{result.path}: refused to load: {what}{more}; {TRUST_HINT}")


def check_export_archive(path: Path) -> None:
    """Refuse a .pt2 archive that ``xai scan`` calls unsafe (operators off the allow-list, pickled
    payloads that need more than ``weights_only``, opaque objects, native code).

    ``torch.export.load`` falls back to a full unpickle when ``weights_only=True`` fails on a payload;
    so each payload is also loaded here with ``weights_only=True`` first, and one that torch itself
    cannot read that way is refused as unreadable before the fall-back can run.
    """
    import torch

    from xai_cli.models.scanning.torch_export_graph import payload_members, scan_torch_export
    from xai_cli.models.scanning.zip_limits import open_archive

    refuse_unsafe(scan_torch_export(path, "torch-export"))
    with open_archive(path, "torch.export archive") as archive:
        for member in payload_members(path, archive):
            try:
                with archive.open(member) as stream:
                    torch.load(stream, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise InputError(
                    f"{path}: member {member} is not a torch.save payload that weights_only can read "
                    f"({_first_line(exc)}); save the program again"
                ) from exc
