"""Mutated bytes of real model files through the loaders and scanners: success, a clean bad-input
error (exit 3) or a refusal (exit 4), never anything else, never a crash.

A short run here; ``python scripts/fuzz_loaders.py --iterations N`` runs as long as wanted.
"""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, SAMPLES
from tests.hostile.mutations import mutate, seed_files
from tests.hostile.payloads import working_estimator
from xai_cli.errors import InputError, UnsafeModelError
from xai_cli.models.integrity import check_model_integrity
from xai_cli.models.loader import load_model
from xai_cli.models.scanning import scan_model


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return seed_files(tmp_path_factory.mktemp("seeds"))


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(which=st.integers(0, 1000), rng=st.randoms(use_true_random=False))
def test_mutated_model_files_give_only_clean_outcomes(
    seeds: list[Path], tmp_path: Path, which: int, rng: random.Random
) -> None:
    source = seeds[which % len(seeds)]
    path = tmp_path / f"mutated{source.suffix}"
    path.write_bytes(mutate(source.read_bytes(), rng))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for action in (load_model, scan_model):
            try:
                action(path)
            except (InputError, UnsafeModelError) as exc:
                assert "\n" not in str(exc)


def test_the_long_run_script(tmp_path: Path) -> None:
    """What scripts/fuzz_loaders.py reports, on a short run (in its own process: a crash would show)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz_loaders.py"), "--iterations", "100", "--seed", "7",
         "--failures", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tried 100 mutated model files" in result.stdout
    assert "0 failure(s)" in result.stdout


# ---------------------------------------------------------------------------------------------
# What the fuzzer found: crashes inside numpy and scikit-learn's compiled code
# ---------------------------------------------------------------------------------------------


class Reduces:
    """Pickles as whatever ``__reduce__`` value it is given: a crafted state for a real class."""

    def __init__(self, *value: object) -> None:
        self.value = value

    def __reduce__(self) -> tuple[object, ...]:
        return self.value


def test_object_array_shorter_than_its_shape(tmp_path: Path) -> None:
    """numpy's ndarray.__setstate__ reads past a too-short item list (the interpreter crashed)."""
    from numpy._core.multiarray import _reconstruct

    state = (1, (4,), np.dtype("O"), False, [1, None, "x"])
    (tmp_path / "short.pkl").write_bytes(pickle.dumps(Reduces(_reconstruct, (np.ndarray, (0,), b"b"), state)))
    with pytest.raises(InputError, match=r"an object array of shape \(4,\) whose items do not match it"):
        load_model(tmp_path / "short.pkl")


def test_dtype_with_flags_that_contradict_it(tmp_path: Path) -> None:
    """Object-array flags on complex64 broke numpy's shared complex64 for the rest of the process."""
    # numpy.dtype is guarded: it always builds a fresh copy, so copy=False no longer reaches numpy's
    # shared complex64 (it was refused as "changes numpy's shared dtype" before), and both are refused.
    for copy, message in (
        (True, "stored flags or sizes contradict it"),
        (False, "stored flags or sizes contradict it"),
    ):
        evil = Reduces(np.dtype, ("c8", False, copy), (3, "<", None, None, None, -1, -1, 63))
        (tmp_path / "flags.pkl").write_bytes(pickle.dumps(evil, protocol=2))
        with pytest.raises(InputError, match=message):
            load_model(tmp_path / "flags.pkl")
    assert np.zeros(2, dtype="complex64").sum() == 0


def test_datetime_dtype_without_its_unit(tmp_path: Path) -> None:
    """A timedelta dtype given a version-3 state (no unit) crashed numpy."""
    evil = Reduces(np.dtype, ("m8", False, True), (3, "<", None, None, None, -1, -1, 0))
    (tmp_path / "m8.pkl").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(InputError, match="a date or time type without its unit"):
        load_model(tmp_path / "m8.pkl")


def _iris_tree_state() -> tuple[object, dict]:
    tree = working_estimator()
    return tree, tree.tree_.__getstate__()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("child-points-up", "node links point outside it or back up"),
        ("child-out-of-range", "node links point outside it or back up"),
        ("feature-out-of-range", "splits on a feature it does not have"),
        ("wrong-depth", "recorded depth is not its depth"),
    ],
)
def test_damaged_decision_trees_are_refused(damage: str, message: str) -> None:
    """scikit-learn's tree code follows these indices unchecked: it crashed or looped for ever."""
    estimator, state = _iris_tree_state()
    nodes = state["nodes"].copy()
    if damage == "child-points-up":
        nodes["left_child"][1 if nodes["left_child"][1] != -1 else 2] = 0
        nodes["left_child"][2] = 0
    elif damage == "child-out-of-range":
        nodes["right_child"][0] = 10_000
    elif damage == "feature-out-of-range":
        nodes["feature"][0] = 99
    else:
        state = {**state, "max_depth": 1}
    estimator.tree_.__setstate__({**state, "nodes": nodes})
    with pytest.raises(InputError, match=message):
        check_model_integrity(estimator, Path("tree.pkl"))


def test_real_models_pass_the_integrity_checks() -> None:
    import joblib

    for model, _ in SAMPLES.values():
        check_model_integrity(joblib.load(model), model)


def test_data_after_a_compressed_stream(tmp_path: Path) -> None:
    """joblib doubled its buffer for every turn over trailing bytes: minutes, or killed for memory."""
    import joblib

    for compress in (("zlib", 3), ("gzip", 3)):
        joblib.dump(working_estimator(), tmp_path / "m.joblib", compress=compress)
        with open(tmp_path / "m.joblib", "ab") as handle:
            handle.write(b"trailing bytes")
        started = time.monotonic()
        model = load_model(tmp_path / "m.joblib")  # the pickle ends before them
        assert model.kind == "classifier"
        assert scan_model(tmp_path / "m.joblib").verdict == "safe"
        assert time.monotonic() - started < 30


def test_a_huge_claimed_length(tmp_path: Path) -> None:
    """A BYTEARRAY8 claiming 2**36 bytes made pickle allocate and zero them before reading."""
    (tmp_path / "big.pkl").write_bytes(b"\x80\x05\x96" + (2**36).to_bytes(8, "little") + b"short.")
    started = time.monotonic()
    with pytest.raises(InputError, match="ends too early"):
        load_model(tmp_path / "big.pkl")
    assert time.monotonic() - started < 30
