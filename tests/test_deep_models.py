"""Loading Keras, PyTorch and ONNX files: what is refused without --trust-model, and tabular deep models
explained by `xai explain` as black boxes."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, SAMPLES, run_in_process, run_xai

torch = pytest.importorskip("torch")

IRIS_CSV = SAMPLES["iris"][1]
DIGIT = ROOT / "sample_data" / "digits" / "digit_3_0.png"


class CreatesMarker:
    """Unpickling this calls os.system, which would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def keras_module():  # type: ignore[no-untyped-def]
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


# ---- refused without --trust-model ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_lambda_layer_is_refused_without_trust(suffix: str, tmp_path: Path) -> None:
    keras = keras_module()
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Lambda(lambda t: t * 2.0),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    path = tmp_path / f"lambda{suffix}"
    model.save(path)
    refused = run_in_process("explain", path, IRIS_CSV, "--label-column", "species", "--out", tmp_path / "r")
    assert refused.exit_code == 4
    assert "Lambda layer" in refused.stderr and "--trust-model" in refused.stderr
    assert not (tmp_path / "r" / "explain.json").exists()
    trusted = run_in_process(
        "explain", path, IRIS_CSV, "--label-column", "species", "--rows", "0:2", "--background", "5",
        "--trust-model", "--out", tmp_path / "t", "--json",
    )  # fmt: skip
    assert trusted.exit_code == 0, trusted.stderr
    assert json.loads(trusted.stdout)["model"]["format"] == ("keras" if suffix == ".keras" else "keras-h5")


def test_pickled_torch_object_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save(CreatesMarker(marker), tmp_path / "evil.pt")
    result = run_xai("attention", tmp_path / "evil.pt", DIGIT, "--out", tmp_path / "out")
    assert result.exit_code == 4, result.stderr
    assert (
        "refused to load" in result.stderr and "system" in result.stderr and "--trust-model" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not marker.exists() and not (tmp_path / "out" / "attention.json").exists()


def test_pickled_module_is_refused_without_trust(tmp_path: Path) -> None:
    network = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 30 * 30, 2)
    )
    torch.save(network, tmp_path / "whole.pt")
    refused = run_in_process("attention", tmp_path / "whole.pt", DIGIT, "--out", tmp_path / "r")
    assert refused.exit_code == 4 and "torch.nn.modules.container.Sequential" in refused.stderr
    trusted = run_in_process(
        "attention", tmp_path / "whole.pt", DIGIT, "--trust-model", "--out", tmp_path / "t", "--json",
        "--faithfulness-steps", "0", "--device", "cpu",
    )  # fmt: skip
    assert trusted.exit_code == 0, trusted.stderr
    assert json.loads(trusted.stdout)["model"]["estimator"] == "Sequential"


def test_export_archive_with_a_hostile_payload_is_refused(tmp_path: Path) -> None:
    """torch.export.load would fall back to a full unpickle of sample inputs; xai checks them first."""
    network = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 30 * 30, 2)
    )
    torch.export.save(torch.export.export(network.eval(), (torch.zeros(1, 1, 32, 32),)), tmp_path / "ok.pt2")
    marker = tmp_path / "pwned"
    torch.save(CreatesMarker(marker), tmp_path / "payload.pt")
    with (
        zipfile.ZipFile(tmp_path / "ok.pt2") as source,
        zipfile.ZipFile(tmp_path / "evil.pt2", "w") as target,
    ):
        for item in source.infolist():
            data = source.read(item)
            if "/data/sample_inputs/" in item.filename:
                data = (tmp_path / "payload.pt").read_bytes()
            target.writestr(item, data)
    ok = run_in_process(
        "attention", tmp_path / "ok.pt2", DIGIT, "--out", tmp_path / "a", "--faithfulness-steps", "0"
    )
    assert ok.exit_code == 0, ok.stderr
    evil = run_in_process("attention", tmp_path / "evil.pt2", DIGIT, "--out", tmp_path / "b")
    assert evil.exit_code == 4 and "sample_inputs" in evil.stderr
    assert not marker.exists()


def test_state_dict_needs_arch(tmp_path: Path) -> None:
    network = torch.nn.Sequential(torch.nn.Linear(4, 3))
    torch.save(network.state_dict(), tmp_path / "weights.pt")
    result = run_in_process("attention", tmp_path / "weights.pt", DIGIT, "--out", tmp_path / "r")
    assert result.exit_code == 2 and "--arch package.module:factory" in result.stderr
    (tmp_path / "nets.py").write_text(
        "import torch\n\ndef wrong():\n    return torch.nn.Sequential(torch.nn.Linear(5, 3))\n"
    )
    mismatch = run_in_process(
        "attention", tmp_path / "weights.pt", DIGIT, "--arch", "nets:wrong", "--code", tmp_path / "nets.py",
        "--out", tmp_path / "r",
    )  # fmt: skip
    assert mismatch.exit_code == 3 and "do not fit the network" in mismatch.stderr


def test_help_does_not_import_deep_learning_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom xai_cli.cli import app\n"
        "CliRunner().invoke(app, ['attention', '--help'])\n"
        "print(','.join(m for m in ('torch', 'keras', 'onnxruntime', 'captum', 'PIL') if m in sys.modules))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == ""


# ---- tabular deep models as black boxes -----------------------------------------------------------------


def test_sample_keras_mlp_with_explain(tmp_path: Path) -> None:
    keras_module()
    result = run_in_process(
        "explain", ROOT / "sample_models" / "iris_mlp.keras", IRIS_CSV, "--label-column", "species",
        "--rows", "0:30", "--background", "20", "--out", tmp_path, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"]["framework"] == "keras" and report["model"]["classes"] == [0, 1, 2]
    assert report["model"]["outputs"] == "probabilities" and report["algorithm"] == "exact"
    assert report["feature_names"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert report["max_additivity_error"] < 1e-6
    assert {row["target"] for row in report["rows"]} == {0}  # rows 0-29 are all setosa
    assert max(report["global_importance"], key=report["global_importance"].get).startswith("petal")


def test_onnx_from_scikit_learn_with_explain(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.neural_network import MLPClassifier

    frame = pd.read_csv(IRIS_CSV)
    features = frame.drop(columns="species")
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=0).fit(
        features.to_numpy(), frame.species
    )
    onnx_model = skl2onnx.convert_sklearn(
        mlp, initial_types=[("X", FloatTensorType([None, 4]))], options={id(mlp): {"zipmap": False}}
    )
    (tmp_path / "iris.onnx").write_bytes(onnx_model.SerializeToString())
    result = run_in_process(
        "explain", tmp_path / "iris.onnx", IRIS_CSV, "--label-column", "species", "--rows", "45:55",
        "--background", "20", "--out", tmp_path / "r", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"]["classes"] == ["setosa", "versicolor", "virginica"]
    expected = mlp.predict_proba(features.iloc[45:55].to_numpy())
    for row, probabilities in zip(report["rows"], expected, strict=True):
        index = report["model"]["classes"].index(row["target"])
        assert row["prediction"] == pytest.approx(probabilities[index], abs=1e-5)
    assert report["max_additivity_error"] < 1e-6


def test_torchscript_regressor_with_explain_and_lime(tmp_path: Path) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    target = torch.tensor((2 * frame.a - frame.b).to_numpy(), dtype=torch.float32)[:, None]
    network = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    optimiser = torch.optim.Adam(network.parameters(), lr=0.05)
    inputs = torch.tensor(frame.to_numpy(), dtype=torch.float32)
    for _ in range(200):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(network(inputs), target).backward()
        optimiser.step()
    torch.jit.script(network.eval()).save(str(tmp_path / "mlp.pt"))
    frame.to_csv(tmp_path / "rows.csv", index=False)
    shap_run = run_in_process(
        "explain", tmp_path / "mlp.pt", tmp_path / "rows.csv", "--rows", "0:5", "--background", "30",
        "--out", tmp_path / "s", "--json",
    )  # fmt: skip
    assert shap_run.exit_code == 0, shap_run.stderr
    report = json.loads(shap_run.stdout)
    assert report["model"]["kind"] == "regressor" and report["model"]["outputs"] == "values"
    ranking = list(report["global_importance"])
    assert ranking[0] == "a" and ranking[-1] == "c"
    lime_run = run_in_process(
        "explain", tmp_path / "mlp.pt", tmp_path / "rows.csv", "--method", "lime", "--rows", "0:2",
        "--num-samples", "300", "--out", tmp_path / "l", "--json",
    )  # fmt: skip
    assert lime_run.exit_code == 0, lime_run.stderr
