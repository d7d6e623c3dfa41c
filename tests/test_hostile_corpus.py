"""The hostile model corpus through the real command line.

Every file of tests/hostile/make_corpus.py tries to run code when loaded (harmlessly: it creates a
marker file). ``xai explain`` and ``xai scan`` refuse every one with exit 4 and one line naming what
it asked for, and the marker never appears; loading with no checks (what --trust-model does) runs
each payload, so the corpus is real.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, run_in_process, run_xai
from tests.hostile.make_corpus import MODULE_NAME, SUPPORT, CorpusFile, build_corpus
from tests.hostile.payloads import DEFAULT_MARKER_NAME, MARKER_VARIABLE

IRIS_DATA = SAMPLES["iris"][1]
# The loader families 'xai explain' has now; torch and keras files wait for their loaders (issue 4).
LOADERS_NOW = {"sklearn", "torch", "keras"}


class Corpus:
    """The corpus folder and its files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = build_corpus(folder)

    def path(self, entry: CorpusFile) -> Path:
        return self.folder / entry.name


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus: Corpus) -> Path:
    """Where a payload that ran would leave its marker; the import payloads' module is importable."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(MARKER_VARIABLE, str(tmp_path / DEFAULT_MARKER_NAME))
    monkeypatch.syspath_prepend(str(corpus.folder / SUPPORT))
    yield tmp_path / DEFAULT_MARKER_NAME
    sys.modules.pop(MODULE_NAME, None)


def refusal_problem(result, entry: CorpusFile) -> str | None:
    """Why ``result`` is not a clean refusal of ``entry`` (exit 4, one line naming what it asked for)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if result.exit_code != 4 or len(lines) != 1 or "Traceback" in result.stderr:
        return f"exit {result.exit_code}: {result.stderr.strip()[:300]}"
    if entry.name not in lines[0] or not any(f"'{n}'" in lines[0] or n in lines[0] for n in entry.refused):
        return f"line does not name {entry.refused}: {lines[0]}"
    return None


def test_corpus_covers_what_the_issue_lists(corpus: Corpus) -> None:
    payloads = {entry.payload for entry in corpus.files}
    containers = {entry.container for entry in corpus.files}
    for wanted in ("os.system", "subprocess.Popen", "builtins.eval", "builtins.exec", "getattr-chain",
                   "numpy-runstring", "pandas.read_pickle", "sklearn-testing-script", "estimator-attribute",
                   "in-containers", "torch-os.system", "keras-lambda", "skops-unknown-type"):  # fmt: skip
        assert wanted in payloads, wanted
    for wanted in [f"pickle-p{p}" for p in range(6)] + ["joblib-0", "joblib-3", "joblib-gzip", "joblib-xz"]:
        assert wanted in containers, wanted
    assert len(corpus.files) >= 190


def test_explain_refuses_every_file(corpus: Corpus, marker: Path, tmp_path: Path) -> None:
    problems = []
    for entry in corpus.files:
        result = run_in_process("explain", corpus.path(entry), IRIS_DATA, "--out", tmp_path / "out")
        if entry.loader in LOADERS_NOW:
            problem = refusal_problem(result, entry)
        elif result.exit_code not in (3, 4) or "not supported by this version" not in result.stderr:
            problem = f"exit {result.exit_code}: {result.stderr.strip()[:300]}"  # until its loader exists
        else:
            problem = None
        if problem:
            problems.append(f"{entry.name}: {problem}")
    assert problems == []
    assert not marker.exists()
    assert MODULE_NAME not in sys.modules
    assert not (tmp_path / "out").exists()


def test_scan_refuses_every_file(corpus: Corpus, marker: Path) -> None:
    problems = []
    for entry in corpus.files:
        result = run_in_process("scan", corpus.path(entry), "--json")
        problem = refusal_problem(result, entry)
        if problem is None:
            (report,) = json.loads(result.stdout)["files"]
            refused = {f["name"] for f in report["findings"] if not f["allowed"]}
            if report["verdict"] != "unsafe" or not refused & set(entry.refused):
                problem = f"report says {report['verdict']}, refused {refused}"
        if problem:
            problems.append(f"{entry.name}: {problem}")
    assert problems == []
    assert not marker.exists()
    assert MODULE_NAME not in sys.modules


def test_one_scan_of_the_whole_corpus_as_a_ci_step(corpus: Corpus, tmp_path: Path) -> None:
    """What a CI job runs before loading anything: one call, exit 4, one line per unsafe file."""
    env = {**os.environ, MARKER_VARIABLE: str(tmp_path / DEFAULT_MARKER_NAME)}
    env["PYTHONPATH"] = os.pathsep.join([str(corpus.folder / SUPPORT), env.get("PYTHONPATH", "")])
    paths = [corpus.path(entry) for entry in corpus.files]
    result = run_xai("scan", "--json", *paths, cwd=tmp_path, env=env)
    assert result.exit_code == 4
    report = json.loads(result.stdout)
    assert report["verdict"] == "unsafe" and report["exit_code"] == 4
    assert [f["verdict"] for f in report["files"]] == ["unsafe"] * len(paths)
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == len(paths)
    assert not (tmp_path / DEFAULT_MARKER_NAME).exists()


@pytest.mark.parametrize(
    "name",
    ["os.system.pickle-p0.pkl", "subprocess.Popen.pickle-p5.pkl", "builtins.__import__.joblib-0.joblib",
     "estimator-attribute.joblib-xz.joblib", "pandas.read_pickle.joblib-3.joblib",
     "skops-reduce-system.skops"],
)  # fmt: skip
def test_refused_by_explain_as_a_user_runs_it(corpus: Corpus, tmp_path: Path, name: str) -> None:
    (entry,) = [e for e in corpus.files if e.name == name]
    env = {**os.environ, MARKER_VARIABLE: str(tmp_path / DEFAULT_MARKER_NAME)}
    env["PYTHONPATH"] = os.pathsep.join([str(corpus.folder / SUPPORT), env.get("PYTHONPATH", "")])
    result = run_xai(
        "explain", corpus.path(entry), IRIS_DATA, "--out", tmp_path / "out", cwd=tmp_path, env=env
    )
    assert refusal_problem(result, entry) is None, result.stderr
    assert "--trust-model" in result.stderr
    time.sleep(0.2)  # a background process (Popen) would have had time to create it
    assert not (tmp_path / DEFAULT_MARKER_NAME).exists()
    assert not (tmp_path / "out").exists()


def test_trust_model_is_the_way_past(corpus: Corpus, tmp_path: Path) -> None:
    """A working estimator with a payload in an attribute: refused by default; with --trust-model
    it explains, and its payload has run."""
    path = corpus.folder / "estimator-attribute.joblib-3.joblib"
    env = {**os.environ, MARKER_VARIABLE: str(tmp_path / DEFAULT_MARKER_NAME)}
    args = ("explain", path, IRIS_DATA, "--label-column", "species", "--rows", "0:3", "--background", "10")
    refused = run_xai(*args, "--out", tmp_path / "refused", cwd=tmp_path, env=env)
    assert refused.exit_code == 4 and not (tmp_path / DEFAULT_MARKER_NAME).exists()
    trusted = run_xai(*args, "--out", tmp_path / "trusted", "--trust-model", cwd=tmp_path, env=env)
    assert trusted.exit_code == 0, trusted.stderr
    assert (tmp_path / "trusted" / "explain.json").exists()
    assert (tmp_path / DEFAULT_MARKER_NAME).exists()


def _wait_for(path: Path, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:  # Popen runs in the background
        time.sleep(0.02)
    return path.exists()


def test_every_pickle_and_skops_payload_runs_without_checks(corpus: Corpus, marker: Path) -> None:
    """The corpus is real: loaded as --trust-model loads it, each file creates the marker."""
    from xai_cli.errors import InputError
    from xai_cli.models.safe_pickle import load_pickle

    did_not_run = []
    for entry in corpus.files:
        if entry.loader != "sklearn" or not entry.runs_when_trusted:
            continue
        with warnings.catch_warnings(), contextlib.suppress(InputError):
            warnings.simplefilter("ignore")
            if entry.container == "skops":
                import skops.io as sio

                with contextlib.suppress(Exception):
                    sio.load(corpus.path(entry), trusted=sio.get_untrusted_types(file=corpus.path(entry)))
            else:
                load_pickle(corpus.path(entry), trust=True)
        if not _wait_for(marker):
            did_not_run.append(entry.name)
        marker.unlink(missing_ok=True)
        sys.modules.pop(MODULE_NAME, None)
    assert did_not_run == []


TRUSTED_LOAD = {
    "torch": "import torch; torch.load({path!r}, weights_only=False)",
    "keras": "import keras; keras.saving.load_model({path!r}, safe_mode=False)",
}


@pytest.mark.parametrize("loader", sorted(TRUSTED_LOAD))
def test_torch_and_keras_payloads_run_without_checks(corpus: Corpus, tmp_path: Path, loader: str) -> None:
    if importlib.util.find_spec(loader) is None or importlib.util.find_spec("torch") is None:
        pytest.skip(f"{loader} (and torch as the Keras backend) not installed")
    env = {**os.environ, MARKER_VARIABLE: str(tmp_path / DEFAULT_MARKER_NAME), "KERAS_BACKEND": "torch"}
    checked = [e for e in corpus.files if e.loader == loader and e.runs_when_trusted]
    assert checked
    for entry in checked:
        code = TRUSTED_LOAD[loader].format(path=str(corpus.path(entry)))
        subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, timeout=300)
        assert _wait_for(tmp_path / DEFAULT_MARKER_NAME), entry.name
        (tmp_path / DEFAULT_MARKER_NAME).unlink()


@pytest.fixture
def no_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """The allow-list switched off: pickles, joblib and skops files load with no checks at all (the
    sandbox stays on), as if a file had found a way past the allow-list."""
    import joblib
    import skops.io as sio

    import xai_cli.models.loader as loader
    import xai_cli.models.safe_pickle as safe_pickle

    monkeypatch.setattr(safe_pickle, "load_pickle", lambda path, trust=False: joblib.load(path))
    monkeypatch.setattr(
        loader,
        "_load_skops",
        lambda path, trust=False: sio.load(path, trusted=sio.get_untrusted_types(file=path)),
    )
    monkeypatch.delenv("XAI_SANDBOX", raising=False)


def test_the_sandbox_alone_stops_every_payload(
    corpus: Corpus, marker: Path, tmp_path: Path, no_allow_list: None
) -> None:
    """Each pickle, joblib and skops payload, loaded with no checks inside the sandbox: exit 4, one
    line saying the sandbox stopped it, and no marker."""
    problems = []
    for entry in corpus.files:
        if entry.loader != "sklearn" or not entry.runs_when_trusted:
            continue
        result = run_in_process("explain", corpus.path(entry), IRIS_DATA, "--out", tmp_path / "out")
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        if result.exit_code != 4 or len(errors) != 1 or "stopped by the sandbox" not in errors[0]:
            problems.append(f"{entry.name}: exit {result.exit_code}: {result.stderr.strip()[:200]}")
        if marker.exists():
            problems.append(f"{entry.name}: the marker was written")
            marker.unlink()
    assert problems == []
    assert not (tmp_path / "out").exists()
