"""`xai attention MODEL FOLDER --resume`: a run killed mid-folder finishes without redoing its images,
its report equal to an uninterrupted run's; the insertion-AUC gate; `--format`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.batch_helpers import visible_leftovers
from tests.conftest import ROOT, run_in_process

pytest.importorskip("torch")

MODEL = ROOT / "sample_models" / "digits_cnn.pt"
IMAGES = ROOT / "sample_data" / "digits"
OPTIONS = ["--method", "gradcam", "--faithfulness-steps", "4", "--batch-size", "1", "--device", "cpu"]
PARTIAL = ".xai-attention-partial"


def completed_images(out: Path) -> int:
    entries = out / PARTIAL / ".entries"
    return len([p for p in entries.glob("*.json") if p.name != "run.json"]) if entries.is_dir() else 0


def test_kill_9_mid_folder_then_resume_finishes_with_the_same_report(tmp_path: Path) -> None:
    images = tmp_path / "photos"
    images.mkdir()
    for path in sorted(IMAGES.glob("*.png"))[:8]:
        shutil.copyfile(path, images / path.name)
    whole = tmp_path / "whole"
    assert run_in_process("attention", MODEL, images, "--out", whole, *OPTIONS).exit_code == 0

    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "xai_cli",
        "attention",
        str(MODEL),
        str(images),
        "--out",
        str(out),
        *OPTIONS,
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while completed_images(out) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = completed_images(out)
    assert 3 <= done_before < 8, "killed mid-folder"
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == [], "nothing visible in --out"

    resumed = run_in_process("attention", MODEL, images, "--out", out, *OPTIONS, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert f"--resume: {done_before} of 8 image(s) are complete" in resumed.stderr
    assert (out / "attention.json").read_bytes() == (whole / "attention.json").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in whole.iterdir())
    assert visible_leftovers(out) == []

    again = run_in_process(
        "attention", MODEL, images, "--out", out, *OPTIONS, "--resume", "--format", "markdown"
    )
    assert again.exit_code == 0 and "--resume: 8 of 8 image(s) are complete" in again.stderr
    assert again.stdout.startswith("### xai attention: 8 image(s) (gradcam)")
    other = run_in_process("attention", MODEL, images, "--out", out, *OPTIONS, "--resume", "--seed", "1")
    assert other.exit_code == 0 and "--resume" not in other.stderr, "other options: nothing is reused"


def test_min_insertion_auc_gate_writes_the_report_then_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "report"
    one_image = IMAGES / "digit_3_0.png"
    failed = run_in_process(
        "attention", MODEL, one_image, "--out", out, *OPTIONS, "--min-insertion-auc", "1.01"
    )
    assert failed.exit_code == 1
    assert "error: gate failed: mean insertion AUC over 1 image(s)" in failed.stderr
    report = json.loads((out / "attention.json").read_text())
    passed = run_in_process(
        "attention", MODEL, one_image, "--out", out, *OPTIONS, "--min-insertion-auc", "0.01"
    )
    assert passed.exit_code == 0 and report["summary"]["mean_insertion_auc"] > 0.01
    skipped = run_in_process(
        "attention",
        MODEL,
        one_image,
        "--out",
        out,
        *OPTIONS,
        "--faithfulness-steps",
        "0",
        "--min-insertion-auc",
        "0.5",
    )
    assert skipped.exit_code == 1 and "--faithfulness-steps 0 skips it" in skipped.stderr
