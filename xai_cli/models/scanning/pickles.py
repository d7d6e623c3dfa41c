"""Scanning pickle and joblib files: every global against the allow-list of ``load_pickle``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xai_cli.models.safe_pickle import PickleListing, is_allowed, list_pickle
from xai_cli.models.scanning.base import Finding, ScanResult

PICKLE_CHECKED = (
    "every class and function the pickle would import, against the allow-list that 'xai explain' "
    "loads pickles with, the arguments of the guarded helpers, the keys every BUILD sets, the file's "
    "top object (a fitted estimator), and every call on an object the file builds itself"
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
        allowed = parts is not None and (judge(*parts) or full in listing.checked)
        findings.append(Finding(full, "import", allowed, where))
    findings += [
        Finding(call, "call", False, where, "calls an object built inside the file, not a class or function")
        for call in listing.built_calls
    ]
    findings += [
        Finding(name, "call", False, where, f"called or built with {detail}")
        for name, detail in listing.refused_calls.items()
    ]
    if listing.refused_root is not None:
        name, detail = listing.refused_root
        findings.append(Finding(name, "import", False, where, detail))
    return findings


def scan_pickle(path: Path, file_format: str) -> ScanResult:
    """List a pickle/joblib file without loading it and judge each name against the allow-list."""
    return ScanResult(path, file_format, findings_of(list_pickle(path)), PICKLE_CHECKED)
