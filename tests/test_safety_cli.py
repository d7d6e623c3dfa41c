"""A hostile pickle through the real command: refused with exit 4, its payload never runs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from tests.conftest import SAMPLES, run_xai


class CreatesMarker:
    """Unpickling this calls os.system, which would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(CreatesMarker(marker)))
    result = run_xai("explain", tmp_path / "evil.pkl", SAMPLES["iris"][1], "--out", tmp_path / "out")
    assert result.exit_code == 4
    assert "system" in result.stderr and "--trust-model" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_trust_model_is_the_only_way_past(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(CreatesMarker(marker)))
    result = run_xai(
        "explain", tmp_path / "evil.pkl", SAMPLES["iris"][1], "--out", tmp_path / "out", "--trust-model"
    )
    assert marker.exists(), "with --trust-model the file is loaded as is"
    assert result.exit_code == 3, "and then it is not a model"
    marker.unlink()
    env = {**os.environ, "XAI_TRUST_MODEL": "1"}
    run_xai("explain", tmp_path / "evil.pkl", SAMPLES["iris"][1], "--out", tmp_path / "out", env=env)
    assert marker.exists()


def test_real_models_load_without_trust(tmp_path: Path) -> None:
    for model, data in SAMPLES.values():
        result = run_xai(
            "explain", model, data, "--rows", "0:2", "--background", "5", "--out", tmp_path, "--json"
        )
        assert result.exit_code == 0, result.stderr
