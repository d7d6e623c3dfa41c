"""What `xai attention` does with images it cannot read: one line naming the file; a folder goes on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_in_process

pytest.importorskip("onnxruntime")

MODEL = ROOT / "sample_models" / "digits_cnn.onnx"
DIGITS = ROOT / "sample_data" / "digits"
FAST = ["--faithfulness-steps", "0", "--window", "8", "--stride", "8"]


def digits_folder(tmp_path: Path, count: int = 3) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted(DIGITS.iterdir())[:count]:
        shutil.copy(path, folder / path.name)
    return folder


def test_a_single_file_that_is_not_an_image(tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    result = run_in_process("attention", MODEL, bad, "--out", tmp_path / "out")
    assert result.exit_code == 3
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith(f"error: {bad}: not an image") and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "attention.json").exists()


def test_a_truncated_image(tmp_path: Path) -> None:
    broken = tmp_path / "half.png"
    broken.write_bytes((DIGITS / "digit_0_0.png").read_bytes()[:60])
    result = run_in_process("attention", MODEL, broken, "--out", tmp_path / "out")
    assert result.exit_code == 3 and str(broken) in result.stderr
    assert "damaged or truncated" in result.stderr or "not an image" in result.stderr


def test_missing_input_and_empty_folder(tmp_path: Path) -> None:
    missing = run_in_process("attention", MODEL, tmp_path / "nowhere", "--out", tmp_path / "out")
    assert missing.exit_code == 3 and "no such file or folder" in missing.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "labels.csv").write_text("a,b\n")
    empty = run_in_process("attention", MODEL, tmp_path / "empty", "--out", tmp_path / "out")
    assert empty.exit_code == 3 and "no image files" in empty.stderr


def test_folder_with_bad_files_does_the_rest_and_exits_5(tmp_path: Path) -> None:
    folder = digits_folder(tmp_path)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "sub").mkdir()
    shutil.copy(DIGITS / "digit_9_0.png", folder / "sub" / "nine.png")
    (folder / "readme.txt").write_text("not an image by name: skipped with a note")
    out = tmp_path / "out"
    result = run_in_process("attention", MODEL, folder, "--out", out, *FAST)
    assert result.exit_code == 5
    assert f"error: {folder / 'broken.png'}:" in result.stderr
    assert "1 of 5 images could not be read" in result.stderr
    assert "readme.txt" in result.stderr  # the note
    report = json.loads((out / "attention.json").read_text())
    assert report["images"]["n_explained"] == 4 and report["images"]["n_failed"] == 1
    assert report["failed"][0]["image"] == str(folder / "broken.png")
    assert [e["overlay"] for e in report["results"]] == [
        "digit_0_0.overlay.png",
        "digit_0_1.overlay.png",
        "digit_1_0.overlay.png",
        "sub__nine.overlay.png",
    ]
    assert report["results"][3]["prediction"] == "9"
    assert (out / "sub__nine.overlay.png").exists()


def test_folder_where_nothing_is_readable(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"nope")
    (folder / "b.webp").write_bytes(b"")
    result = run_in_process("attention", MODEL, folder, "--out", tmp_path / "out")
    assert result.exit_code == 3 and "none of the 2 image(s) could be read" in result.stderr
    assert not (tmp_path / "out" / "attention.json").exists()


def test_colour_and_odd_sized_images_are_converted_and_resized(tmp_path: Path) -> None:
    from PIL import Image

    with Image.open(DIGITS / "digit_4_0.png") as digit:
        digit.convert("RGB").resize((80, 60)).save(tmp_path / "wide.jpg", quality=95)
    result = run_in_process(
        "attention", MODEL, tmp_path / "wide.jpg", "--out", tmp_path / "out", "--json", *FAST
    )
    assert result.exit_code == 0, result.stderr
    entry = json.loads(result.stdout)["results"][0]
    assert 0 <= entry["peak"]["x"] < 80 and 0 <= entry["peak"]["y"] < 60
    with Image.open(tmp_path / "out" / entry["overlay"]) as overlay:
        assert overlay.width > overlay.height  # drawn at the image's own proportions


def test_bad_options(tmp_path: Path) -> None:
    image = DIGITS / "digit_0_0.png"
    cases = [
        (["--size", "big"], "expected HxW"),
        (["--mean", "0.1,0.2"], "give 1 or 1 values"),
        (["--std", "0"], "must be positive"),
        (["--method", "magic"], "expected one of"),
        (["--baseline", "grey"], "expected one of black, blurred"),
        (["--device", "tpu"], "expected one of auto, cpu, cuda"),
        (["--layer", "conv"], "--layer applies to gradcam"),
    ]
    for options, message in cases:
        result = run_in_process("attention", MODEL, image, "--out", tmp_path, *options)
        assert result.exit_code == 2, (options, result.stderr)
        assert message in result.stderr, (options, result.stderr)


def test_a_tabular_model_is_pointed_to_explain(tmp_path: Path) -> None:
    result = run_in_process(
        "attention", ROOT / "sample_models" / "iris_tree.joblib", DIGITS, "--out", tmp_path
    )
    assert result.exit_code == 2 and "use 'xai explain MODEL DATA'" in result.stderr


def test_an_image_model_is_pointed_to_attention(tmp_path: Path) -> None:
    result = run_in_process("explain", MODEL, ROOT / "sample_data" / "iris.csv", "--out", tmp_path)
    assert result.exit_code == 2 and "xai attention" in result.stderr
