"""Writing reports: atomic, never outside --out, and a full disk or a read-only folder is one clean
line (exit 3) that leaves earlier reports as they were."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLES, run_in_process
from xai_cli.errors import InputError
from xai_cli.reports import writer
from xai_cli.reports.paths import MAX_NAME_LENGTH, safe_child, safe_name

IRIS_MODEL, IRIS_DATA = SAMPLES["iris"]
QUICK = ("--label-column", "species", "--rows", "0:3", "--background", "10", "--max-plots", "1")


@pytest.fixture
def earlier_report(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    assert run_in_process("explain", IRIS_MODEL, IRIS_DATA, *QUICK, "--out", out).exit_code == 0
    (out / "notes.txt").write_text("mine")
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def explain_into(out: Path):
    return run_in_process("explain", IRIS_MODEL, IRIS_DATA, *QUICK, "--seed", "1", "--out", out)


def assert_clean_write_failure(result, out: Path, reason: str) -> None:
    assert result.exit_code == 3, result.stderr
    assert (
        result.stderr.strip()
        == f"error: {out}: cannot write the report there ({reason}); choose another --out"
    )


def test_disk_full_leaves_the_earlier_report(earlier_report: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(earlier_report)

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writer.os, "fsync", disk_full)
    result = explain_into(earlier_report)
    assert_clean_write_failure(result, earlier_report, "No space left on device")
    assert snapshot(earlier_report) == before


def test_disk_full_while_drawing_plots(earlier_report: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    before = snapshot(earlier_report)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", disk_full)
    assert_clean_write_failure(explain_into(earlier_report), earlier_report, "No space left on device")
    assert snapshot(earlier_report) == before


def test_permission_denied(earlier_report: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(earlier_report)

    def denied(*args: object, **kwargs: object) -> str:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(writer.tempfile, "mkdtemp", denied)
    assert_clean_write_failure(explain_into(earlier_report), earlier_report, "Permission denied")
    assert snapshot(earlier_report) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_read_only_folder(earlier_report: Path) -> None:
    before = snapshot(earlier_report)
    earlier_report.chmod(0o555)
    try:
        assert_clean_write_failure(explain_into(earlier_report), earlier_report, "Permission denied")
    finally:
        earlier_report.chmod(0o755)
    assert snapshot(earlier_report) == before


def test_out_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file")
    result = explain_into(tmp_path / "taken")
    assert result.exit_code == 3 and result.stderr.startswith(f"error: {tmp_path / 'taken'}: cannot write")
    assert (tmp_path / "taken").read_text() == "a file"


def test_a_new_report_replaces_the_old_one_whole(earlier_report: Path) -> None:
    before = snapshot(earlier_report)
    assert explain_into(earlier_report).exit_code == 0
    after = snapshot(earlier_report)
    assert after["notes.txt"] == b"mine"
    assert after["explain.json"] != before["explain.json"]  # --seed 1: a new report
    assert not [name for name in after if name.startswith((".xai-staging-", ".explain.json."))]


# ---------------------------------------------------------------------------------------------
# Report names derived from input names
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x.csv", "x.csv"),
        ("q1-sales_2024.parquet", "q1-sales_2024.parquet"),
        ("report.tar.gz", "report.tar.gz"),
        ("../x.csv", "_x-c6a35c28.csv"),
        ("/etc/passwd", "_etc_passwd-74acf318"),
        ("..", "_-5ec1f7e7"),
        ("", "_-e3b0c442"),
        (".hidden", "hidden-16924190"),
        ("-rf", "rf-686c39ac"),
        ("CON.csv", "_CON-8ce57815.csv"),
        ("\x1b[2J.csv", "_2J-0e6aacc2.csv"),
        ("a b.csv", "a_b-0c591648.csv"),
    ],
)
def test_safe_names(name: str, expected: str) -> None:
    assert safe_name(name) == expected


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_any_name_stays_inside_the_report_folder(first: str, second: str) -> None:
    out = Path("/tmp/xai-reports")
    for name in (first, second):
        child = safe_child(out, name)
        assert child.parent == out
        assert child.name not in ("", ".", "..") and not child.name.startswith((".", "-"))
        assert len(child.name) <= MAX_NAME_LENGTH and child.name.isascii() and child.name.isprintable()
        assert "/" not in child.name and "\\" not in child.name
    if first != second:
        assert safe_name(first) != safe_name(second) or safe_name(first) in (first, second)


def test_a_symlink_in_the_report_folder_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x.csv").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="is a symbolic link"):
        safe_child(tmp_path / "out", "x.csv")
    assert safe_child(tmp_path / "out", "y.csv") == tmp_path / "out" / "y.csv"
