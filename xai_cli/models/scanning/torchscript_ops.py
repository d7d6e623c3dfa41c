"""Which operators TorchScript source calls, read with ``ast`` and never run.

A TorchScript archive stores its code as Python-syntax source (``code/__torch__/**/*.py``) that
``torch.jit.load`` compiles. Its name resolution is small and fixed (torch/csrc/jit/serialization/
import_source.cpp, frontend/ir_emitter.cpp), and every way the source can reach an operator is a
syntactic form this module reads:

- ``torch.NAME`` (and ``torch.autograd.NAME``) is ``aten::NAME``; ``ops.NS.NAME`` is ``NS::NAME``;
- a bare builtin (``len``, ``range``, ``print``, ``getattr``...) is a fixed ``prim``/``aten`` op;
- ``value.NAME(...)`` (and ``getattr(value, "NAME")``) on anything but an archive class is the
  ``aten::NAME`` method; a method the archive's own classes define is their code, scanned here too;
- ``__torch__.torch.classes.NS.CLASS`` is a C++ class bound into torch (torchbind), never TorchScript;
- every other ``__torch__.*`` name is a class or function of the archive itself.

Anything else (an unknown bare name, an import, source that does not parse) is reported too, so a
caller that refuses what is not on its list refuses it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Bare names that the TorchScript compiler resolves itself, and the operator each one becomes.
BUILTIN_NAMES: dict[str, str] = {
    "print": "prim::Print", "tuple": "prim::TupleConstruct", "float": "aten::Float",
    "complex": "aten::Complex", "int": "aten::Int", "bool": "aten::Bool", "str": "aten::str",
    "getattr": "prim::GetAttr", "hasattr": "prim::HasAttr", "isinstance": "prim::isinstance",
    "_to_tensor": "prim::NumToTensor", "len": "aten::len", "hex": "aten::hex", "oct": "aten::oct",
    "round": "aten::round", "hash": "aten::hash", "id": "prim::id", "min": "prim::min",
    "max": "prim::max", "abs": "prim::abs", "all": "aten::all", "any": "aten::any",
    "divmod": "aten::divmod", "sum": "aten::sum", "list": "prim::list", "dict": "prim::dict",
    "ord": "aten::ord", "chr": "aten::chr", "bin": "aten::bin", "pow": "aten::pow",
    "range": "prim::range", "zip": "prim::zip", "enumerate": "prim::enumerate", "iter": "prim::iter",
    "rangelist": "prim::rangelist", "sorted": "aten::sorted", "fork": "prim::fork",
    "awaitable": "prim::awaitable", "annotate": "prim::annotate", "unchecked_cast": "prim::unchecked_cast",
    "uninitialized": "prim::Uninitialized", "AssertionError": "prim::RaiseException",
}  # fmt: skip

# Names that are values or types, never calls into an operator.
_PLAIN_NAMES = frozenset(
    {
        "self", "CONSTANTS", "__annotations__", "inf", "nan", "NoneType", "Tensor", "Optional", "List",
        "Dict", "Tuple", "Final", "Any", "Union", "number", "Future", "Await", "Device", "Generator",
        "Storage", "Stream", "Layout", "ScalarType", "MemoryFormat", "QScheme", "Capsule", "Module",
        "Enum", "NamedTuple", "Interface",
    }
)  # fmt: skip

# Methods on built-in values that the compiler maps to a prim op rather than aten::NAME.
METHOD_OPS: dict[str, str] = {"tolist": "prim::tolist"}

UNPARSABLE = "<source that does not parse>"


@dataclass(frozen=True)
class OperatorUse:
    """One reference to an operator: its qualified name (``aten::conv2d``) and the source line."""

    name: str
    line: int
    detail: str | None = None


def parse_source(data: bytes) -> ast.Module | str:
    """The module of one code file, or the reason it cannot be read (not UTF-8, not Python syntax)."""
    try:
        return ast.parse(data.decode("utf-8"))
    except (UnicodeDecodeError, SyntaxError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"[:200]


def defined_methods(modules: Iterable[ast.Module]) -> frozenset[str]:
    """Every method name the archive's own classes define (their bodies are scanned too)."""
    return frozenset(
        item.name
        for module in modules
        for node in ast.walk(module)
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef)
    )


def declared_attributes(modules: Iterable[ast.Module]) -> frozenset[str]:
    """Every attribute the archive's classes declare (``name : Type`` and ``__annotations__["name"]``):
    reading one is an attribute, not a reference to the operator of the same name."""
    names: set[str] = set()
    for module in modules:
        for node in ast.walk(module):
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
                elif isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Subscript):
                    key = item.targets[0].slice
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        names.add(key.value)
    return frozenset(names)


def operator_uses(
    module: ast.Module,
    methods: frozenset[str],
    aten_names: frozenset[str],
    allowed: frozenset[str],
    attributes: frozenset[str] = frozenset(),
) -> list[OperatorUse]:
    """Every operator one code file can reach. ``methods``/``attributes``: what the archive's classes
    define (``defined_methods``, ``declared_attributes``); ``aten_names``: every aten op torch registers
    (a method or attribute named like one is judged as that op); ``allowed``: the operator allow-list."""
    walker = _Walker(methods, aten_names, allowed, attributes)
    walker.scope(module.body, _assigned(module.body))
    return walker.uses


def _assigned(body: list[ast.stmt], args: ast.arguments | None = None) -> frozenset[str]:
    names: set[str] = set()
    if args is not None:
        names.update(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
        names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                names.add(node.name)
    return frozenset(names)


def _chain(node: ast.expr) -> tuple[ast.expr, list[str]]:
    """``a.b.c`` as (the innermost expression, ['b', 'c'])."""
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return node, names[::-1]


class _Walker:
    def __init__(
        self,
        methods: frozenset[str],
        aten_names: frozenset[str],
        allowed: frozenset[str],
        attributes: frozenset[str],
    ) -> None:
        self.methods, self.aten_names, self.allowed, self.attributes = (
            methods,
            aten_names,
            allowed,
            attributes,
        )
        self.uses: list[OperatorUse] = []
        self.local: frozenset[str] = frozenset()
        # Local names bound to ``value.attr`` (``f = x.attr``): calling one calls ``attr`` as a method.
        self.aliases: dict[str, str] = {}

    def use(self, name: str, node: ast.AST, detail: str | None = None) -> None:
        self.uses.append(OperatorUse(name, getattr(node, "lineno", 0), detail))

    def scope(self, body: list[ast.stmt], local: frozenset[str]) -> None:
        outer, self.local = self.local, self.local | local
        outer_aliases, self.aliases = self.aliases, {**self.aliases, **_aliases(body)}
        for statement in body:
            self.statement(statement)
        self.local, self.aliases = outer, outer_aliases

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if expr is not None:
                    self.expr(expr)
            for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                if arg.annotation is not None:
                    self.annotation(arg.annotation)
            if node.returns is not None:
                self.annotation(node.returns)
            self.scope(node.body, _assigned(node.body, node.args))
        elif isinstance(node, ast.ClassDef):
            for expr in [*node.bases, *node.decorator_list]:
                self.annotation(expr)
            self.scope(node.body, _assigned(node.body))
        elif isinstance(node, ast.AnnAssign):
            self.annotation(node.annotation)
            for expr in (node.target, node.value):
                if expr is not None:
                    self.expr(expr)
        elif isinstance(node, ast.Import | ast.ImportFrom | ast.Global | ast.Nonlocal):
            self.use(f"<{type(node).__name__.lower()} statement>", node, "not TorchScript")
        else:
            for child in ast.iter_child_nodes(node):
                self.child(child)

    def child(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt):
            self.statement(node)
        elif isinstance(node, ast.expr):
            self.expr(node)
        else:
            for child in ast.iter_child_nodes(node):
                self.child(child)

    def annotation(self, node: ast.expr) -> None:
        """Types: only qualified names matter (a torchbind class, an op used as a type)."""
        for inner in ast.walk(node):
            if isinstance(inner, ast.Attribute):
                base, names = _chain(inner)
                if isinstance(base, ast.Name) and base.id in ("torch", "ops", "__torch__"):
                    self.rooted(base.id, names, inner)

    def expr(self, node: ast.expr) -> None:
        if isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Attribute):
            self.attribute(node, called=False)
        elif isinstance(node, ast.Name):
            self.name(node)
        elif isinstance(node, ast.Lambda):
            self.use("<lambda>", node, "not TorchScript")
        else:
            for child in ast.iter_child_nodes(node):
                self.child(child)

    def call(self, node: ast.Call) -> None:
        func = node.func
        getattr_name = _constant_getattr(node)
        if getattr_name is not None:
            self.expr(node.args[0])
            self.member(getattr_name, node, called=False)
        elif isinstance(func, ast.Attribute):
            self.attribute(func, called=True)
        elif isinstance(func, ast.Call) and _constant_getattr(func) is not None:
            self.expr(func.args[0])
            self.member(_constant_getattr(func) or "", func, called=True)
        elif isinstance(func, ast.Name) and func.id in self.aliases:
            self.member(self.aliases[func.id], func, called=True)
        else:
            self.expr(func)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            self.expr(arg)

    def attribute(self, node: ast.Attribute, *, called: bool) -> None:
        base, names = _chain(node)
        if (
            isinstance(base, ast.Name)
            and base.id in ("torch", "ops", "__torch__")
            and base.id not in self.local
        ):
            self.rooted(base.id, names, node)
            return
        if base.id == "CONSTANTS" if isinstance(base, ast.Name) else False:
            return
        self.expr(base)
        for index, attr in enumerate(names):
            self.member(attr, node, called=called and index == len(names) - 1)

    def rooted(self, root: str, names: list[str], node: ast.AST) -> None:
        if root == "__torch__":
            if names[:2] == ["torch", "classes"]:
                self.use("torchbind::" + ".".join(names[2:]), node, "a C++ class bound into torch")
            return
        if root == "torch":
            namespace, rest = "aten", names
        else:
            namespace, rest = (names[0], names[1:]) if names else ("", [])
        while rest and rest[0] == "autograd":  # torch.autograd.X and ops.NS.autograd.X are aten::X
            namespace, rest = "aten", rest[1:]
        self.use(f"{namespace}::{'.'.join(rest)}" if rest else f"{root}.{'.'.join(names)}", node)

    def member(self, attr: str, node: ast.AST, *, called: bool) -> None:
        """``value.attr``: an aten method if torch has one by that name, else a plain attribute or one of
        the archive's own methods."""
        op = f"aten::{attr}"
        if op in self.allowed:
            if called:
                self.use(op, node)
        elif attr in METHOD_OPS:
            self.use(METHOD_OPS[attr], node)
        elif attr in self.aten_names and (called or attr not in self.attributes):
            self.use(op, node)
        elif called and attr not in self.methods:
            self.use(op, node, "a method neither torch nor the archive's classes define")

    def name(self, node: ast.Name) -> None:
        if node.id in self.local or node.id in _PLAIN_NAMES:
            return
        if node.id in BUILTIN_NAMES:
            self.use(BUILTIN_NAMES[node.id], node)
        else:
            self.use(f"<name {node.id}>", node, "a name TorchScript does not define")


def _aliases(body: list[ast.stmt]) -> dict[str, str]:
    """``name = value.attr`` (or ``getattr(value, "attr")``) anywhere in a body, attr not rooted at
    ``torch``/``ops``/``__torch__`` (those are judged where they are written)."""
    found: dict[str, str] = {}
    for statement in body:
        for node in ast.walk(statement):
            if not (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                continue
            value = node.value
            attr = _constant_getattr(value) if isinstance(value, ast.Call) else None
            if isinstance(value, ast.Attribute):
                base, names = _chain(value)
                if not (isinstance(base, ast.Name) and base.id in ("torch", "ops", "__torch__", "CONSTANTS")):
                    attr = names[-1]
            if attr is not None:
                found[node.targets[0].id] = attr
    return found


def _constant_getattr(node: ast.Call) -> str | None:
    """``getattr(value, "name")``: the name, which TorchScript resolves like ``value.name``."""
    if isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2:
        name = node.args[1]
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            return name.value
    return None


def distinct(uses: Iterable[OperatorUse]) -> Iterator[tuple[str, int, int, str | None]]:
    """(name, first line, count, detail) for each distinct operator, in order of first use."""
    seen: dict[str, list[object]] = {}
    for use in uses:
        entry = seen.setdefault(use.name, [use.line, 0, use.detail])
        entry[1] = int(entry[1]) + 1  # type: ignore[call-overload]
    for name, (line, count, detail) in seen.items():
        yield name, int(line), int(count), detail  # type: ignore[call-overload]
