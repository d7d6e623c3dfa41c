"""`xai attention` on a CNN trained to find a planted square: every method on every format.

A map that explains a square-finder must peak on the square, and must rank pixels better than chance
(deletion/insertion AUCs against the random ranking in the same report).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import ROOT, run_in_process, run_xai

torch = pytest.importorskip("torch")
pytest.importorskip("captum")

from tests import deep_models  # noqa: E402

# Tiny models: one thread is faster than several (and steadier on a shared machine).
torch.set_num_threads(1)

GRADIENT_METHODS = ["gradcam", "gradcam++", "saliency", "integrated-gradients", "smoothgrad"]
ALL_METHODS = [*GRADIENT_METHODS, "occlusion"]
# Cheap settings: the maps are the same methods, with fewer samples.
FAST = ["--faithfulness-steps", "8", "--steps", "8", "--samples", "4", "--batch-size", "32"]


class SquareModels:
    """The trained square finder in every format, and images with known squares."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "square_net.py").write_text(deep_models.NETWORK_SOURCE)
        sys.path.insert(0, str(folder))
        try:
            module = importlib.import_module("square_net")
        finally:
            sys.path.remove(str(folder))
        network = deep_models.train_square_finder(vars(module))
        self.network = network
        self.code = folder / "square_net.py"
        self.paths: dict[str, Path] = {}
        torch.jit.script(network).save(str(folder / "square_script.pt"))
        self.paths["torchscript"] = folder / "square_script.pt"
        program = torch.export.export(
            network, (torch.zeros(2, 1, 32, 32),), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
        )
        torch.export.save(program, str(folder / "square.pt2"))
        self.paths["torch-export"] = folder / "square.pt2"
        torch.save(network.state_dict(), folder / "square_weights.pt")
        self.paths["state_dict"] = folder / "square_weights.pt"
        torch.save(network, folder / "square_pickled.pt")
        self.paths["pickled"] = folder / "square_pickled.pt"
        self.paths["keras"], self.paths["keras-h5"] = deep_models.to_keras(network, folder)
        self.paths["onnx"] = deep_models.to_onnx(network, folder / "square.onnx")
        rng = np.random.default_rng(7)
        self.images = folder / "images"
        self.images.mkdir()
        self.planted: dict[str, deep_models.Planted] = {}
        for name in ("a", "b", "c"):
            planted = deep_models.planted_image(rng, with_square=True)
            deep_models.save_png(planted.pixels, self.images / f"{name}.png")
            self.planted[str(self.images / f"{name}.png")] = planted

    def options(self, form: str) -> list[str]:
        """The extra options a format needs."""
        if form == "state_dict":
            return ["--arch", "square_net:build", "--code", str(self.code)]
        if form == "pickled":
            return ["--trust-model", "--code", str(self.code)]
        return []


@pytest.fixture(scope="module")
def squares(tmp_path_factory: pytest.TempPathFactory) -> SquareModels:
    """Trained once for this module (a few seconds)."""
    return SquareModels(tmp_path_factory.mktemp("squares"))


def attention(squares: SquareModels, form: str, method: str, out: Path, *extra: object) -> dict[str, Any]:
    result = run_in_process(
        "attention",
        squares.paths[form],
        squares.images,
        "--method",
        method,
        "--device",
        "cpu",
        "--target",
        "1",
        *squares.options(form),
        *FAST,
        *extra,
        "--out",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "form", ["torchscript", "torch-export", "state_dict", "pickled", "keras", "keras-h5"]
)
@pytest.mark.parametrize("method", ALL_METHODS)
def test_every_method_on_every_format_peaks_on_the_square(
    squares: SquareModels, form: str, method: str, tmp_path: Path
) -> None:
    report = attention(squares, form, method, tmp_path)
    assert report["method"] == method and report["images"]["n_explained"] == 3
    named = form in ("torchscript", "state_dict", "pickled")
    assert report["model"]["classes"] == (["blank", "square"] if named else [0, 1])
    for entry in report["results"]:
        planted = squares.planted[entry["image"]]
        assert planted.contains(entry["peak"]["x"], entry["peak"]["y"]), (
            entry["peak"],
            planted.row,
            planted.col,
        )
        assert (tmp_path / entry["overlay"]).read_bytes().startswith(b"\x89PNG")
        assert entry["layer"] == (report["settings"]["layer"] if method.startswith("gradcam") else None)


def test_onnx_gets_occlusion_by_default_and_it_finds_the_square(
    squares: SquareModels, tmp_path: Path
) -> None:
    result = run_in_process(
        "attention", squares.paths["onnx"], squares.images, "--out", tmp_path, "--json", *FAST
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["method"] == "occlusion" and report["model"]["format"] == "onnx"
    for entry in report["results"]:
        assert entry["prediction"] == 1  # the ONNX file carries no class names
        assert squares.planted[entry["image"]].contains(entry["peak"]["x"], entry["peak"]["y"])


def test_onnx_refuses_gradient_methods(squares: SquareModels, tmp_path: Path) -> None:
    result = run_in_process(
        "attention", squares.paths["onnx"], squares.images, "--method", "saliency", "--out", tmp_path
    )
    assert result.exit_code == 2
    assert "occlusion" in result.stderr and not (tmp_path / "attention.json").exists()


@pytest.mark.parametrize("method", ["gradcam", "integrated-gradients", "occlusion"])
def test_maps_are_more_faithful_than_a_random_ranking(
    squares: SquareModels, method: str, tmp_path: Path
) -> None:
    report = attention(squares, "torchscript", method, tmp_path, "--faithfulness-steps", "16")
    for entry in report["results"]:
        faith = entry["faithfulness"]
        assert faith["deletion_auc"] < faith["random_deletion_auc"], faith
        assert faith["insertion_auc"] > faith["random_insertion_auc"], faith
    assert report["summary"]["share_beating_random"] == 1.0


def test_default_method_is_gradcam_at_the_last_convolution(squares: SquareModels, tmp_path: Path) -> None:
    result = run_in_process(
        "attention", squares.paths["torchscript"], squares.images / "a.png", "--out", tmp_path, "--json"
    )
    report = json.loads(result.stdout)
    assert report["method"] == "gradcam" and report["settings"]["layer"] == "features.3"
    assert report["results"][0]["prediction"] == "square"
    assert report["model"]["input"] == {
        "kind": "image",
        "channels": 1,
        "height": 32,
        "width": 32,
        "layout": "NCHW",
    }


def test_peak_is_in_the_original_images_pixels(squares: SquareModels, tmp_path: Path) -> None:
    """A 96x64 photo of a square is resized to the model's 32x32; the peak is reported on the photo."""
    from PIL import Image

    planted = deep_models.planted_image(np.random.default_rng(3), with_square=True)
    big = Image.fromarray((planted.pixels * 255).astype(np.uint8), mode="L").resize((64, 96), Image.NEAREST)
    big.save(tmp_path / "big.png")
    result = run_in_process(
        "attention", squares.paths["torchscript"], tmp_path / "big.png", "--out", tmp_path / "o", "--json"
    )
    entry = json.loads(result.stdout)["results"][0]
    x, y = entry["peak"]["x"], entry["peak"]["y"]
    assert planted.col * 2 - 4 <= x < (planted.col + 8) * 2 + 4, (x, planted.col)
    assert planted.row * 3 - 6 <= y < (planted.row + 8) * 3 + 6, (y, planted.row)
    from PIL import Image as PILImage

    with PILImage.open(tmp_path / "o" / entry["overlay"]) as overlay:
        assert overlay.width > 100


def test_save_maps_writes_the_raw_maps(squares: SquareModels, tmp_path: Path) -> None:
    report = attention(squares, "torchscript", "saliency", tmp_path, "--save-maps")
    for entry in report["results"]:
        saliency = np.load(tmp_path / entry["map"])
        assert saliency.shape == (32, 32) and saliency.dtype == np.float32
        row, col = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
        assert (entry["peak"]["x"], entry["peak"]["y"]) == (col, row)


def test_same_seed_gives_byte_identical_json(squares: SquareModels, tmp_path: Path) -> None:
    first = attention(squares, "torchscript", "smoothgrad", tmp_path / "one", "--seed", "5")
    second = attention(squares, "torchscript", "smoothgrad", tmp_path / "two", "--seed", "5")
    assert first == second
    assert (tmp_path / "one" / "attention.json").read_bytes() == (
        tmp_path / "two" / "attention.json"
    ).read_bytes()


def test_target_by_name_and_index_and_unknown(squares: SquareModels, tmp_path: Path) -> None:
    by_index = run_in_process(
        "attention",
        squares.paths["torchscript"],
        squares.images,
        "--target",
        "0",
        "--out",
        tmp_path,
        "--json",
        *FAST,
    )
    assert {e["target"] for e in json.loads(by_index.stdout)["results"]} == {"blank"}
    unknown = run_in_process(
        "attention",
        squares.paths["torchscript"],
        squares.images,
        "--target",
        "circle",
        "--out",
        tmp_path / "x",
    )
    assert unknown.exit_code == 2 and "blank, square" in unknown.stderr


def test_classes_file_names_the_outputs(squares: SquareModels, tmp_path: Path) -> None:
    (tmp_path / "classes.txt").write_text("empty\nbox\n")
    result = run_in_process(
        "attention",
        squares.paths["onnx"],
        squares.images,
        "--classes",
        tmp_path / "classes.txt",
        "--target",
        "box",
        "--out",
        tmp_path / "r",
        "--json",
        *FAST,
    )
    report = json.loads(result.stdout)
    assert report["model"]["classes"] == ["empty", "box"]
    assert {e["prediction"] for e in report["results"]} == {"box"}
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    wrong = run_in_process(
        "attention",
        squares.paths["onnx"],
        squares.images,
        "--classes",
        tmp_path / "three.txt",
        "--out",
        tmp_path,
    )
    assert wrong.exit_code == 3 and "3 classes" in wrong.stderr


def test_layer_option(squares: SquareModels, tmp_path: Path) -> None:
    ok = attention(squares, "state_dict", "gradcam", tmp_path, "--layer", "features.4")
    assert ok["settings"]["layer"] == "features.4"
    bad = run_in_process(
        "attention", squares.paths["torchscript"], squares.images, "--layer", "nope", "--out", tmp_path / "b"
    )
    assert bad.exit_code == 2 and "features.0, features.3" in bad.stderr


def test_device_cpu_and_cuda_without_a_gpu(squares: SquareModels, tmp_path: Path) -> None:
    cpu = attention(squares, "torchscript", "gradcam", tmp_path / "cpu")
    assert cpu["model"]["device"] == "cpu"
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    result = run_in_process(
        "attention",
        squares.paths["torchscript"],
        squares.images,
        "--device",
        "cuda",
        "--out",
        tmp_path / "gpu",
    )
    assert result.exit_code == 3
    assert (
        result.stderr.startswith("error: --device cuda: no CUDA device") and "--device cpu" in result.stderr
    )
    assert not (tmp_path / "gpu" / "attention.json").exists()


def test_rollout_on_the_sample_vision_transformer(tmp_path: Path) -> None:
    model = ROOT / "sample_models" / "digits_vit.pt"
    images = tmp_path / "digits"
    images.mkdir()
    for name in ("digit_3_0.png", "digit_7_1.png", "digit_8_1.png"):
        (images / name).write_bytes((ROOT / "sample_data" / "digits" / name).read_bytes())
    result = run_in_process(
        "attention", model, images, "--method", "rollout", "--out", tmp_path / "out", "--json", *FAST
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [e["prediction"] for e in report["results"]] == ["3", "7", "8"]
    assert report["model"]["estimator"] == "DigitsViT" and report["settings"]["score"] == "logit"
    for entry in report["results"]:
        saliency_peak = entry["peak"]
        assert 0 <= saliency_peak["x"] < 32 and 0 <= saliency_peak["y"] < 32


def test_rollout_through_multihead_attention_hooks(tmp_path: Path) -> None:
    """An eager transformer built from nn.MultiheadAttention: the weights are read by hooks."""
    code = tmp_path / "tiny_vit.py"
    code.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class TinyViT(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.patch = nn.Conv2d(1, 16, 8, stride=8)\n"
        "        self.cls = nn.Parameter(torch.zeros(1, 1, 16))\n"
        "        self.layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)\n"
        "        self.head = nn.Linear(16, 2)\n"
        "    def forward(self, x):\n"
        "        t = self.patch(x).flatten(2).transpose(1, 2)\n"
        "        t = torch.cat([self.cls.expand(len(t), -1, -1), t], 1)\n"
        "        return self.head(self.layer(t)[:, 0])\n\n"
        "def build():\n    torch.manual_seed(0)\n    return TinyViT()\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        network = importlib.import_module("tiny_vit").build()
    finally:
        sys.path.remove(str(tmp_path))
    torch.save(network.state_dict(), tmp_path / "vit.pt")
    deep_models.save_png(np.random.default_rng(0).uniform(size=(32, 32)), tmp_path / "noise.png")
    result = run_in_process(
        "attention",
        tmp_path / "vit.pt",
        tmp_path / "noise.png",
        "--arch",
        "tiny_vit:build",
        "--code",
        code,
        "--method",
        "rollout",
        "--out",
        tmp_path / "out",
        "--json",
        *FAST,
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["overlay"] == "noise.overlay.png"


def test_rollout_needs_attention_weights(squares: SquareModels, tmp_path: Path) -> None:
    result = run_in_process(
        "attention", squares.paths["torchscript"], squares.images, "--method", "rollout", "--out", tmp_path
    )
    assert result.exit_code == 2 and "attention weights" in result.stderr


def test_sample_command_from_the_readme(tmp_path: Path) -> None:
    """The README's first example, as a user types it, in a subprocess."""
    out = tmp_path / "reports" / "digits"
    result = run_xai(
        "attention",
        "sample_models/digits_cnn.pt",
        "sample_data/digits/",
        "--method",
        "gradcam",
        "--out",
        out,
        cwd=ROOT,
    )
    assert result.exit_code == 0, result.stderr
    assert "gradcam: attention per image" in result.stdout and "mean insertion AUC" in result.stdout
    report = json.loads((out / "attention.json").read_text())
    assert report["model"]["format"] == "torchscript" and report["model"]["estimator"] == "DigitsCNN"
    correct = sum(str(e["prediction"]) == Path(e["image"]).name.split("_")[1] for e in report["results"])
    assert correct >= 17
    assert len(list(out.glob("*.overlay.png"))) == 20
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_schema_is_shipped() -> None:
    result = run_in_process("schema", "attention")
    schema = json.loads(result.stdout)
    assert schema["properties"]["command"] == {"const": "attention"}
