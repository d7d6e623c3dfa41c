"""What a model process imports before it locks itself down: libraries that write caches or config
files the first time they are imported (matplotlib's font list, Keras' keras.json), and the framework
of the model's format, so that nothing needs to write once writing is forbidden."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
from pathlib import Path

from xai_cli.models.sandbox.threads import single_openmp_thread


def scratch_folder(pid: int) -> Path:
    """Where the model process ``pid`` may leave files it needs before its lock-down (a link with the
    suffix Keras wants); its parent removes the folder when the process has ended."""
    return Path(tempfile.gettempdir()) / f"xai-sandbox-{pid}"


def prepare_for(model_path: Path, device: str = "cpu") -> None:
    """Import what loading and explaining ``model_path`` will need and that may write on first use; on
    a GPU (``device`` cuda or auto), open the device (its files need write access) before the lock-down."""
    single_openmp_thread()
    with contextlib.suppress(Exception):
        import joblib

        # loky counts physical cores by running lscpu, once per process: before starting one is forbidden.
        joblib.cpu_count(only_physical_cores=True)
    with contextlib.suppress(Exception):
        # tqdm (torch.export, transformers) makes a multiprocessing lock, a file in /dev/shm, the first
        # time a bar is shown.
        importlib.import_module("tqdm").tqdm.get_lock()
    with contextlib.suppress(Exception):
        import matplotlib

        matplotlib.use("Agg")
        importlib.import_module("matplotlib.font_manager")  # builds or reads the font cache
    with contextlib.suppress(Exception):
        from xai_cli.models.detect import detect_format

        file_format = detect_format(model_path)
        if file_format in ("keras", "keras-h5"):
            from xai_cli.models.keras import keras_backend, prepare_suffix_link

            keras_backend()
            prepare_suffix_link(model_path, file_format, scratch_folder(os.getpid()))
        elif file_format in ("torch", "torchscript"):
            importlib.import_module("torch")
        elif file_format == "torch-export":
            # torch.export.load imports torch._dynamo, whose import opens a socket from C.
            importlib.import_module("torch.export")
            importlib.import_module("torch._dynamo")
        elif file_format == "onnx":
            importlib.import_module("onnxruntime")
    loaded_torch = sys.modules.get("torch")
    if device != "cpu" and loaded_torch is not None:
        with contextlib.suppress(Exception):
            if loaded_torch.cuda.is_available():
                loaded_torch.zeros(1, device="cuda")  # creates the CUDA context: opens /dev/nvidia*
