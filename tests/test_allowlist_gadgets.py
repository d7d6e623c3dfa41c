"""Gadgets inside the old allow-list, and bombs: refused by `xai explain` and `xai scan` alike.

Each gadget of tests/hostile/gadgets.py is built from names the old allow-list admitted (numpy's
random-state constructors, functools.partial, every sklearn.* class, pandas DataFrames, state keys
of any name). ``explain`` refuses each with exit 4 and one line naming it, ``scan`` calls it unsafe, and
no marker appears; the companion tests show the payloads run when loaded without the checks. Bombs end
with exit 3 within the work budget (counted, never timed) and bounded memory.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES, run_in_process, run_xai
from tests.hostile import gadgets
from tests.hostile.gadgets import BOMBS, BOMBS_REFUSED, GADGETS, Gadget, write
from xai_cli.errors import InputError, UnsafeModelError
from xai_cli.models.pickle_budget import DEFAULTS, Budget, BudgetExceeded
from xai_cli.models.pickle_scan import list_pickle
from xai_cli.models.safe_pickle import load_pickle

IRIS_DATA = SAMPLES["iris"][1]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_refused(gadget: Gadget, path: Path, tmp_path: Path) -> None:
    """explain: exit as the gadget says, one line naming it; scan: unsafe (4) or unreadable (3)."""
    result = run_in_process("explain", path, IRIS_DATA, "--out", tmp_path / "out")
    lines = _error_lines(result.stderr)
    assert result.exit_code == gadget.exit_code, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(path) in lines[0] and any(name in lines[0] for name in gadget.refused), lines[0]
    scan = run_in_process("scan", path, "--json")
    assert scan.exit_code == gadget.exit_code, scan.stderr + scan.stdout
    if gadget.exit_code == 4:
        (report,) = json.loads(scan.stdout)["files"]
        assert report["verdict"] == "unsafe"
        refused = {finding["name"] for finding in report["findings"] if not finding["allowed"]}
        assert refused & set(gadget.refused), refused
    assert not any((tmp_path / "out").rglob("*.json")), "a report was written"


@pytest.mark.parametrize("gadget", GADGETS + BOMBS_REFUSED, ids=lambda g: g.name)
def test_gadgets_are_refused_by_explain_and_scan(gadget: Gadget, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    assert_refused(gadget, write(gadget, tmp_path, marker), tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("gadget", [g for g in GADGETS if g.runs == "load"], ids=lambda g: g.name)
def test_gadget_payloads_run_with_plain_pickle(gadget: Gadget, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    pickle.loads(write(gadget, tmp_path, marker).read_bytes())
    assert marker.exists()


def test_the_partial_payload_runs_when_called(tmp_path: Path) -> None:
    """Loaded plainly, the Pipeline's FunctionTransformer holds os.system with the marker command."""
    marker = tmp_path / "marker"
    pipeline = pickle.loads(gadgets.partial_os_system(tmp_path, marker))
    assert pipeline.steps[0][1].func() == 0
    assert marker.exists()


def test_what_the_allowed_name_gadgets_do_without_the_checks(tmp_path: Path) -> None:
    """Plainly loaded: the constructors call what the file hands them, the state shadows predict_proba,
    the DataFrame carries estimator attributes and a DataFrame.eval expression, the scorer is set to
    call the data's to_csv."""
    from sklearn.linear_model import LogisticRegression

    marker = tmp_path / "marker"
    with pytest.raises(TypeError):
        pickle.loads(gadgets.generator_ctor_allowed_class(tmp_path, marker))  # RandomState('MT19937')
    built = pickle.loads(gadgets.bit_generator_ctor_estimator(tmp_path, marker))
    assert isinstance(built, LogisticRegression)  # __bit_generator_ctor called the class it was given
    tree = pickle.loads(gadgets.state_shadows_predict(tmp_path, marker))
    assert tree.predict_proba is np.log1p
    step = pickle.loads(gadgets.dataframe_as_estimator(tmp_path, marker)).steps[0][1].func
    assert step.expr == "@__import__" and step.n_features_in_ == 4
    scorer = pickle.loads(gadgets.scorer_gadget(tmp_path, marker)).steps[0][1].func
    assert scorer._response_method == "to_csv"
    assert not marker.exists()


@pytest.mark.parametrize("gadget", BOMBS, ids=lambda g: g.name)
def test_bombs_end_with_exit_3(gadget: Gadget, tmp_path: Path) -> None:
    assert_refused(gadget, write(gadget, tmp_path, tmp_path / "marker"), tmp_path)


def test_the_memo_bomb_is_exponential_without_memoisation() -> None:
    """60 levels of shared lists: 2**60 paths through 61 lists, in under 500 bytes; the scan's literal
    check now visits each list once."""
    data = b"\x80\x02" + gadgets.memo_shared_lists(60) + b"."
    assert len(data) < 600
    top = pickle.loads(data)
    paths, level = 1, top
    while level:
        paths *= len(level)
        level = level[0]
    assert paths == 2**60
    budget = Budget()
    from xai_cli.models.pickle_scan import is_literal

    assert is_literal(top, budget)
    assert budget.work <= 3 * 61


@pytest.mark.parametrize(
    ("limit", "data"),
    [
        ("opcodes", gadgets.long_opcodes(2_000)),
        ("memo", gadgets.many_memo_entries(2_000)),
        ("stack", gadgets.tall_stack(2_000)),
        ("nesting", gadgets.deep_nesting(Path(), Path())),
    ],
)
def test_each_limit_stops_the_scan_and_the_load_at_its_count(tmp_path: Path, limit: str, data: bytes) -> None:
    """With a limit of 1,000 the walk stops at the 1,001st: both scan and load count the same work."""
    path = tmp_path / "bomb.pkl"
    path.write_bytes(data)
    limits = {**DEFAULTS, limit: 1_000}
    for action in (list_pickle, load_pickle):
        budget = Budget(limits=dict(limits))
        with pytest.raises(InputError, match=f"XAI_PICKLE_MAX_{limit.upper()}"):
            action(path, budget=budget)
        counted = {"opcodes": budget.opcodes, "memo": budget.peak_memo, "stack": budget.peak_stack}
        if limit in counted:
            assert counted[limit] == 1_001, (action.__name__, counted)
        assert budget.opcodes <= 2_100


def test_the_cli_names_the_limit(tmp_path: Path) -> None:
    """A long-opcode bomb against a lowered limit, through the command line: exit 3, one line."""
    import os

    path = tmp_path / "long.pkl"
    path.write_bytes(gadgets.long_opcodes(50_000))
    env = {**os.environ, "XAI_PICKLE_MAX_OPCODES": "10000"}
    for command in (("explain", path, IRIS_DATA, "--out", tmp_path / "out"), ("scan", path)):
        result = run_xai(*command, env=env)
        lines = _error_lines(result.stderr)
        assert result.exit_code == 3, result.stderr
        assert len(lines) == 1 and "more than 10,000 pickle opcodes" in lines[0], lines


def test_budget_exceeded_names_its_limit() -> None:
    budget = Budget(limits={**DEFAULTS, "work": 5})
    with pytest.raises(BudgetExceeded, match="more than 5 items"):
        budget.spend(6)


_RSS_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from xai_cli.models.loader import load_model
    from xai_cli.models.scanning import scan_model
    from xai_cli.errors import InputError, UnsafeModelError
    for path in sys.argv[1:]:
        for action in (scan_model, load_model):
            try:
                action(Path(path))
            except (InputError, UnsafeModelError):
                pass
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def _peak_rss_kib(paths: list[Path]) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, *map(str, paths)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


def test_bombs_stay_under_a_gibibyte_above_the_floor(tmp_path: Path) -> None:
    """Peak RSS of scanning and loading every bomb, against the same process on a real model."""
    bombs = [write(g, tmp_path, tmp_path / "marker") for g in BOMBS + BOMBS_REFUSED]
    (tmp_path / "long.pkl").write_bytes(gadgets.long_opcodes(3_000_000))
    (tmp_path / "memo.pkl").write_bytes(gadgets.many_memo_entries(3_000_000))
    bombs += [tmp_path / "long.pkl", tmp_path / "memo.pkl"]
    floor = _peak_rss_kib([SAMPLES["iris"][0]])
    peak = _peak_rss_kib(bombs)
    assert peak - floor < 1024 * 1024, (peak, floor)


def test_budget_values_are_documented() -> None:
    from xai_cli.models import pickle_budget

    for name, value in DEFAULTS.items():
        assert (
            f"{value:,}" in pickle_budget.__doc__
            and f"XAI_PICKLE_MAX_{name.upper()}" in pickle_budget.__doc__
        )


def test_unsafe_errors_are_single_lines(tmp_path: Path) -> None:
    for gadget in GADGETS:
        path = write(gadget, tmp_path, tmp_path / "marker")
        with pytest.raises((UnsafeModelError, InputError)) as info:
            from xai_cli.models.loader import load_model

            load_model(path)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("gadget", gadgets.SKOPS_GADGETS, ids=lambda g: g.name)
def test_skops_gadgets_are_refused_by_explain_and_scan(gadget: Gadget, tmp_path: Path) -> None:
    pytest.importorskip("skops")
    marker = tmp_path / "marker"
    assert_refused(gadget, write(gadget, tmp_path, marker), tmp_path)
    assert not marker.exists()


def test_skops_gadget_runs_when_skops_trusts_it(tmp_path: Path) -> None:
    sio = pytest.importorskip("skops.io")
    marker = tmp_path / "marker"
    path = write(gadgets.SKOPS_GADGETS[0], tmp_path, marker)
    sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert marker.exists()


def test_skops_loads_real_models_with_the_same_list(tmp_path: Path) -> None:
    """A tree, a forest, a search with its scorer, a k-NN tree and a Pipeline with a ufunc, by default."""
    sio = pytest.importorskip("skops.io")
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from xai_cli.models.loader import load_model
    from xai_cli.models.scanning import scan_model

    X = np.random.RandomState(0).rand(60, 4)
    y = np.array([0, 1, 2] * 20)
    models = [
        HistGradientBoostingClassifier(max_iter=3).fit(X, y),
        RandomForestClassifier(3, random_state=np.random.RandomState(0)).fit(X, y),
        GridSearchCV(LogisticRegression(), {"C": [1.0, 2.0]}, cv=2).fit(X, y),
        KNeighborsClassifier(algorithm="kd_tree").fit(X, y),
        make_pipeline(FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression()).fit(X, y),
    ]
    for index, model in enumerate(models):
        path = tmp_path / f"m{index}.skops"
        path.write_bytes(sio.dumps(model))
        assert scan_model(path).verdict == "safe", type(model)
        assert load_model(path).kind == "classifier"
