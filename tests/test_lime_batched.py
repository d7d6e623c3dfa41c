"""The batched LIME engine against lime itself: the same seed gives the same explanation."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy.stats import truncnorm

from tests.conftest import SAMPLES, run_in_process
from xai_cli.data.tabular import read_table
from xai_cli.data.validate import align_to_model
from xai_cli.methods.lime import LimeOptions, explain_lime
from xai_cli.methods.lime_batched import TruncatedNormalBins
from xai_cli.models.loader import load_model

LABELS = {"credit": "decision", "breast_cancer": "diagnosis", "iris": "species", "wine": "cultivar"}


def sample(name: str, rows: list[int], n_background: int = 60):
    model_path, data_path = SAMPLES[name]
    model = load_model(model_path)
    frame = align_to_model(read_table(data_path), model, data_path, LABELS[name]).frame
    background = frame.sample(n_background, random_state=0).reset_index(drop=True)
    return model, frame.iloc[rows].reset_index(drop=True), background


def assert_same_explanations(model, X, background, rows, **options) -> None:
    fast = explain_lime(model, X, background, rows, LimeOptions(engine="fast", **options))
    lime = explain_lime(model, X, background, rows, LimeOptions(engine="lime", **options))
    np.testing.assert_allclose(fast.values, lime.values, atol=1e-12)
    np.testing.assert_allclose(fast.base_values, lime.base_values, atol=1e-12)
    for a, b in zip(fast.row_details, lime.row_details, strict=True):
        assert a["local_model_score"] == pytest.approx(b["local_model_score"], abs=1e-12)
        assert a["local_prediction"] == pytest.approx(b["local_prediction"], abs=1e-12)
        assert list(a["conditions"].items()) == list(b["conditions"].items())


@pytest.mark.parametrize(
    ("name", "num_features"),
    [
        ("credit", None),  # numeric and category columns, every column in the local model
        ("credit", 3),  # lime's forward selection (up to 6 features)
        ("breast_cancer", 8),  # lime's highest-weights selection
        ("wine", None),  # three classes, each row's predicted class
    ],
)
def test_same_seed_same_explanation_as_lime(name: str, num_features: int | None) -> None:
    rows = [0, 7, 31]
    model, X, background = sample(name, rows)
    assert_same_explanations(model, X, background, rows, num_samples=400, num_features=num_features, seed=3)


def test_same_explanation_as_lime_for_a_regressor(tmp_path: Path) -> None:
    """Also a column with an empty quartile bin: 0, 0, 0, 10 has quartiles 0, 0, 2.5, so (0, 2.5] is empty."""
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(120, 5)), columns=list("abcde"))
    frame["e"] = np.where(np.arange(120) % 4 == 0, 10.0, 0.0)
    target = frame.a * 2 + np.sin(frame.b) + frame.c * frame.d
    joblib.dump(RandomForestRegressor(20, random_state=0).fit(frame, target), tmp_path / "m.joblib")
    model = load_model(tmp_path / "m.joblib", trust=True)
    rows = [1, 2]
    assert_same_explanations(model, frame.iloc[rows], frame, rows, num_samples=300, seed=0)


def test_truncated_normal_quantile_agrees_with_scipy() -> None:
    rng = np.random.default_rng(1)
    # ordinary bins, narrow bins, bins deep in either tail, and bins beyond where probabilities underflow
    low = np.concatenate([rng.uniform(-6, 6, 2000), [-45.0, -45.0, 8.0, 35.0, 40.0, -1e-3, 0.0]])
    width = np.concatenate([rng.uniform(1e-6, 5, 2000), [1.0, 20.0, 1.0, 2.0, 30.0, 2e-3, 1e-9]])
    high = low + width
    u = rng.random(len(low))
    ours = TruncatedNormalBins(low, high).quantile(np.arange(len(low)), u)
    np.testing.assert_allclose(ours, truncnorm.ppf(u, low, high), rtol=1e-9, atol=1e-12)


def test_engines_give_the_same_report(tmp_path: Path) -> None:
    model, data = SAMPLES["credit"]
    common = ["explain", model, data, "--method", "lime", "--rows", "0:3", "--num-samples", "300", "--json"]
    fast = json.loads(run_in_process(*common, "--out", tmp_path / "a").stdout)
    lime = json.loads(run_in_process(*common, "--lime-engine", "lime", "--out", tmp_path / "b").stdout)
    assert fast["settings"]["engine"] == "fast" and lime["settings"]["engine"] == "lime"
    for a, b in zip(fast["rows"], lime["rows"], strict=True):
        assert a["conditions"] == b["conditions"]
        for column, weight in a["attributions"].items():
            assert weight == pytest.approx(b["attributions"][column], abs=1e-12)


def test_unknown_engine_is_a_usage_error(tmp_path: Path) -> None:
    model, data = SAMPLES["iris"]
    result = run_in_process(
        "explain", model, data, "--method", "lime", "--lime-engine", "turbo", "--out", tmp_path
    )
    assert result.exit_code == 2 and "--lime-engine turbo" in result.stderr
