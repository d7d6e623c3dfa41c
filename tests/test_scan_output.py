"""What ``xai`` prints from a hostile file cannot drive the terminal: escape codes, carriage returns,
C1 controls, bidi overrides and zero-width characters in file names, pickled names and values are shown
escaped (``\\x1b``, ``\\u202e``) on stdout and stderr, ``--json`` keeps them as JSON escapes, and rich
markup in a name is printed as it is. Also: which XAI_TRUST_MODEL values trust a model.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, run_in_process, run_xai
from xai_cli.textsafe import json_safe, terminal_safe

IRIS_MODEL, IRIS_DATA = SAMPLES["iris"]
ERASE = "\x1b[2K\r"
DANGEROUS = [ERASE, "\x9b", "\x7f", "\u202e", "\u2066", "\u200b", "\ufeff", "\u2028"]


def _raw_controls(text: str) -> list[str]:
    return [c for c in text if not c.isprintable() and c != "\n"]


def _stack_global_pickle(module: str, name: str) -> bytes:
    """protocol 4: STACK_GLOBAL of (module, name), then STOP; nothing is ever loaded here."""
    encoded = [part.encode("utf-8") for part in (module, name)]
    body = b"".join(b"\x8c" + bytes([len(part)]) + part + b"\x94" for part in encoded)
    return b"\x80\x04" + body + b"\x93."


def test_terminal_safe_escapes_what_a_terminal_acts_on() -> None:
    for character in DANGEROUS:
        assert _raw_controls(terminal_safe(f"a{character}b")) == []
    assert terminal_safe("posix.system\x1b[2K\r") == "posix.system\\x1b[2K\\r"
    assert terminal_safe("\u202eevil") == "\\u202eevil"
    assert terminal_safe("ünïcödé 数据 [red]x[/red]") == "ünïcödé 数据 [red]x[/red]"
    assert terminal_safe("\udcff") == "\\udcff"  # a file name Python could not decode
    document = json.dumps({"name": "".join(DANGEROUS)}, ensure_ascii=False)
    assert _raw_controls(json_safe(document)) == [] and json.loads(json_safe(document)) == json.loads(
        document
    )
    assert json.loads(json_safe(json.dumps("\U000e0041", ensure_ascii=False))) == "\U000e0041"


def test_a_pickled_name_cannot_erase_its_refused_line(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(_stack_global_pickle("posix", "system" + ERASE))
    result = run_xai("scan", evil)
    assert result.exit_code == 4
    assert _raw_controls(result.stdout) == [] and _raw_controls(result.stderr) == []
    refused = [line for line in result.stdout.splitlines() if "REFUSED" in line]
    assert refused and "system\\x1b[2K\\r" in refused[0]
    assert "system\\x1b[2K\\r" in result.stderr


@pytest.mark.parametrize(
    "name", ["evil\x1b[2K\r.pkl", "[red]evil[bold].pkl", "evil\u202elkp.pkl", "a\u200bb.pkl"]
)
def test_file_names_are_printed_escaped_and_literal(tmp_path: Path, name: str) -> None:
    evil = tmp_path / name
    evil.write_bytes(_stack_global_pickle("posix", "system"))
    result = run_xai("scan", evil)
    assert result.exit_code == 4
    shown = terminal_safe(str(evil))
    assert _raw_controls(result.stdout) == [] and _raw_controls(result.stderr) == []
    assert result.stdout.startswith(f"{shown}: UNSAFE: refused")
    assert f"error: {shown}: unsafe to load" in result.stderr
    report = run_xai("scan", evil, "--json")
    assert _raw_controls(report.stdout) == []
    assert json.loads(report.stdout)["files"][0]["model"]["path"] == str(evil)


def test_errors_of_other_commands_escape_file_names(tmp_path: Path) -> None:
    missing = tmp_path / "rows\x1b[31m\u202e.csv"
    result = run_in_process("explain", IRIS_MODEL, missing, "--out", tmp_path / "o")
    assert result.exit_code == 3
    assert _raw_controls(result.stderr) == []
    assert terminal_safe(str(missing)) in result.stderr
    (tmp_path / "bad\x1b[2K.csv").write_text("a,a\n1,2\n")
    result = run_in_process("explain", IRIS_MODEL, tmp_path / "bad\x1b[2K.csv", "--out", tmp_path / "o")
    assert result.exit_code == 3 and _raw_controls(result.stderr) == [] and "bad\\x1b[2K.csv" in result.stderr


# ---- XAI_TRUST_MODEL -------------------------------------------------------------------------------


@pytest.fixture
def needs_trust(tmp_path: Path) -> Path:
    """A harmless pickle the allow-list refuses (exit 4); trusted, it loads and is no model (exit 3)."""
    import datetime

    path = tmp_path / "delta.pkl"
    path.write_bytes(pickle.dumps(datetime.timedelta(days=1)))
    return path


def _exit_with(
    value: str | None, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    if value is None:
        monkeypatch.delenv("XAI_TRUST_MODEL", raising=False)
    else:
        monkeypatch.setenv("XAI_TRUST_MODEL", value)
    result = run_in_process("explain", model, IRIS_DATA, "--label-column", "species", "--out", tmp_path / "o")
    return result.exit_code, result.stderr


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "Yes"])
def test_values_that_trust(
    value: str, needs_trust: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stderr = _exit_with(value, needs_trust, tmp_path, monkeypatch)
    assert code == 3 and "note:" not in stderr, stderr


@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "NO"])
def test_values_that_do_not_trust_silently(
    value: str | None, needs_trust: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stderr = _exit_with(value, needs_trust, tmp_path, monkeypatch)
    assert code == 4 and "note: XAI_TRUST_MODEL" not in stderr, stderr


@pytest.mark.parametrize("value", ["on", "y", "t", "ON", " 1", "trust", "2"])
def test_other_values_do_not_trust_and_say_so_once(
    value: str, needs_trust: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stderr = _exit_with(value, needs_trust, tmp_path, monkeypatch)
    assert code == 4, stderr
    notes = [line for line in stderr.splitlines() if line.startswith("note: XAI_TRUST_MODEL=")]
    assert len(notes) == 1 and "ignored: only 1, true or yes trust the model" in notes[0]


def test_help_says_which_values_trust() -> None:
    for command in ("explain", "rules", "counterfactual", "attention"):
        text = " ".join(run_in_process(command, "--help").stdout.replace("│", " ").split())
        assert "XAI_TRUST_MODEL=1 (or true, yes)" in text, command


def test_rich_markup_in_a_file_name_prints_as_text_in_the_tables(tmp_path: Path) -> None:
    """A batch input named '[red]x[bold].csv': the summary table shows the name, markup and all."""
    from tests.conftest import SAMPLES

    model, data = SAMPLES["iris"]
    folder = tmp_path / "inputs"
    folder.mkdir()
    lines = data.read_text().splitlines()
    (folder / "[red]x[bold].csv").write_text("\n".join(lines[:30]) + "\n")
    result = run_in_process("explain", model, folder, "--out", tmp_path / "r", "--label-column", "species")
    assert result.exit_code == 0, result.stderr
    assert "[red]x[bold].csv" in result.stdout
