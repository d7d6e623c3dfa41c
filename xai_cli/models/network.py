"""A deep-learning network behind a ``Model``: what it takes, how to run it, how to get gradients from it.

Each framework module (models/torch.py, keras.py, onnx.py) builds a ``Network``. Methods see one shape:

- ``input_spec``: a table row (``rank`` 2, ``n_features``) or an image (``rank`` 4: channels, height,
  width when the model fixes them, layout NCHW or NHWC);
- ``run(batch)``: raw outputs as numpy, no gradients; ``probabilities(batch)`` turns them into class
  probabilities once ``calibrate`` has seen whether the network ends in a softmax/sigmoid or gives logits;
- for torch-based networks (PyTorch, Keras 3 on the torch backend), ``forward(x)`` on a tensor keeps
  the autograd graph, ``forward_with_activation(x, layer)`` also returns one layer's output (Grad-CAM),
  and ``attention_weights(x)`` the attention matrices of a vision transformer (rollout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from xai_cli.errors import UsageError

Layout = Literal["NCHW", "NHWC"]
OutputKind = Literal["probabilities", "logits", "sigmoid", "values"]
RUN_CHUNK = 256


@dataclass(frozen=True)
class InputSpec:
    """What a network takes: rows of ``n_features`` numbers, or images of ``channels`` x height x width."""

    rank: int
    n_features: int | None = None
    channels: int | None = None
    height: int | None = None
    width: int | None = None
    layout: Layout = "NCHW"

    @property
    def is_image(self) -> bool:
        """True for image inputs (rank 4)."""
        return self.rank == 4

    def describe(self) -> dict[str, Any]:
        """The ``input`` block of a report's model description."""
        if not self.is_image:
            return {"kind": "tabular", "n_features": self.n_features}
        return {
            "kind": "image",
            "channels": self.channels,
            "height": self.height,
            "width": self.width,
            "layout": self.layout,
        }


class Network:
    """Base class; subclasses set the attributes below and implement ``_run_chunk``."""

    framework: str = ""
    device: str = "cpu"
    input_spec: InputSpec
    declared_classes: list[Any] | None = None
    architecture: str = ""
    differentiable: bool = False
    output_kind: OutputKind | None = None
    n_outputs: int | None = None
    # A network traced with a fixed batch size (a torch.export program without a dynamic batch axis).
    fixed_batch: int | None = None
    # Where the channels sit in the activations that ``forward_with_activation`` returns.
    activation_channel_axis: int = 1

    # ---- running -------------------------------------------------------------------------------------
    def _run_chunk(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def run(self, batch: np.ndarray, chunk: int = RUN_CHUNK) -> np.ndarray:
        """Raw outputs for a batch, as a (rows, outputs) float64 array; evaluated ``chunk`` rows at a time."""
        chunk = min(chunk, self.fixed_batch or chunk)
        parts = [
            np.asarray(self._run_chunk(batch[start : start + chunk]), dtype=np.float64).reshape(
                min(chunk, len(batch) - start), -1
            )
            for start in range(0, len(batch), chunk)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.n_outputs or 1))

    def calibrate(self, example: np.ndarray, seed: int = 0) -> None:
        """Decide, once, whether raw outputs are probabilities, logits, a sigmoid probability or values.

        The network runs on ``example`` and on noise around it (several scales); outputs that are all in
        [0, 1] and sum to 1 per row are probabilities; one output always in [0, 1] is a sigmoid
        probability (a binary classifier); several outputs otherwise are logits; one output otherwise is
        a value (a regressor, or a raw score).
        """
        if self.output_kind is not None:
            return
        rng = np.random.default_rng(seed)
        spread = float(np.std(example)) or 1.0
        probes = [example.astype(np.float32)]
        for scale in (1.0, 4.0, 16.0):
            noise = rng.normal(0.0, spread * scale, size=example.shape).astype(np.float32)
            probes.append(example.astype(np.float32) + noise)
        outputs = [self.run(batch) for batch in probes]
        self.n_outputs = outputs[0].shape[1]
        values = np.concatenate(outputs)
        in_unit = bool(np.all(np.isfinite(values)) and values.min() >= 0.0 and values.max() <= 1.0)
        if self.n_outputs == 1:
            self.output_kind = "sigmoid" if in_unit else "values"
        elif in_unit and np.allclose(values.sum(axis=1), 1.0, atol=1e-3):
            self.output_kind = "probabilities"
        else:
            self.output_kind = "logits"

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (rows, classes); a sigmoid output becomes the two columns 1-p, p."""
        return to_probabilities(self.run(batch), self.kind_of_output())

    def kind_of_output(self) -> OutputKind:
        """The calibrated output kind (``calibrate`` must have run)."""
        if self.output_kind is None:
            raise RuntimeError("Network.calibrate must run before its outputs are interpreted")
        return self.output_kind

    # ---- gradients (torch-based networks) ------------------------------------------------------------
    def to_tensor(self, batch: np.ndarray) -> Any:
        """A float32 tensor on the network's device."""
        import torch

        return torch.as_tensor(np.ascontiguousarray(batch, dtype=np.float32), device=self.device)

    def forward(self, x: Any) -> Any:
        """Raw outputs (rows, outputs) for a tensor, keeping the autograd graph."""
        raise UsageError(self.no_gradients_reason())

    def conv_layers(self) -> list[str]:
        """Names of the 2-D convolution layers, in the order the network runs them."""
        return []

    def forward_with_activation(self, x: Any, layer: str) -> tuple[Any, Any]:
        """(raw outputs, the output of ``layer``) for a tensor, both in the autograd graph."""
        raise UsageError(self.no_gradients_reason())

    def attention_weights(self, x: Any) -> list[Any] | None:
        """Per transformer layer, attention weights (batch, heads, tokens, tokens); None if not exposed."""
        return None

    def no_gradients_reason(self) -> str:
        """Why this network gives no gradients, and what to use instead."""
        return (
            f"{self.framework} models give no gradients here; use --method occlusion "
            "(model-agnostic), or a PyTorch or Keras file of the model"
        )


def to_probabilities(raw: np.ndarray, kind: OutputKind) -> np.ndarray:
    """Raw network outputs as class probabilities; values (a regressor) pass through unchanged."""
    if kind == "probabilities" or kind == "values":
        return raw
    if kind == "sigmoid":
        column = np.clip(raw[:, :1], 0.0, 1.0)
        return np.hstack([1.0 - column, column])
    shifted = raw - raw.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
