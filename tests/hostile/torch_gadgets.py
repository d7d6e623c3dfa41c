"""Hostile TorchScript and ``torch.export`` files that write a marker or read a probe when loaded or run.

Each generator saves a small, working CNN and then edits the archive as an attacker would: a line in
the TorchScript source (``code/__torch__.py``) or a node in the ``.pt2`` graph (``models/model.json``).
Payloads stay harmless: ``aten::from_file`` with ``shared=True`` creates and writes 8 bytes at the
marker path; with ``shared=False`` it maps the probe file (outside the model's folder) and the model's
output carries the sum of its bytes. Import only after ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

PROBE_SIZE = 8


class Carrier(nn.Module):
    """conv, relu, global max pool, linear: logits for two classes of 1x32x32 images."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.inner = Inner()
        self.classifier = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        features = self.inner(torch.relu(self.conv(x)))
        return self.classifier(torch.amax(features, dim=(2, 3)))


class Inner(nn.Module):
    """A submodule: the payload can hide in its forward."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.mul(x, 1.0)


class StatefulInner(Inner):
    """A submodule with its own __getstate__/__setstate__, which torch.jit.load runs while loading."""

    def __init__(self) -> None:
        super().__init__()
        self.buf = torch.zeros(PROBE_SIZE, dtype=torch.uint8)

    @torch.jit.export
    def __getstate__(self) -> tuple[bool, Tensor]:
        return (self.training, self.buf)

    @torch.jit.export
    def __setstate__(self, state: tuple[bool, Tensor]) -> None:
        self.training = state[0]
        self.buf = torch.zeros([8], dtype=torch.uint8)


class StatefulCarrier(Carrier):
    """The carrier with the stateful submodule."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = StatefulInner()


def _rewrite(source: Path, target: Path, edit: Callable[[str, bytes], bytes]) -> Path:
    """Copy a zip archive member by member, passing each member's bytes through ``edit``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            new.writestr(info, edit(info.filename, old.read(info)))
    source.unlink()
    return target


def _scripted(module: nn.Module, path: Path, old: str, new: str) -> Path:
    """Script ``module``, then replace ``old`` by ``new`` in the one code file that holds it."""
    raw = path.with_name(path.stem + "-plain.pt")
    torch.jit.script(module.eval()).save(str(raw))
    edited: list[str] = []

    def edit(member: str, data: bytes) -> bytes:
        if "/code/" not in member or not member.endswith(".py") or old.encode() not in data:
            return data
        edited.append(member)
        return data.replace(old.encode(), new.encode(), 1)

    _rewrite(raw, path, edit)
    assert len(edited) == 1, f"{old!r} found in {edited}"
    return path


INNER_RETURN = "    return torch.mul(x, 1.)\n"


def _in_inner(call: str, keep: bool = False) -> tuple[str, str]:
    """Replace Inner.forward's return so that the payload's result feeds the output (kept by the JIT)."""
    used = "torch.sum(_payload)" if keep else "torch.mul(torch.sum(_payload), 0)"
    return INNER_RETURN, f"    _payload = {call}\n    return torch.add(torch.mul(x, 1.), {used})\n"


def forward_writes(folder: Path, marker: Path) -> Path:
    """``torch.from_file(marker, shared=True)`` in the submodule's forward: running it creates the marker."""
    return _scripted(
        Carrier(), folder / "forward_writes.pt", *_in_inner(f'torch.from_file("{marker}", True, 8, dtype=0)')
    )


def forward_reads(folder: Path, probe: Path) -> Path:
    """``torch.from_file(probe, shared=False)``: the output carries the sum of the probe's bytes."""
    call = f'torch.from_file("{probe}", False, {PROBE_SIZE}, dtype=0)'
    return _scripted(Carrier(), folder / "forward_reads.pt", *_in_inner(call, keep=True))


def ops_namespace_writes(folder: Path, marker: Path) -> Path:
    """The same call spelled ``ops.aten.from_file``, as TorchScript prints ops outside ``torch.``."""
    call = f'ops.aten.from_file("{marker}", True, 8, dtype=0)'
    return _scripted(Carrier(), folder / "ops_writes.pt", *_in_inner(call))


def setstate_writes(folder: Path, marker: Path) -> Path:
    """``from_file(shared=True)`` in ``__setstate__``: ``torch.jit.load`` alone creates the marker."""
    old = "self.buf = torch.zeros([8], dtype=0)"
    new = f'self.buf = torch.from_file("{marker}", True, 8, dtype=0)'
    return _scripted(StatefulCarrier(), folder / "setstate_writes.pt", old, new)


def save_writes(folder: Path, marker: Path) -> Path:
    """``torch.save(tensor, marker)`` (``aten::save``) in forward."""
    old, new = INNER_RETURN, f'    torch.save(x, "{marker}")\n{INNER_RETURN}'
    return _scripted(Carrier(), folder / "save_writes.pt", old, new)


def unlisted_operator(folder: Path) -> Path:
    """An operator that is no part of the allow-list (``aten::histc``): refused as unknown."""
    return _scripted(Carrier(), folder / "unlisted.pt", *_in_inner("torch.histc(x)"))


def _exported(path: Path, edit: Callable[[dict], None]) -> Path:
    raw = path.with_name(path.stem + "-plain.pt2")
    program = torch.export.export(_ZerosCarrier().eval(), (torch.zeros(1, 1, 32, 32),), strict=False)
    torch.export.save(program, str(raw))

    def edit_json(member: str, data: bytes) -> bytes:
        if "/models/" not in member or not member.endswith(".json"):
            return data
        program = json.loads(data)
        edit(program)
        return json.dumps(program).encode()

    return _rewrite(raw, path, edit_json)


class _ZerosCarrier(Carrier):
    """A carrier whose graph holds a ``zeros`` node: the .pt2 gadgets turn it into their payload."""

    def forward(self, x: Tensor) -> Tensor:
        extra = torch.zeros(8, dtype=torch.uint8).sum() * 0
        return super().forward(x) + extra


def _zeros_node(program: dict) -> dict:
    (node,) = [
        n for n in program["graph_module"]["graph"]["nodes"] if n["target"] == "torch.ops.aten.zeros.default"
    ]
    return node


def export_writes(folder: Path, marker: Path) -> Path:
    """A ``.pt2`` whose graph calls ``aten.from_file(marker, shared=True)``: running it creates the marker."""

    def edit(program: dict) -> None:
        node = _zeros_node(program)
        node["target"] = "torch.ops.aten.from_file.default"
        node["inputs"] = [
            {"name": "filename", "arg": {"as_string": str(marker)}, "kind": 1},
            {"name": "shared", "arg": {"as_bool": True}, "kind": 1},
            {"name": "size", "arg": {"as_int": 8}, "kind": 1},
            {"name": "dtype", "arg": {"as_scalar_type": 1}, "kind": 2},
        ]

    return _exported(folder / "export_writes.pt2", edit)


CUSTOM_OP = "xai_gadget::touch"
CUSTOM_OP_SOURCE = """
import torch

@torch.library.custom_op("xai_gadget::touch", mutates_args=())
def touch(x: torch.Tensor, path: str) -> torch.Tensor:
    open(path, "w").close()  # the Python code a custom op runs
    return x.clone()

@touch.register_fake
def _(x, path):
    return torch.empty_like(x)
"""


def register_custom_op() -> None:
    """Register ``xai_gadget::touch`` in this process (once), as an installed plugin would."""
    if not hasattr(torch.ops.xai_gadget, "touch"):
        exec(CUSTOM_OP_SOURCE, {})


def custom_op(folder: Path, marker: Path) -> Path:
    """A ``.pt2`` whose graph names a custom op (Python code, registered by whoever loads it)."""
    register_custom_op()

    class Touching(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return torch.ops.xai_gadget.touch(x, str(marker))

    program = torch.export.export(Touching(), (torch.zeros(1, 1, 32, 32),), strict=False)
    path = folder / "custom_op.pt2"
    torch.export.save(program, str(path))
    return path
