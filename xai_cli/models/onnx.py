"""ONNX files through onnxruntime, as a ``Network`` (no gradients: occlusion is their attention method).

An ONNX graph is operators and tensors, never Python, so it loads without ``--trust-model`` once the
checks ``xai scan`` makes have passed (``checked_onnx_graph``: standard operator domains, external data
inside the model's folder, every tensor within the size limit). onnxruntime then runs in a CPU arena
capped at ``XAI_MAX_ONNX_ARENA_BYTES`` (4 GiB), so a value that grows at run time fails in one line.

Class names come from scikit-learn converters' ``classlabels_*`` attributes or a ``classes`` metadata
property (a JSON list). A model from skl2onnx may take one input per column; the input names are then
the columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from xai_cli.errors import InputError, UnsafeModelError
from xai_cli.limits import MAX_ONNX_ARENA_BYTES, limit_value, size_text
from xai_cli.models.device import onnx_providers
from xai_cli.models.network import InputSpec, Network
from xai_cli.textsafe import terminal_safe

TRUST_HINT = "if you trust this file, pass --trust-model (or set XAI_TRUST_MODEL=1)"

ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def checked_onnx_graph(path: Path) -> bool:
    """What ``xai scan`` checks, before onnxruntime reads the file: a custom operator domain or external
    data outside the model's folder raises UnsafeModelError (exit 4), a tensor over the size limit
    InputError (exit 3). Returns whether onnxruntime may fold constants at load (False when a value
    computed from constants alone could not be sized: it is then computed at run time, in the arena)."""
    from xai_cli.models.scanning.onnx_graph import scan_onnx_model

    scan, sizes = scan_onnx_model(path, "onnx")
    if scan.not_checked:
        raise UnsafeModelError(
            f"{path}: refused to load: {scan.not_checked} (pip install onnx); {TRUST_HINT}"
        )
    for finding in scan.refused:
        what = "custom operators" if finding.kind == "operator-domain" else "external data"
        raise UnsafeModelError(
            f"{path}: refused to load: the model asks for {what} '{terminal_safe(finding.name, 200)}' "
            f"({finding.detail}); {TRUST_HINT}"
        )
    return not sizes.unbounded_constant


def load_onnx(path: Path, *, device: str, fold_constants: bool = True) -> Network:
    """Open an ONNX file in an onnxruntime session on ``device``, its arena held to the limit."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise InputError(f"{path}: an ONNX model needs onnxruntime: pip install 'xai-cli[onnx]'") from exc
    arena = limit_value(MAX_ONNX_ARENA_BYTES)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # errors come back as exceptions; ORT's own log lines are not ours
    _share_capped_arena(onnxruntime, arena)
    options.add_session_config_entry("session.use_env_allocators", "1")
    providers: list[Any] = list(onnx_providers(device))
    if providers[0] == "CUDAExecutionProvider":
        providers[0] = ("CUDAExecutionProvider", {"gpu_mem_limit": str(arena)})
    if _has_tree_ensemble(path):
        # onnxruntime sums a tree ensemble's trees in an order that depends on the batch size when it
        # runs on several threads, so one row's float32 probability changed with the rows around it
        # (1.0000004 alone, 1.0 in a batch of 100); on one thread a row's output is its own.
        options.intra_op_num_threads = 1
    disabled = [] if fold_constants else ["ConstantFolding"]
    try:
        session = onnxruntime.InferenceSession(
            str(path), options, providers=providers, disabled_optimizers=disabled
        )
    except Exception as exc:
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable ONNX model ({text})") from exc
    return OnnxNetwork(session, path, device)


_ARENA_SHARED: list[int] = []
TREE_ENSEMBLE_OPERATORS = frozenset({"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"})


def _has_tree_ensemble(path: Path) -> bool:
    """Whether the graph (its main graph, read without external data) runs an ai.onnx.ml tree ensemble."""
    try:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:
        return False
    return any(node.op_type in TREE_ENSEMBLE_OPERATORS for node in graph.node)


def _share_capped_arena(onnxruntime: Any, max_bytes: int) -> None:
    """Register, once per process, a CPU arena of at most ``max_bytes`` that sessions share: a run whose
    values outgrow it fails with an error instead of taking the machine's memory (weights are not in it)."""
    if _ARENA_SHARED:
        return
    onnxruntime.set_default_logger_severity(4)
    memory = onnxruntime.OrtMemoryInfo(
        "Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, onnxruntime.OrtMemType.DEFAULT
    )
    onnxruntime.create_and_register_allocator(memory, onnxruntime.OrtArenaCfg(max_bytes, -1, -1, -1))
    _ARENA_SHARED.append(max_bytes)


def _dim(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


class OnnxNetwork(Network):
    """An onnxruntime session; its outputs are the first output, or the one named like probabilities."""

    framework = "onnx"
    differentiable = False

    def __init__(self, session: Any, path: Path, device: str) -> None:
        self.session = session
        self.path = path
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
        # skl2onnx's classifiers name their probability output so, as a tensor or a ZipMap of dicts.
        self._named_probabilities = "prob" in chosen.name.lower() or chosen.type.startswith("seq(map")
        self.declared_classes = _onnx_classes(path, session)

    def calibrate(self, example: np.ndarray, seed: int = 0) -> None:
        """As ``Network.calibrate``, but outputs that lie in [0, 1] and sum to 1 within float32 rounding
        (a forest's averaged leaves give 1.0000004) are probabilities, and so is an output named so (or
        a ZipMap) whose values on ``example`` lie in [0, 1]: these are never soft-maxed."""
        if self.output_kind is None:
            rng = np.random.default_rng(seed)
            spread = float(np.std(example)) or 1.0
            probes = [example.astype(np.float32)]
            for scale in (1.0, 4.0, 16.0):
                probes.append(
                    probes[0] + rng.normal(0.0, spread * scale, size=example.shape).astype(np.float32)
                )
            values = np.concatenate([self.run(batch) for batch in probes])
            if _probabilities(values, sums_to_one=not self._named_probabilities) and values.shape[1] > 1:
                self.n_outputs = values.shape[1]
                self.output_kind = "probabilities"
        super().calibrate(example, seed)

    def _feeds(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self.feature_names is None:
            return {self._input_names[0]: np.ascontiguousarray(batch, dtype=self._input_types[0])}
        return {
            name: np.ascontiguousarray(batch[:, [i]]).astype(dtype)
            for i, (name, dtype) in enumerate(zip(self._input_names, self._input_types, strict=True))
        }

    def _run_chunk(self, batch: np.ndarray) -> np.ndarray:
        try:
            (result,) = self.session.run([self._output_name], self._feeds(batch))
        except Exception as exc:
            if "BFCArena" in str(exc) or "Available memory" in str(exc):
                limit = _ARENA_SHARED[0] if _ARENA_SHARED else limit_value(MAX_ONNX_ARENA_BYTES)
                raise InputError(
                    f"{self.path}: a run of the model on {len(batch)} rows needs more memory than "
                    f"onnxruntime's arena limit of {size_text(limit)}; "
                    f"{MAX_ONNX_ARENA_BYTES.how_to_raise}"
                ) from None
            raise
        if isinstance(result, list) and result and isinstance(result[0], dict):
            keys = list(result[0])
            return np.array([[row[k] for k in keys] for row in result], dtype=np.float64)
        return np.asarray(result, dtype=np.float64)


# float32 rounding of a probability computed as a sum or mean (skl2onnx's forests: 1.0000004).
PROBABILITY_SLACK = 1e-4


def _probabilities(values: np.ndarray, *, sums_to_one: bool) -> bool:
    """Whether every row lies in [0, 1] and, if asked, sums to 1, up to float32 rounding."""
    if not np.all(np.isfinite(values)) or values.min() < -PROBABILITY_SLACK:
        return False
    if values.max() > 1.0 + PROBABILITY_SLACK:
        return False
    return not sums_to_one or bool(np.allclose(values.sum(axis=1), 1.0, atol=1e-3))


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
