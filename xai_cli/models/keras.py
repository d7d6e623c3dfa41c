"""Keras 3 files (``.keras`` and legacy ``.h5``) as a ``Network``, on the torch backend.

Keras reads its backend from ``KERAS_BACKEND`` when it is first imported; we set ``torch`` unless the
user chose one (then only model-agnostic methods work, as gradients come from torch). Keras 3's
``safe_mode`` stays on: a Lambda layer holding Python code is refused unless ``--trust-model``.
On the torch backend every Keras layer is a ``torch.nn.Module``: gradients flow through ``model(x)`` and a
torch forward hook on a layer gives its output (for Grad-CAM).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from xai_cli.errors import InputError, UnsafeModelError, UsageError
from xai_cli.models.network import InputSpec, Network

TRUST_HINT = "if you trust this file, pass --trust-model (or set XAI_TRUST_MODEL=1)"
SUFFIX = {"keras": ".keras", "keras-h5": ".h5"}


def import_keras() -> Any:
    """Import keras on the torch backend (unless KERAS_BACKEND says otherwise)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as exc:
        raise InputError("a Keras model needs keras 3 and torch: pip install 'xai-cli[keras]'") from exc
    if not str(getattr(keras, "__version__", "0")).startswith("3"):
        raise InputError(f"Keras {keras.__version__} is installed; xai reads Keras files with keras 3")
    return keras


def keras_backend() -> str:
    """The backend keras runs on in this process."""
    return str(import_keras().backend.backend())


def load_keras(path: Path, file_format: str, *, trust: bool, device: str) -> Network:
    """Load a .keras or .h5 file; ``device`` is a resolved 'cpu'/'cuda' (used on the torch backend)."""
    if file_format == "keras":
        from xai_cli.models.scanning.zip_limits import check_zip_file

        check_zip_file(path, "Keras file")  # Keras reads config.json and metadata.json whole
    keras = import_keras()
    backend = keras.backend.backend()
    with _device_scope(keras, backend, device), _with_suffix(path, SUFFIX[file_format]) as readable:
        try:
            model = keras.saving.load_model(readable, compile=False, safe_mode=not trust)
        except ValueError as exc:
            text = str(exc)
            if "safe_mode" in text or "Lambda" in text:
                raise UnsafeModelError(
                    f"{path}: refused to load: the model has a Lambda layer holding Python code, which "
                    f"Keras' safe mode does not run; {TRUST_HINT}"
                ) from exc
            raise InputError(f"{path}: not a readable Keras file ({_first_line(exc)})") from exc
        except TypeError as exc:
            raise InputError(
                f"{path}: the model uses a class Keras cannot find ({_first_line(exc)}); pass --code "
                "file.py that defines it (registered with keras.saving.register_keras_serializable)"
            ) from exc
        except Exception as exc:
            raise InputError(f"{path}: not a readable Keras file ({_first_line(exc)})") from exc
    return KerasNetwork(model, backend, device)


# Links made ahead of loading, by a sandboxed model process before it may no longer create files.
_PREPARED_LINKS: dict[tuple[str, str], str] = {}


def _has_suffix(path: Path, suffix: str) -> bool:
    return path.suffix.lower() == suffix or (suffix == ".h5" and path.suffix.lower() == ".hdf5")


def prepare_suffix_link(path: Path, file_format: str, folder: Path) -> None:
    """Make, in ``folder``, the link with the right suffix that loading ``path`` will need (if any)."""
    suffix = SUFFIX[file_format]
    if _has_suffix(path, suffix):
        return
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / f"model{suffix}"
    if not link.is_symlink():
        os.symlink(path.resolve(), link)
    _PREPARED_LINKS[(str(path), suffix)] = str(link)


@contextlib.contextmanager
def _with_suffix(path: Path, suffix: str) -> Iterator[str]:
    """Keras picks its reader by file suffix; give it a link with the right one when the name lacks it."""
    if _has_suffix(path, suffix):
        yield str(path)
        return
    if (str(path), suffix) in _PREPARED_LINKS:
        yield _PREPARED_LINKS[(str(path), suffix)]
        return
    with tempfile.TemporaryDirectory(prefix="xai-keras-") as folder:
        link = Path(folder) / f"model{suffix}"
        os.symlink(path.resolve(), link)
        yield str(link)


@contextlib.contextmanager
def _device_scope(keras: Any, backend: str, device: str) -> Iterator[None]:
    if backend != "torch":
        yield
        return
    with keras.device(device):
        yield


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class KerasNetwork(Network):
    """A Keras model; differentiable through torch when Keras runs on the torch backend."""

    framework = "keras"

    def __init__(self, model: Any, backend: str, device: str) -> None:
        self.model = model
        self.backend = backend
        self.device = device if backend == "torch" else "cpu"
        self.differentiable = backend == "torch"
        self.architecture = type(model).__name__
        self.activation_channel_axis = -1
        self._keras = import_keras()
        inputs = getattr(model, "inputs", None) or []
        if len(inputs) != 1:
            raise InputError(f"the Keras model has {len(inputs)} inputs; xai reads models with one input")
        shape = tuple(None if d is None else int(d) for d in inputs[0].shape)
        if len(shape) == 4:
            layout = "NCHW" if self._keras.config.image_data_format() == "channels_first" else "NHWC"
            channels, height, width = (
                (shape[1], shape[2], shape[3]) if layout == "NCHW" else (shape[3], shape[1], shape[2])
            )
            self.activation_channel_axis = 1 if layout == "NCHW" else -1
            self.input_spec = InputSpec(rank=4, channels=channels, height=height, width=width, layout=layout)
        elif len(shape) == 2 and shape[1] is not None:
            self.input_spec = InputSpec(rank=2, n_features=shape[1])
        else:
            raise InputError(f"the Keras model's input shape {shape} is neither images nor table rows")

    def _call(self, x: Any) -> Any:
        with _device_scope(self._keras, self.backend, self.device):
            out = self.model(x, training=False)
        return out[0] if isinstance(out, list | tuple) else out

    def _run_chunk(self, batch: np.ndarray) -> np.ndarray:
        if self.backend == "torch":
            import torch

            with torch.no_grad():
                return self._call(self.to_tensor(batch)).detach().cpu().numpy()
        return np.asarray(self._keras.ops.convert_to_numpy(self._call(batch.astype(np.float32))))

    def forward(self, x: Any) -> Any:
        """Raw outputs as a torch tensor in the autograd graph (torch backend only)."""
        if not self.differentiable:
            raise UsageError(self.no_gradients_reason())
        out = self._call(x)
        return out.reshape(out.shape[0], -1)

    def conv_layers(self) -> list[str]:
        """Top-level Conv2D-like layers (Conv2D, SeparableConv2D, DepthwiseConv2D), in model order."""
        return [layer.name for layer in self.model.layers if "Conv2D" in type(layer).__name__]

    def forward_with_activation(self, x: Any, layer: str) -> tuple[Any, Any]:
        """Run the model with a torch forward hook on the layer (Keras layers are torch modules here)."""
        if not self.differentiable:
            raise UsageError(self.no_gradients_reason())
        names = [item.name for item in self.model.layers]
        if layer not in names:
            raise UsageError(
                f"--layer {layer}: no such layer; "
                f"convolution layers: {', '.join(self.conv_layers()) or 'none'}"
            )
        captured: list[Any] = []
        handle = self.model.get_layer(layer).register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            out = self.forward(x)
        finally:
            handle.remove()
        return out, captured[-1]

    def no_gradients_reason(self) -> str:
        """Gradients need Keras on the torch backend."""
        return (
            f"gradients need Keras on the torch backend, but KERAS_BACKEND is {self.backend}; "
            "unset it or use --method occlusion"
        )
