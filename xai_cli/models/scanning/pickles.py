"""Scanning pickle and joblib files: every global against the allow-list of ``load_pickle``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xai_cli.models.safe_pickle import PickleListing, is_allowed, list_pickle
from xai_cli.models.scanning.base import Finding, ScanResult

PICKLE_CHECKED = (
    "every class and function the pickle would import, against the allow-list that 'xai explain' "
    "loads pickles with, and every call on an object the file builds itself"
)

NameJudge = Callable[[str, str], bool]


def findings_of(
    listing: PickleListing, judge: NameJudge = is_allowed, where: str | None = None
) -> list[Finding]:
    """Findings for a listing: each global judged by ``judge(module, qualname)``; a name the stream
    computed instead of writing out, and every call on a built object, refused."""
    findings = []
    for full in listing.globals:
        parts = listing.parts.get(full)
        allowed = parts is not None and judge(*parts)
        findings.append(Finding(full, "import", allowed, where))
    findings += [
        Finding(call, "call", False, where, "calls an object built inside the file, not a class or function")
        for call in listing.built_calls
    ]
    return findings


def scan_pickle(path: Path, file_format: str) -> ScanResult:
    """List a pickle/joblib file without loading it and judge each name against the allow-list."""
    return ScanResult(path, file_format, findings_of(list_pickle(path)), PICKLE_CHECKED)
