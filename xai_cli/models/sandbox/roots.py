"""Which paths a sandboxed model process may read: the model, the data, the report folder, the Python
installation, and the few system files that shared libraries and numerical code read."""

from __future__ import annotations

import dataclasses
import os
import site
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

# Read by the dynamic loader, libc, OpenMP/BLAS (CPU topology), fonts for the plots, time zones.
SYSTEM_READ_PATHS = (
    "/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/share/fonts",
    "/usr/share/zoneinfo", "/usr/share/matplotlib", "/etc/ld.so.cache", "/etc/localtime", "/etc/fonts",
    "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/proc/cpuinfo", "/proc/meminfo",
    "/proc/stat", "/sys/devices/system/cpu", "/sys/devices/system/node", "/sys/fs/cgroup",
)  # fmt: skip


def args_paths(args: Any) -> list[Path]:
    """Every path-valued field of a command's arguments (model, data, --out, --background, --code, ...),
    and the folders of the code the model is built with (``--code``'s, the module ``--arch`` names)."""
    found: list[Path] = []
    if not dataclasses.is_dataclass(args):
        return found
    model = getattr(args, "model", None)
    if isinstance(model, Path) and model.is_file():
        found += model_companions(model)
    arch = getattr(args, "arch", None)
    if isinstance(arch, str) and ":" in arch:
        found += _module_folder(arch.partition(":")[0])
    code = getattr(args, "code", None)
    if isinstance(code, Path):
        found.append(code.parent)  # --code file.py imports its own module (and its neighbours)
    for field in dataclasses.fields(args):
        value = getattr(args, field.name)
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, Path):
                found.append(item)
            elif isinstance(item, str) and field.name == "background" and Path(item).is_file():
                found.append(Path(item))
    return found


def model_companions(model: Path) -> list[Path]:
    """Files a model file names beside itself and its library reads from C: an ONNX model's external
    data (already checked by the scan to lie in the model's folder)."""
    if model.suffix.lower() != ".onnx":
        return []
    from xai_cli.models.scanning.onnx_graph import external_data_files

    return external_data_files(model)


def _module_folder(module: str) -> list[Path]:
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    origin = getattr(spec, "origin", None)
    return [Path(origin).parent] if isinstance(origin, str) and os.path.isfile(origin) else []


def python_paths() -> list[Path]:
    """The Python installation: prefixes, site-packages, the import path (not the working folder, which
    holds the user's other files) and xai_cli's own folder."""
    import xai_cli

    cwd = os.path.realpath(os.getcwd())
    entries: list[str] = [sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()]
    entries.append(site.getusersitepackages())
    entries += [entry for entry in sys.path if entry and os.path.realpath(entry) != cwd]
    entries.append(os.path.dirname(os.path.realpath(xai_cli.__file__)))
    return [Path(entry) for entry in entries]


def import_path_folders() -> list[str]:
    """Folders on the import path, the working folder included: the import system and
    importlib.metadata list them (file names only: their files are not readable unless another root
    covers them), and read the package metadata folders in them."""
    folders = [os.path.realpath(entry or os.getcwd()) for entry in sys.path]
    return sorted({folder for folder in folders if os.path.isdir(folder)})


def metadata_folders(folders: Iterable[str]) -> list[Path]:
    """The installed packages' metadata folders (``*.dist-info``, ``*.egg-info``) inside ``folders``."""
    found: list[Path] = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found += [Path(folder, name) for name in names if name.endswith((".dist-info", ".egg-info"))]
    return found


def loaded_module_files() -> list[Path]:
    """The source files of the modules this process has imported: tracebacks and ``inspect`` read them
    (scripts and test files outside the Python installation among them)."""
    found: list[Path] = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(".py"):
            found.append(Path(file))
    return found


def user_config_paths() -> list[Path]:
    """Read-only configuration the libraries read at import or plot time (matplotlib, Keras)."""
    home = Path.home()
    found = [home / ".keras", home / ".config" / "matplotlib", home / ".cache" / "matplotlib"]
    if "matplotlib" in sys.modules:
        import matplotlib

        found += [Path(matplotlib.get_cachedir()), Path(matplotlib.get_configdir())]
    if os.environ.get("KERAS_HOME"):
        found.append(Path(os.environ["KERAS_HOME"]))
    return found


def read_roots(extra: Iterable[Path], *, model_folder: Path | None = None) -> list[str]:
    """The existing, resolved paths a sandboxed process may read, parents before children, no repeats."""
    candidates: list[Path] = [*extra, *python_paths(), *user_config_paths()]
    candidates += metadata_folders(import_path_folders())
    roots_so_far = sorted(set(_existing(candidates)))
    candidates += [path for path in loaded_module_files() if not is_within(str(path), roots_so_far)]
    candidates += [Path(path) for path in SYSTEM_READ_PATHS]
    candidates.append(Path(f"/proc/{os.getpid()}"))
    if model_folder is not None:
        candidates.append(model_folder)
    return sorted(set(_existing(candidates)))


def _existing(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        try:
            resolved = os.path.realpath(path)
        except (OSError, ValueError):
            continue
        if os.path.exists(resolved):
            yield resolved


def is_within(path: str, roots: Iterable[str]) -> bool:
    """True when the resolved ``path`` is one of ``roots`` or lies beneath one of them."""
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)
