"""What a model process imports before it locks itself down: libraries that write caches or config
files the first time they are imported (matplotlib's font list, Keras' keras.json), and the framework
of the model's format, so that nothing needs to write once writing is forbidden."""

from __future__ import annotations

import contextlib
from pathlib import Path

from xai_cli.models.sandbox.threads import single_openmp_thread


def prepare_for(model_path: Path) -> None:
    """Import what loading and explaining ``model_path`` will need and that may write on first use."""
    single_openmp_thread()
    with contextlib.suppress(Exception):
        import joblib

        # loky counts physical cores by running lscpu, once per process: before starting one is forbidden.
        joblib.cpu_count(only_physical_cores=True)
    with contextlib.suppress(Exception):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.font_manager
    with contextlib.suppress(Exception):
        from xai_cli.models.detect import detect_format

        file_format = detect_format(model_path)
        if file_format in ("keras", "keras-h5"):
            from xai_cli.models.keras import keras_backend

            keras_backend()
        elif file_format in ("torch", "torchscript", "torch-export"):
            import torch  # noqa: F401
        elif file_format == "onnx":
            import onnxruntime  # noqa: F401
