"""TorchScript and torch.export files: every operator checked before loading; scan and load agree.

Hostile files (tests/hostile/torch_gadgets.py) are refused by `xai scan` and `xai attention` with exit 4
and one line, and their marker/probe stays untouched; loaded with plain torch they do write the marker
or read the probe. Ordinary scripted, traced and exported networks, and the bundled samples, pass.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE_MODELS, run_in_process, run_xai

torch = pytest.importorskip("torch")

from tests.hostile import torch_gadgets as gadgets  # noqa: E402

DIGIT = ROOT / "sample_data" / "digits" / "digit_3_0.png"
PROBE_BYTES = b"secret!!"


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


class Corpus:
    """Every gadget, its payload's target (a marker to be created, or the probe to be read)."""

    def __init__(self, folder: Path) -> None:
        self.models, self.outside = folder / "models", folder / "outside"
        self.models.mkdir()
        self.outside.mkdir()
        self.probe = self.outside / "probe"
        self.probe.write_bytes(PROBE_BYTES)
        m, ff = self.outside.joinpath, "aten::from_file"
        g = gadgets
        self.files: dict[str, tuple[Path, Path, str]] = {
            "forward-writes": (g.forward_writes(self.models, m("m1")), m("m1"), ff),
            "ops-namespace": (g.ops_namespace_writes(self.models, m("m2")), m("m2"), ff),
            "setstate-writes": (g.setstate_writes(self.models, m("m3")), m("m3"), ff),
            "save-writes": (g.save_writes(self.models, m("m4")), m("m4"), "aten::save"),
            "forward-reads": (g.forward_reads(self.models, self.probe), self.probe, ff),
            "unlisted-op": (g.unlisted_operator(self.models), self.probe, "aten::histc"),
            "export-writes": (g.export_writes(self.models, m("m5")), m("m5"), ff),
            "custom-op": (g.custom_op(self.models, m("m6")), m("m6"), g.CUSTOM_OP),
        }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("torch-gadgets"))


GADGETS = [
    "forward-writes", "ops-namespace", "setstate-writes", "save-writes", "forward-reads", "unlisted-op",
    "export-writes", "custom-op",
]  # fmt: skip


@pytest.mark.parametrize("name", GADGETS)
def test_gadget_is_refused_by_scan_and_by_attention(name: str, corpus: Corpus, tmp_path: Path) -> None:
    path, target, operator = corpus.files[name]
    before = target.stat() if target.exists() else None
    scan = run_in_process("scan", path)
    assert scan.exit_code == 4, scan.stderr
    assert f"REFUSED  operator       {operator}" in scan.stdout
    attention = run_xai("attention", path, DIGIT, "--out", tmp_path / "out")
    assert attention.exit_code == 4, attention.stderr
    (line,) = error_lines(attention.stderr)
    assert f"'{operator}'" in line and "refused to load" in line and "--trust-model" in line
    assert ("code/" in line or "model.json" in line) and "Traceback" not in attention.stderr
    if target == corpus.probe:
        assert target.read_bytes() == PROBE_BYTES and target.stat().st_mtime == before.st_mtime  # type: ignore[union-attr]
    else:
        assert not target.exists(), "the payload ran"
    assert not (tmp_path / "out" / "attention.json").exists()


@pytest.mark.parametrize("name", [n for n in GADGETS if n != "unlisted-op"])
def test_gadget_payload_runs_with_plain_torch(name: str, corpus: Corpus) -> None:
    """Companion: loaded with torch.jit.load / torch.export.load and called, the payload does its work."""
    path, target, _ = corpus.files[name]
    x = torch.zeros(1, 1, 32, 32)
    if path.suffix == ".pt2":
        if name == "custom-op":
            gadgets.register_custom_op()  # the plugin that defines the op, installed where it is loaded
        output = torch.export.load(str(path)).module()(x)
    else:
        output = torch.jit.load(str(path))(x)
    if target == corpus.probe:
        # The probe's byte sum (712) is added to each feature; an untouched network's logits here are < 5.
        assert float(output.abs().max()) > 100, "the output carries the probe's bytes"
    else:
        assert target.exists(), "the payload did not run"
        target.unlink()


def test_scan_reports_every_operator_of_an_ordinary_network(tmp_path: Path) -> None:
    network = gadgets.Carrier().eval()
    paths = {
        "script": tmp_path / "script.pt",
        "trace": tmp_path / "trace.pt",
        "trace-nonstrict": tmp_path / "trace-nonstrict.pt",
        "export": tmp_path / "export.pt2",
    }
    example = torch.zeros(2, 1, 32, 32)
    torch.jit.script(network).save(str(paths["script"]))
    torch.jit.trace(network, example).save(str(paths["trace"]))
    torch.jit.trace(network, example, strict=False).save(str(paths["trace-nonstrict"]))
    torch.export.save(torch.export.export(network, (example[:1],)), str(paths["export"]))
    for form, path in paths.items():
        result = run_in_process("scan", path, "--json")
        assert result.exit_code == 0, (form, result.stderr)
        (entry,) = json.loads(result.stdout)["files"]
        operators = {f["name"] for f in entry["findings"] if f["kind"] == "operator"}
        assert {"aten::relu", "aten::amax"} <= operators, (form, operators)
        assert any(op in operators for op in ("aten::conv2d", "aten::_convolution")), form
        if form == "trace":
            jit_pickle = {f["name"] for f in entry["findings"] if f["name"].startswith("torch.jit._pickle")}
            assert jit_pickle, "a traced Conv2d stores torch.jit._pickle helpers, and they are allowed"
        attention = run_in_process(
            "attention", path, DIGIT, "--out", tmp_path / form, "--faithfulness-steps", "0", "--json"
        )
        assert attention.exit_code == 0, (form, attention.stderr)


def test_bundled_samples_scan_safe_and_load() -> None:
    samples = sorted(SAMPLE_MODELS.glob("*.pt"))
    assert samples
    scan = run_xai("scan", *samples)
    assert scan.exit_code == 0, scan.stderr
    assert "REFUSED" not in scan.stdout and scan.stderr == ""


def test_a_transformer_encoder_and_a_bert_pass(tmp_path: Path) -> None:
    layer = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    torch.jit.script(encoder).save(str(tmp_path / "encoder.pt"))
    assert run_in_process("scan", tmp_path / "encoder.pt").exit_code == 0
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        torchscript=True,
    )  # fmt: skip
    bert = transformers.BertForSequenceClassification(config).eval()
    tokens = torch.randint(0, 99, (1, 7))
    torch.jit.trace(bert, (tokens,), strict=False).save(str(tmp_path / "bert.pt"))
    result = run_in_process("scan", tmp_path / "bert.pt")
    assert result.exit_code == 0, result.stderr


# ---- the reader of TorchScript source, on crafted code --------------------------------------------------


def _refused(source: str) -> set[str]:
    from xai_cli.models.scanning.torch_operators import ALLOWED_OPERATORS, ATEN_NAMES
    from xai_cli.models.scanning.torchscript_ops import declared_attributes, defined_methods, operator_uses

    module = ast.parse(source)
    uses = operator_uses(
        module, defined_methods([module]), ATEN_NAMES, ALLOWED_OPERATORS, declared_attributes([module])
    )
    return {use.name for use in uses if use.name not in ALLOWED_OPERATORS}


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("def f(x: Tensor) -> Tensor:\n  return torch.autograd.from_file('p', True, 8)\n", "aten::from_file"),
        ("def f(x: Tensor):\n  g = x.save\n  return g('p')\n", "aten::save"),
        ("def f(x: Tensor):\n  return getattr(x, 'save')('p')\n", "aten::save"),
        ("def f(x: Tensor):\n  torch = x\n  return torch.save('p')\n", "aten::save"),
        ("def f(x: Tensor):\n  return ops.profiler.record('x')\n", "profiler::record"),
        ("def f(x: Tensor):\n  s = __torch__.torch.classes.c10d.Store('p')\n", "torchbind::c10d.Store"),
        ("def f(x: Tensor):\n  print(x)\n", "prim::Print"),
        ("import os\n", "<import statement>"),
        ("def f(x: Tensor):\n  return open('p')\n", "<name open>"),
        ("class M(Module):\n  def save(self, x: Tensor):\n    return x\n  def g(self, x: Tensor):\n"
         "    return x.save('p')\n", "aten::save"),
    ],
)  # fmt: skip
def test_reader_finds_each_way_to_an_operator(source: str, refused: str) -> None:
    assert refused in _refused(source)


def test_reader_allows_the_archives_own_methods_and_attributes() -> None:
    source = (
        "class M(Module):\n  inner : __torch__.M\n  def forward(self, x: Tensor) -> Tensor:\n"
        "    inner = self.inner\n    return (inner).my_helper(torch.relu(x))\n"
        "  def my_helper(self, x: Tensor) -> Tensor:\n    return x\n"
    )
    assert _refused(source) == set()


def test_torchscript_pickle_names() -> None:
    from xai_cli.models.scanning.torch_zip import TORCHSCRIPT_PICKLE_HELPERS, torchscript_name

    helpers = {n.rsplit(".", 1)[1] for n in TORCHSCRIPT_PICKLE_HELPERS}
    source = (Path(torch.__file__).parent / "jit" / "_pickle.py").read_text()
    defined = {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    assert helpers == defined, "exactly the helpers torch/jit/_pickle.py defines"
    assert torchscript_name("torch.jit._pickle", "build_intlist")
    assert not torchscript_name("torch.jit._serialization", "load")
    assert not torchscript_name("__torch__.torch.classes.dist_c10d", "FileStore")
    assert torchscript_name("__torch__.my_model", "Net")


def test_operator_lists_fit_this_torch() -> None:
    from xai_cli.models.scanning.torch_operators import (
        ALLOWED_OPERATORS,
        ATEN_NAMES,
        REFUSED_NAMESPACES,
        REFUSED_OPERATORS,
    )

    registered = {s.name for s in torch._C._jit_get_all_schemas()}
    aten = {name.split("::", 1)[1] for name in registered if name.startswith("aten::")}
    assert aten <= ATEN_NAMES, "torch registers aten ops the list lacks: run scripts/torch_operators.py"
    assert not ALLOWED_OPERATORS & set(REFUSED_OPERATORS)
    assert all(
        op.split("::")[0] not in REFUSED_NAMESPACES or op.startswith("higher_order::")
        for op in ALLOWED_OPERATORS
    )
    assert os.path.exists(ROOT / "scripts" / "torch_operators.py")
