"""``xai scan``: what a model file would import or run, judged without loading it."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_MODELS, SAMPLES, run_in_process, run_xai
from xai_cli.models.scanning.keras_config import config_findings, keras_name_allowed

SAMPLE_FILES = sorted(SAMPLE_MODELS.glob("*.joblib"))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_sample_models_are_safe_to_load() -> None:
    result = run_xai("scan", *SAMPLE_FILES)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    for path in SAMPLE_FILES:
        assert f"{path}: safe to load (joblib;" in result.stdout
    assert "allowed  import         sklearn.tree._classes.DecisionTreeClassifier" in result.stdout
    assert "REFUSED" not in result.stdout


def test_json_report_follows_the_schema() -> None:
    schema = json.loads(run_in_process("schema", "scan").stdout)
    result = run_in_process("scan", SAMPLES["credit"][0], "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert set(report) == set(schema["required"])
    assert report["command"] == "scan" and report["verdict"] == "safe" and report["exit_code"] == 0
    (entry,) = report["files"]
    assert set(entry) == set(schema["properties"]["files"]["items"]["required"])
    assert entry["model"]["format"] == "joblib" and len(entry["model"]["sha256"]) == 64
    finding_schema = schema["properties"]["files"]["items"]["properties"]["findings"]["items"]
    assert all(set(f) == set(finding_schema["required"]) for f in entry["findings"])
    assert {f["kind"] for f in entry["findings"]} <= set(finding_schema["properties"]["kind"]["enum"])
    assert "sklearn.pipeline.Pipeline" in {f["name"] for f in entry["findings"]}
    assert run_in_process("scan", SAMPLES["credit"][0], "--json").stdout == result.stdout  # deterministic


def test_a_missing_file_is_bad_input_and_the_others_are_still_scanned(tmp_path: Path) -> None:
    result = run_in_process("scan", tmp_path / "nope.joblib")
    assert result.exit_code == 3
    assert error_lines(result.stderr) == [f"error: {tmp_path / 'nope.joblib'}: no such file"]
    result = run_in_process("scan", SAMPLES["iris"][0], tmp_path / "nope.joblib", "--json")
    assert result.exit_code == 3
    assert [f["verdict"] for f in json.loads(result.stdout)["files"]] == ["safe", "unreadable"]
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(eval))
    result = run_in_process("scan", tmp_path / "nope.joblib", evil, SAMPLES["iris"][0])
    assert result.exit_code == 4, "unsafe outranks unreadable"
    assert len(error_lines(result.stderr)) == 2


def test_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = run_in_process("scan", tmp_path / "notes.txt")
    assert result.exit_code == 3 and "not a model file this tool knows" in result.stderr
    assert run_in_process("scan", tmp_path).exit_code == 3


def test_scan_names_what_the_loader_refuses(tmp_path: Path) -> None:
    """A working estimator carrying a function in an attribute: scan and explain name the same thing."""
    import joblib

    model = joblib.load(SAMPLES["iris"][0])
    model.hook = os.system
    joblib.dump(model, tmp_path / "m.joblib")
    scan = run_in_process("scan", tmp_path / "m.joblib")
    assert scan.exit_code == 4
    assert f"'{os.system.__module__}.system'" in error_lines(scan.stderr)[0]
    assert f"REFUSED  import         {os.system.__module__}.system" in scan.stdout
    explain = run_in_process("explain", tmp_path / "m.joblib", SAMPLES["iris"][1], "--out", tmp_path / "o")
    assert explain.exit_code == 4 and f"'{os.system.__module__}.system'" in explain.stderr


# ---------------------------------------------------------------------------------------------
# skops
# ---------------------------------------------------------------------------------------------


def test_skops_tree_models_are_safe_and_load_without_trust(tmp_path: Path) -> None:
    """skops leaves sklearn's Tree untrusted by default; it is on our allow-list, so a tree loads."""
    sio = pytest.importorskip("skops.io")
    import joblib

    model = joblib.load(SAMPLES["iris"][0])
    (tmp_path / "tree.skops").write_bytes(sio.dumps(model))
    assert "sklearn.tree._tree.Tree" in sio.get_untrusted_types(file=tmp_path / "tree.skops")
    scan = run_in_process("scan", tmp_path / "tree.skops", "--json")
    assert scan.exit_code == 0, scan.stderr
    explain = run_in_process(
        "explain", tmp_path / "tree.skops", SAMPLES["iris"][1], "--rows", "0:2", "--out", tmp_path / "out"
    )
    assert explain.exit_code == 0, explain.stderr


# ---------------------------------------------------------------------------------------------
# PyTorch (the archives are plain zip files: written here without torch)
# ---------------------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_torchscript_code_is_checked(tmp_path: Path) -> None:
    """The code under code/ is read (with ast, never run) and every operator it calls is judged."""
    path = _zip(
        tmp_path / "scripted.pt",
        {"m/data.pkl": pickle.dumps({"w": 1}, protocol=2), "m/code/__torch__.py": b"def forward(self): ..."},
    )
    assert run_in_process("scan", path).exit_code == 0
    code = b"def forward(self, x: Tensor) -> Tensor:\n  return torch.from_file('/tmp/x', True, 8)\n"
    data = pickle.dumps({"w": 1}, protocol=2)
    evil = _zip(tmp_path / "evil.pt", {"m/data.pkl": data, "m/code/__torch__.py": code})
    result = run_in_process("scan", evil)
    assert result.exit_code == 4 and "aten::from_file" in error_lines(result.stderr)[0]


def test_damaged_torch_archive_is_bad_input(tmp_path: Path) -> None:
    path = _zip(tmp_path / "m.pt", {"m/data.pkl": b"\x80\x02not a pickle"})
    result = run_in_process("scan", path)
    assert result.exit_code == 3 and "m/data.pkl inside the archive is not a readable pickle" in result.stderr


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_torch_state_dict_is_safe_and_a_pickled_module_is_not(tmp_path: Path, torch) -> None:
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    torch.save(net, tmp_path / "module.pt")
    assert run_in_process("scan", tmp_path / "weights.pt").exit_code == 0
    result = run_in_process("scan", tmp_path / "module.pt")
    assert result.exit_code == 4
    assert "'torch.nn.modules.container.Sequential'" in error_lines(result.stderr)[0]


def test_torch_allow_list_is_what_weights_only_admits(torch) -> None:
    from torch._weights_only_unpickler import _get_allowed_globals

    from xai_cli.models.scanning.torch_zip import TORCH_WEIGHTS_ONLY

    assert set(_get_allowed_globals()) == TORCH_WEIGHTS_ONLY


# ---------------------------------------------------------------------------------------------
# Keras (configs are JSON: checked here without Keras; real files when Keras is installed)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name", "allowed"),
    [
        ("keras", "Sequential", True),
        ("keras.layers", "Dense", True),
        ("keras.src.models.functional", "Functional", True),
        ("keras.initializers", "GlorotUniform", True),
        ("keras.utils", "get_file", False),
        ("keras.src.utils.file_utils", "get_file", False),
        ("keras.models", "load_model", False),
        ("keras.saving", "load_model", False),
        ("keras.backend", "clear_session", False),
        ("keras.preprocessing.image", "load_img", False),
        ("keras.config", "enable_unsafe_deserialization", False),
        ("os", "system", False),
        ("kerasx", "Dense", False),
    ],
)
def test_keras_names(module: str, name: str, allowed: bool) -> None:
    assert keras_name_allowed(module, name) is allowed


def _keras_file(path: Path, layer: dict[str, object]) -> Path:
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [layer]}}
    return _zip(
        path, {"config.json": json.dumps(config).encode(), "metadata.json": b"{}", "model.weights.h5": b""}
    )


def test_keras_helper_gadget_is_refused(tmp_path: Path) -> None:
    """A config that asks Keras to call one of its file helpers (the get_file trick of CVE-2025-8747)."""
    gadget = {
        "module": "keras.utils",
        "class_name": "function",
        "config": "get_file",
        "registered_name": None,
    }
    layer = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "activation": gadget}}
    result = run_in_process("scan", _keras_file(tmp_path / "m.keras", layer))
    assert result.exit_code == 4
    assert (
        "'keras.utils.get_file' (a Keras helper that is no part of a model)" in error_lines(result.stderr)[0]
    )


def test_keras_registered_custom_object_is_refused() -> None:
    layer = {"module": None, "class_name": "MyLayer", "registered_name": "my_package>MyLayer", "config": {}}
    (finding,) = [f for f in config_findings({"layers": [layer]}, "config.json") if not f.allowed]
    assert finding.name == "my_package>MyLayer" and finding.kind == "custom-object"


KERAS_MODELS = """
import keras
inputs = keras.Input((4,))
keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs)).save("plain.keras")
keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)]).save("lambda.keras")
keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)]).save("lambda.h5")
"""


def test_real_keras_files(tmp_path: Path) -> None:
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("keras (with torch as its backend) not installed")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    subprocess.run(
        [sys.executable, "-c", KERAS_MODELS], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    assert run_in_process("scan", tmp_path / "plain.keras").exit_code == 0
    for name in ("lambda.keras", "lambda.h5"):
        result = run_in_process("scan", tmp_path / name)
        assert result.exit_code == 4, name
        assert "a Python lambda in layer 'lambda" in error_lines(result.stderr)[0]


# ---------------------------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------------------------


def _onnx_model(path: Path, domain: str = "", external: str | None = None) -> Path:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    if external is not None:
        weight.data_location = TensorProto.EXTERNAL
        weight.ClearField("float_data")
        entry = weight.external_data.add()
        entry.key, entry.value = "location", external
    node = helper.make_node("Add", ["x", "w"], ["y"], domain=domain)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [weight],
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    path.write_bytes(helper.make_model(graph, opset_imports=opsets).SerializeToString())
    return path


def test_onnx(tmp_path: Path) -> None:
    assert run_in_process("scan", _onnx_model(tmp_path / "plain.onnx")).exit_code == 0
    assert run_in_process("scan", _onnx_model(tmp_path / "beside.onnx", external="w.bin")).exit_code == 0
    custom = run_in_process("scan", _onnx_model(tmp_path / "custom.onnx", domain="evil.ops"))
    assert custom.exit_code == 4 and "evil.ops" in custom.stderr
    for location in ("../../etc/passwd", "/etc/passwd"):
        result = run_in_process("scan", _onnx_model(tmp_path / "outside.onnx", external=location))
        assert (
            result.exit_code == 4
            and location in result.stderr
            and "outside the model's folder" in result.stderr
        )
