"""Generators of bombs: small files that declare huge objects (images, CSV lines and headers, ONNX
tensors), each written streamed so that building one costs far less memory than it declares.

Each returns the path it wrote. ``declared_*`` helpers compute what decoding the bomb without checks
would allocate, from the file itself, without doing it.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

BLOCK = 1 << 20


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, width: int = 13000, height: int = 13000, color_type: int = 2) -> Path:
    """A valid PNG of ``width`` x ``height`` black pixels (RGB by default): ~0.5 GB of pixels in KBs.

    Rows are compressed one block at a time; the whole picture is never in memory."""
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    row = b"\x00" * (1 + width * channels)  # filter byte 0, then the pixels
    compressor = zlib.compressobj(9)
    parts = []
    rows_per_block = max(1, BLOCK // len(row))
    for start in range(0, height, rows_per_block):
        parts.append(compressor.compress(row * min(rows_per_block, height - start)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    with path.open("wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header))
        handle.write(_png_chunk(b"IDAT", b"".join(parts)))
        handle.write(_png_chunk(b"IEND", b""))
    return path


def gif_growing_frame(path: Path, screen: int = 16, frame: int = 12000) -> Path:
    """A GIF whose logical screen is ``screen`` pixels a side and whose first frame is ``frame`` a side:
    Pillow grows the canvas to the frame, so the header's size is not the size decoded."""
    out = bytearray(
        b"GIF89a" + struct.pack("<HHBBB", screen, screen, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    )
    out += b"\x2c" + struct.pack("<HHHHB", 0, 0, frame, frame, 0)
    out += b"\x02" + b"\x02\x4c\x01\x00"  # a tiny LZW stream; the decoder stops early, no matter
    out += b"\x3b"
    path.write_bytes(bytes(out))
    return path


def declared_decode_bytes(width: int, height: int, channels: int) -> int:
    """What Pillow's own decode allocates for the picture (uint8 per channel), before any copy."""
    return width * height * channels


def wide_header_csv(path: Path, columns: int = 10_000_000) -> Path:
    """A CSV whose header names ``columns`` columns (c0,c1,...), then one short data row."""
    with path.open("w", encoding="ascii", newline="") as handle:
        for start in range(0, columns, 100_000):
            names = ",".join(f"c{i}" for i in range(start, min(columns, start + 100_000)))
            handle.write(names if start == 0 else "," + names)
        handle.write("\n1\n")
    return path


def long_line_csv(path: Path, line_bytes: int = 200 * 1000 * 1000, fill: bytes = b"1,") -> Path:
    """A two-column CSV whose second data line is one line of ``line_bytes`` bytes of ``fill``
    ('1,' fields by default; b'x' makes it one long field)."""
    with path.open("wb") as handle:
        handle.write(b"a,b\n1,2\n")
        block = fill * (BLOCK // len(fill))
        written = 0
        while written < line_bytes:
            piece = block[: line_bytes - written]
            handle.write(piece)
            written += len(piece)
        handle.write(b"\n3,4\n")
    return path


def quoted_newlines_csv(path: Path, fields: int = 2_000_000) -> Path:
    """One logical CSV line of ``fields`` quoted fields, each holding a line break: every physical
    line is short, the row is huge."""
    with path.open("wb") as handle:
        handle.write(b"a,b\n")
        chunk = b'"x\ny",' * 10_000
        for _ in range(fields // 10_000):
            handle.write(chunk)
        handle.write(b"1\n")
    return path


def _onnx_model(nodes: list, initializers: list, output_shape: list | None = None) -> object:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)
    graph = helper.make_graph(nodes, "bomb", [x], [y], initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _summed(big: str) -> list:
    """Nodes that reduce ``big`` to one number and add it to x (so the bomb feeds the output)."""
    from onnx import helper

    return [
        helper.make_node("ReduceSum", [big], ["total"], keepdims=0),
        helper.make_node("Add", ["x", "total"], ["y"]),
    ]


def onnx_constant_of_shape(path: Path, elements: int = 1 << 31) -> Path:
    """A graph of a few hundred bytes whose ConstantOfShape asks for ``elements`` float32 (8 GiB)."""
    from onnx import TensorProto, helper, numpy_helper

    shape = numpy_helper.from_array(np.array([elements], dtype=np.int64), "shape")
    value = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"], value=value), *_summed("big")]
    path.write_bytes(_onnx_model(nodes, [shape]).SerializeToString())
    return path


def onnx_expand(path: Path, side: int = 1 << 16) -> Path:
    """Expand a one-element tensor to ``side`` x ``side`` (16 GiB of float32 at the default)."""
    from onnx import helper, numpy_helper

    one = numpy_helper.from_array(np.ones((1, 1), dtype=np.float32), "one")
    shape = numpy_helper.from_array(np.array([side, side], dtype=np.int64), "shape")
    nodes = [helper.make_node("Expand", ["one", "shape"], ["big"]), *_summed("big")]
    path.write_bytes(_onnx_model(nodes, [one, shape]).SerializeToString())
    return path


def onnx_tile(path: Path, repeats: int = 1 << 16) -> Path:
    """Tile the model's (N, 4) input ``repeats`` x ``repeats`` times: its size follows the batch."""
    from onnx import helper, numpy_helper

    times = numpy_helper.from_array(np.array([repeats, repeats], dtype=np.int64), "times")
    nodes = [helper.make_node("Tile", ["x", "times"], ["big"]), *_summed("big")]
    path.write_bytes(_onnx_model(nodes, [times]).SerializeToString())
    return path


def onnx_range(path: Path, stop: float = 3e9) -> Path:
    """Range(0, stop, 1) of float32: ``stop`` elements."""
    from onnx import helper, numpy_helper

    inits = [
        numpy_helper.from_array(np.array(value, dtype=np.float32), name)
        for name, value in (("start", 0.0), ("stop", stop), ("step", 1.0))
    ]
    nodes = [helper.make_node("Range", ["start", "stop", "step"], ["big"]), *_summed("big")]
    path.write_bytes(_onnx_model(nodes, inits).SerializeToString())
    return path


def onnx_input_driven(path: Path, factor: int = 100_000_000) -> Path:
    """ConstantOfShape whose size is the batch times ``factor``: not a constant, known only at run time."""
    from onnx import TensorProto, helper, numpy_helper

    k = numpy_helper.from_array(np.array([factor], dtype=np.int64), "k")
    value = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("Shape", ["x"], ["rows"], start=0, end=1),
        helper.make_node("Mul", ["rows", "k"], ["shape"]),
        helper.make_node("ConstantOfShape", ["shape"], ["big"], value=value),
        *_summed("big"),
    ]
    path.write_bytes(_onnx_model(nodes, [k]).SerializeToString())
    return path


def onnx_external_initializer(path: Path, location: str, dims: tuple[int, ...] = (4,)) -> Path:
    """A model whose weight ``w`` (float32, ``dims``) is external data at ``location``."""
    from onnx import TensorProto, helper

    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=list(dims))
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", location
    nodes = [
        helper.make_node("ReduceSum", ["w"], ["total"], keepdims=0),
        helper.make_node("Add", ["x", "total"], ["y"]),
    ]
    path.write_bytes(_onnx_model(nodes, [weight]).SerializeToString())
    return path
