"""Tensor sizes of an ONNX graph, checked before onnxruntime allocates anything.

A graph of a few hundred bytes can ask for gigabytes: ``ConstantOfShape``, ``Expand``, ``Tile``,
``Range`` or ``Resize`` whose size comes from a constant, an initializer whose dims declare more than
the file holds (external data), or a value that grows with the batch. onnxruntime folds constant
subgraphs when the session is created, so such a tensor is allocated before the first run.

``check_onnx_sizes`` runs ONNX shape inference (with data propagation, so shapes computed from
constants are known) with the batch axis fixed at the batch xai runs (``RUN_CHUNK`` rows), then
refuses any initializer, constant or value over the per-tensor limit, naming the node that makes it.
What inference cannot size (dims that depend on an image's own size, loops) is counted and left to
onnxruntime's arena limit at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xai_cli.errors import InputError
from xai_cli.limits import MAX_TENSOR_BYTES, limit_value, size_text

# Initializers larger than this are never shape tensors: shape inference sees them as inputs, so
# checking a model does not copy its weights.
SMALL_CONSTANT_BYTES = 64 * 1024


@dataclass
class SizeCheck:
    """What the size check found: values whose size is known only at run time, and whether one of them
    is computed from constants alone (onnxruntime would fold it at load, outside the arena limit)."""

    unbounded: list[str] = field(default_factory=list)
    unbounded_constant: bool = False


def _itemsize(data_type: int) -> int:
    from onnx import helper

    try:
        return max(1, helper.tensor_dtype_to_np_dtype(data_type).itemsize)
    except (KeyError, TypeError, ValueError):
        return 8  # strings and unknown types: at least a pointer per element


def _refuse(path: Path, what: str, elements: int, itemsize: int, limit: int) -> InputError:
    return InputError(
        f"{path}: {what} holds {elements:,} elements, {size_text(elements * itemsize)}, above the limit "
        f"of {size_text(limit)} per tensor; {MAX_TENSOR_BYTES.how_to_raise}"
    )


def check_tensor_proto(path: Path, tensor: Any, what: str, limit: int) -> None:
    """A stored tensor (initializer, Constant value, external data) within the limit by its dims."""
    if any(d < 0 for d in tensor.dims):
        raise InputError(f"{path}: {what} has a negative dimension {list(tensor.dims)}; the file is damaged")
    elements = math.prod(tensor.dims)
    if elements * _itemsize(tensor.data_type) > limit:
        raise _refuse(path, what, elements, _itemsize(tensor.data_type), limit)


def check_onnx_sizes(path: Path, model: Any, batch: int) -> SizeCheck:
    """Refuse (InputError naming the node) any tensor of ``model`` over the per-tensor limit."""
    limit = limit_value(MAX_TENSOR_BYTES)
    for tensor in model.graph.initializer:
        check_tensor_proto(path, tensor, f"initializer '{tensor.name}'", limit)
    result = SizeCheck()
    inferred = _infer(model, batch)
    if inferred is None:
        result.unbounded.append("(shape inference failed: every size is known only at run time)")
        result.unbounded_constant = True
    else:
        _check_inferred(path, model.graph, inferred.graph, limit, result, batch)
    check_size_inputs(path, model.graph, limit)  # what inference could not size
    return result


def _check_inferred(path: Path, graph: Any, inferred: Any, limit: int, result: SizeCheck, batch: int) -> None:
    producers = {output: node for node in graph.node for output in node.output}
    constants = _constant_values(graph)
    for value in [*inferred.value_info, *inferred.output]:
        if not value.type.HasField("tensor_type"):
            continue
        node = producers.get(value.name)
        tensor_type = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
        known = math.prod(d for d in dims if d is not None)
        itemsize = _itemsize(tensor_type.elem_type)
        if known * itemsize > limit:
            what = f"the output '{value.name}' of node {_node_name(node)}" if node else f"'{value.name}'"
            raise _refuse(
                path, f"{what} (shape {_shape_text(dims)} at a batch of {batch} rows)", known, itemsize, limit
            )
        if None in dims or not tensor_type.HasField("shape"):
            result.unbounded.append(value.name)
            result.unbounded_constant |= node is not None and all(i in constants or not i for i in node.input)


def check_size_inputs(path: Path, graph: Any, limit: int) -> None:
    """The operators whose output size is an input (ConstantOfShape, Expand, Tile, Range, Resize):
    refuse one whose size input is a constant asking for more than the limit, shape inference or not."""
    values = _small_constants(graph)
    for node in graph.node:
        asked = _asked_elements(node, values)
        if asked is not None and asked[0] * asked[1] > limit:
            size_input = ", ".join(i for i in node.input if i in values)
            raise _refuse(
                path, f"node {_node_name(node)}, sized by the constant {size_input},", *asked, limit
            )


_SIZE_INPUT = {"ConstantOfShape": 0, "Expand": 1, "Tile": 1, "Resize": 3}


def _asked_elements(node: Any, values: dict[str, Any]) -> tuple[int, int] | None:
    """(elements, bytes per element at least) that the node's constant size input asks for; None when
    it is not a constant. An element type not known here counts one byte."""
    inputs = [values.get(name) if name else None for name in node.input]
    if node.op_type in _SIZE_INPUT and len(inputs) > _SIZE_INPUT[node.op_type]:
        shape = inputs[_SIZE_INPUT[node.op_type]]
        if shape is None:
            return None
        itemsize = 1
        if node.op_type == "ConstantOfShape":
            filled = [a.t for a in node.attribute if a.name == "value"]
            itemsize = _itemsize(filled[0].data_type) if filled else 4
        return math.prod(max(int(v), 0) for v in shape.reshape(-1)), itemsize
    if node.op_type == "Range" and len(inputs) == 3 and all(v is not None for v in inputs):
        start, stop, step = (float(v.reshape(-1)[0]) for v in inputs)
        if not step or not math.isfinite((stop - start) / step):
            return None
        return max(0, math.ceil((stop - start) / step)), inputs[0].dtype.itemsize
    return None


def _small_constants(graph: Any) -> dict[str, Any]:
    """The values of small initializers and Constant nodes, as numpy arrays (size inputs are small)."""
    from onnx import numpy_helper

    values: dict[str, Any] = {}
    tensors = [(t.name, t) for t in graph.initializer]
    for node in graph.node:
        if node.op_type == "Constant":
            tensors += [
                (node.output[0], a.t) for a in node.attribute if a.name == "value" and a.HasField("t")
            ]
    for name, tensor in tensors:
        if tensor.ByteSize() <= SMALL_CONSTANT_BYTES and tensor.data_location != 1:
            try:
                values[name] = numpy_helper.to_array(tensor)
            except Exception:
                continue
    return values


def _node_name(node: Any) -> str:
    return f"'{node.name}' ({node.op_type})" if node.name else node.op_type


def _shape_text(dims: list[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else f"{d:,}" for d in dims) + "]"


def _constant_values(graph: Any) -> set[str]:
    """Names whose value is known at load time: initializers, and outputs of nodes fed only by them."""
    known = {tensor.name for tensor in graph.initializer}
    for node in graph.node:  # nodes are stored in topological order
        if all(name in known or not name for name in node.input) and not node.op_type.startswith("Random"):
            known.update(node.output)
    return known


def _infer(model: Any, batch: int) -> Any:
    """Shape inference on a light copy: big initializers become inputs, the batch axis is fixed."""
    from onnx import GraphProto, ModelProto, helper, shape_inference

    graph = GraphProto()
    graph.name = model.graph.name
    graph.node.extend(model.graph.node)
    graph.output.extend(model.graph.output)
    initializer_names = set()
    for tensor in model.graph.initializer:
        initializer_names.add(tensor.name)
        if tensor.ByteSize() <= SMALL_CONSTANT_BYTES:
            graph.initializer.append(tensor)
        else:
            graph.input.append(
                helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))
            )
    for item in model.graph.input:
        if item.name in initializer_names:
            continue
        added = graph.input.add()
        added.CopyFrom(item)
        dims = added.type.tensor_type.shape.dim if added.type.HasField("tensor_type") else []
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = batch
    light = ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    light.graph.CopyFrom(graph)
    try:
        return shape_inference.infer_shapes(light, check_type=False, strict_mode=False, data_prop=True)
    except Exception:
        return None
