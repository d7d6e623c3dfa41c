"""PyTorch networks for methods: eager modules, TorchScript modules and ``torch.export`` programs.

All three give raw outputs with gradients (``forward``); they differ in how a layer's output is read for
Grad-CAM: a forward hook (eager), a copy of the inlined graph that also returns the convolution's output
(TorchScript, where hooks do not run), or a node-by-node interpreter of the graph (``torch.export``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xai_cli.errors import InputError, UsageError
from xai_cli.models.network import InputSpec, Network

SCRIPT_CONV_OPS = ("aten::conv2d", "aten::_convolution", "aten::convolution")


# ---- eager modules --------------------------------------------------------------------------------------


def _input_spec_of(module: Any, first_weight: tuple[str, tuple[int, ...]] | None) -> InputSpec:
    """From an ``input_size`` attribute ([C, H, W], [H, W] or [n_features]) or the first layer's weight."""
    declared = getattr(module, "input_size", None)
    if isinstance(declared, list | tuple) and declared and all(isinstance(v, int) for v in declared):
        sizes = [int(v) for v in declared]
        if len(sizes) == 3:
            return InputSpec(rank=4, channels=sizes[0], height=sizes[1], width=sizes[2])
        if len(sizes) == 1:
            return InputSpec(rank=2, n_features=sizes[0])
    if first_weight is None:
        raise InputError("the network has no Conv2d or Linear layer to tell its input from")
    kind, shape = first_weight
    if kind == "conv":
        height_width = (
            (int(declared[0]), int(declared[1]))
            if isinstance(declared, list | tuple) and len(declared) == 2
            else (None, None)
        )
        return InputSpec(rank=4, channels=int(shape[1]), height=height_width[0], width=height_width[1])
    return InputSpec(rank=2, n_features=int(shape[1]))


def _first_layer(module: Any) -> tuple[str, tuple[int, ...]] | None:
    for child in module.modules():
        name = getattr(child, "original_name", None) or type(child).__name__
        weight = getattr(child, "weight", None)
        if weight is None:
            continue
        if name == "Conv2d":
            return "conv", tuple(weight.shape)
        if name == "Linear":
            return "linear", tuple(weight.shape)
    return None


def _declared_classes(module: Any) -> list[Any] | None:
    classes = getattr(module, "classes", None)
    if isinstance(classes, list | tuple) and classes:
        return list(classes)
    return None


def _first_output(result: Any) -> Any:
    return result[0] if isinstance(result, tuple | list) else result


class _TorchNetwork(Network):
    framework = "torch"
    differentiable = True

    def __init__(self, module: Any, device: str) -> None:
        self.module = module
        self.device = device

    def _run_chunk(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.forward(self.to_tensor(batch)).detach().cpu().numpy()

    def forward(self, x: Any) -> Any:
        """Raw outputs of the network (the first element when it returns a tuple)."""
        out = _first_output(self.module(x))
        return out.reshape(out.shape[0], -1)


class EagerNetwork(_TorchNetwork):
    """An ``nn.Module`` in Python: hooks give layer outputs and attention weights."""

    def __init__(self, module: Any, device: str) -> None:
        super().__init__(module, device)
        self.input_spec = _input_spec_of(module, _first_layer(module))
        self.declared_classes = _declared_classes(module)
        self.architecture = type(module).__name__

    def conv_layers(self) -> list[str]:
        """Names of the ``nn.Conv2d`` modules, in registration order."""
        import torch

        return [name for name, child in self.module.named_modules() if isinstance(child, torch.nn.Conv2d)]

    def forward_with_activation(self, x: Any, layer: str) -> tuple[Any, Any]:
        """Run the module with a forward hook on ``layer`` (any named submodule)."""
        modules = dict(self.module.named_modules())
        if layer not in modules or not layer:
            raise UsageError(
                f"--layer {layer}: no such layer; "
                f"convolution layers: {', '.join(self.conv_layers()) or 'none'}"
            )
        captured: list[Any] = []
        handle = modules[layer].register_forward_hook(lambda _m, _i, out: captured.append(_first_output(out)))
        try:
            out = self.forward(x)
        finally:
            handle.remove()
        return out, captured[-1]

    def attention_weights(self, x: Any) -> list[Any] | None:
        """The module's ``attention_weights(x)`` method, else every ``nn.MultiheadAttention`` (hooked)."""
        import torch

        if callable(getattr(self.module, "attention_weights", None)):
            return _as_layer_list(self.module.attention_weights(x))
        blocks = [m for m in self.module.modules() if isinstance(m, torch.nn.MultiheadAttention)]
        if not blocks:
            return None
        captured: list[Any] = []

        def ask_for_weights(_m: Any, args: Any, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

        handles = [b.register_forward_pre_hook(ask_for_weights, with_kwargs=True) for b in blocks]
        handles += [b.register_forward_hook(lambda _m, _i, out: captured.append(out[1])) for b in blocks]
        try:
            # With gradients on, nn.TransformerEncoderLayer skips its fused fast path, which would bypass
            # the attention module (and so the hooks).
            with torch.enable_grad():
                self.forward(x)
        finally:
            for handle in handles:
                handle.remove()
        return [weights.detach() for weights in captured if weights is not None] or None


def _as_layer_list(weights: Any) -> list[Any]:
    """(layers, batch, [heads,] tokens, tokens) stacked or listed -> a list with a heads axis each."""
    layers = list(weights) if not hasattr(weights, "dim") else list(weights.unbind(0))
    return [w if w.dim() == 4 else w.unsqueeze(1) for w in layers]


# ---- TorchScript ----------------------------------------------------------------------------------------


class ScriptNetwork(_TorchNetwork):
    """A TorchScript module. Hooks do not run inside TorchScript, so layer outputs come from a copy of
    the inlined forward graph that also returns the chosen convolution's output."""

    def __init__(self, module: Any, device: str) -> None:
        super().__init__(module, device)
        self.input_spec = _input_spec_of(module, _first_layer(module))
        self.declared_classes = _declared_classes(module)
        self.architecture = getattr(module, "original_name", type(module).__name__)
        self._graph = module.forward.graph.copy()
        import torch

        torch._C._jit_pass_inline(self._graph)
        self._convs: list[str] = []
        for index, node in enumerate(n for n in self._graph.nodes() if n.kind() in SCRIPT_CONV_OPS):
            name = _script_layer_name(node, index)
            self._convs.append(name if name not in self._convs else f"{name}#{index}")
        self._tapped: dict[str, Any] = {}

    def conv_layers(self) -> list[str]:
        """Convolutions of the inlined forward graph, named by module path (``features.3``)."""
        return list(self._convs)

    def forward_with_activation(self, x: Any, layer: str) -> tuple[Any, Any]:
        """Run a graph copy that returns (outputs, the convolution's output)."""
        if layer not in self._convs:
            raise UsageError(
                f"--layer {layer}: not a convolution of this TorchScript model; "
                f"its convolutions: {', '.join(self._convs) or 'none'}"
            )
        if layer not in self._tapped:
            self._tapped[layer] = self._tap(layer)
        out, activation = self._tapped[layer](self.module._c, x)
        out = _first_output(out)
        return out.reshape(out.shape[0], -1), activation

    def _tap(self, layer: str) -> Any:
        import torch

        graph = self._graph.copy()
        convs = [n for n in graph.nodes() if n.kind() in SCRIPT_CONV_OPS]
        target = convs[self._convs.index(layer)]
        original = next(iter(graph.outputs()))
        pair = graph.create("prim::TupleConstruct", [original, target.output()])
        graph.appendNode(pair)
        pair.output().setType(torch._C.TupleType([original.type(), target.output().type()]))
        graph.eraseOutput(0)
        graph.registerOutput(pair.output())
        return torch._C._create_function_from_graph(f"xai_tap_{self._convs.index(layer)}", graph)

    def attention_weights(self, x: Any) -> list[Any] | None:
        """The scripted ``attention_weights(x)`` method (exported with ``@torch.jit.export``), if any."""
        method = getattr(self.module, "attention_weights", None)
        if method is None:
            return None
        return _as_layer_list(method(x))


def _script_layer_name(node: Any, index: int) -> str:
    """The module path of a convolution's weight (``features.3``), or ``conv{index}`` when it has none."""
    weight = list(node.inputs())[1]
    path: list[str] = []
    producer = weight.node()
    while producer.kind() == "prim::GetAttr":
        path.append(producer.s("name"))
        producer = next(iter(producer.inputs())).node()
    if path and path[0] == "weight":
        return ".".join(reversed(path[1:])) or f"conv{index}"
    return f"conv{index}"


# ---- torch.export ---------------------------------------------------------------------------------------

EXPORT_CONV_TARGETS = ("aten.conv2d.default", "aten.convolution.default", "aten._convolution.default")


class ExportedNetwork(_TorchNetwork):
    """A ``torch.export`` program; layer outputs come from running its graph node by node."""

    def __init__(self, program: Any, device: str) -> None:
        module = program.module().to(device)
        super().__init__(module, device)
        self.architecture = "ExportedProgram"
        placeholders = [n for n in module.graph.nodes if n.op == "placeholder"]
        shape = _static_shape(placeholders[0].meta.get("val")) if placeholders else None
        self._convs: dict[str, Any] = {}
        for index, node in enumerate(
            n for n in module.graph.nodes if n.op == "call_function" and str(n.target) in EXPORT_CONV_TARGETS
        ):
            stack = node.meta.get("nn_module_stack") or {}
            name = list(stack.values())[-1][0] if stack else ""
            self._convs[name if name and name not in self._convs else f"conv{index}"] = node
        self.fixed_batch = shape[0] if shape is not None else None
        if self.fixed_batch is not None and self.fixed_batch != 1:
            raise InputError(
                f"the exported program takes batches of exactly {self.fixed_batch}; export it with batch 1 "
                "or a dynamic batch dimension (torch.export.Dim)"
            )
        if shape is not None and len(shape) == 4:
            self.input_spec = InputSpec(rank=4, channels=shape[1], height=shape[2], width=shape[3])
        elif shape is not None and len(shape) == 2 and shape[1] is not None:
            self.input_spec = InputSpec(rank=2, n_features=shape[1])
        else:
            raise InputError("the exported program's input is neither a batch of images nor of table rows")

    def conv_layers(self) -> list[str]:
        """Convolution nodes of the graph, named by the module that made them (``features.3``)."""
        return list(self._convs)

    def forward_with_activation(self, x: Any, layer: str) -> tuple[Any, Any]:
        """Interpret the graph, keeping the chosen convolution node's output."""
        import torch.fx

        if layer not in self._convs:
            raise UsageError(
                f"--layer {layer}: not a convolution of this exported program; "
                f"its convolutions: {', '.join(self._convs) or 'none'}"
            )
        target = self._convs[layer]
        captured: list[Any] = []

        class Tap(torch.fx.Interpreter):
            def run_node(self, node: Any) -> Any:
                result = super().run_node(node)
                if node is target:
                    captured.append(result)
                return result

        out = _first_output(Tap(self.module).run(x))
        return out.reshape(out.shape[0], -1), captured[-1]


def _static_shape(value: Any) -> tuple[int | None, ...] | None:
    if value is None or not hasattr(value, "shape"):
        return None
    return tuple(int(d) if isinstance(d, int) else None for d in value.shape)
