"""ONNX files through onnxruntime, as a ``Network`` (no gradients: occlusion is their attention method).

An ONNX graph is operators and tensors, never Python, so it loads without ``--trust-model``. Class names
come from scikit-learn converters' ``classlabels_*`` attributes or a ``classes`` metadata property (a JSON
list). A model from skl2onnx may take one input per column; the input names are then the columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from xai_cli.errors import InputError
from xai_cli.models.device import onnx_providers
from xai_cli.models.network import InputSpec, Network

ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def load_onnx(path: Path, *, device: str) -> Network:
    """Open an ONNX file in an onnxruntime session on ``device``."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise InputError(f"{path}: an ONNX model needs onnxruntime: pip install 'xai-cli[onnx]'") from exc
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=onnx_providers(device))
    except Exception as exc:
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable ONNX model ({text})") from exc
    return OnnxNetwork(session, path, device)


def _dim(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


class OnnxNetwork(Network):
    """An onnxruntime session; its outputs are the first output, or the one named like probabilities."""

    framework = "onnx"
    differentiable = False

    def __init__(self, session: Any, path: Path, device: str) -> None:
        self.session = session
        self.device = device
        inputs = session.get_inputs()
        self.architecture = "ONNX graph"
        self.feature_names: list[str] | None = None
        self._input_types = [ONNX_DTYPES.get(item.type, np.float32) for item in inputs]
        self._input_names = [item.name for item in inputs]
        if len(inputs) > 1:
            if not all(
                len(item.shape) == 2 and _dim(item.shape[1]) == 1 and item.type != "tensor(string)"
                for item in inputs
            ):
                raise InputError(
                    f"{path}: an ONNX model with several inputs must take one numeric column per input"
                )
            self.feature_names = list(self._input_names)
            self.input_spec = InputSpec(rank=2, n_features=len(inputs))
        else:
            shape = list(inputs[0].shape)
            if len(shape) == 4:
                channels_first = _dim(shape[1]) in (1, 3, 4) or _dim(shape[3]) not in (1, 3, 4)
                layout = "NCHW" if channels_first else "NHWC"
                dims = (shape[1], shape[2], shape[3]) if channels_first else (shape[3], shape[1], shape[2])
                if _dim(dims[0]) is None:
                    raise InputError(f"{path}: the ONNX model's input {shape} does not fix its channels")
                self.input_spec = InputSpec(
                    rank=4, channels=_dim(dims[0]), height=_dim(dims[1]), width=_dim(dims[2]), layout=layout
                )
            elif len(shape) == 2 and _dim(shape[1]) is not None:
                self.input_spec = InputSpec(rank=2, n_features=_dim(shape[1]))
            else:
                raise InputError(f"{path}: the ONNX model's input {shape} is neither images nor table rows")
        outputs = session.get_outputs()
        chosen = next((o for o in outputs if "prob" in o.name.lower()), outputs[0])
        self._output_name = chosen.name
        self.declared_classes = _onnx_classes(path, session)

    def _feeds(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self.feature_names is None:
            return {self._input_names[0]: np.ascontiguousarray(batch, dtype=self._input_types[0])}
        return {
            name: np.ascontiguousarray(batch[:, [i]]).astype(dtype)
            for i, (name, dtype) in enumerate(zip(self._input_names, self._input_types, strict=True))
        }

    def _run_chunk(self, batch: np.ndarray) -> np.ndarray:
        (result,) = self.session.run([self._output_name], self._feeds(batch))
        if isinstance(result, list) and result and isinstance(result[0], dict):
            keys = list(result[0])
            return np.array([[row[k] for k in keys] for row in result], dtype=np.float64)
        return np.asarray(result, dtype=np.float64)


def _onnx_classes(path: Path, session: Any) -> list[Any] | None:
    """Class names: the ``classes`` metadata property, else what a scikit-learn converter stored."""
    metadata = session.get_modelmeta().custom_metadata_map
    if "classes" in metadata:
        try:
            classes = json.loads(metadata["classes"])
            if isinstance(classes, list) and classes:
                return classes
        except json.JSONDecodeError:
            pass
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:
        return None
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [s.decode("utf-8") for s in attribute.strings]
            if attribute.name == "classlabels_int64s" and attribute.ints:
                return [int(i) for i in attribute.ints]
    # skl2onnx's neural networks pick the label from a 'classes' constant with ArrayFeatureExtractor.
    constants = {item.name: item for item in graph.initializer}
    for node in graph.node:
        if node.op_type == "ArrayFeatureExtractor" and node.input and node.input[0] in constants:
            values = numpy_helper.to_array(constants[node.input[0]]).reshape(-1).tolist()
            return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
    return None
