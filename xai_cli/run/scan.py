"""``xai scan``: what model files would import or run, judged without loading them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xai_cli.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNSAFE_MODEL, InputError


@dataclass
class ScanArgs:
    """Everything ``xai scan`` was asked to do, as plain values."""

    models: list[Path]
    allow_unchecked: bool = False


@dataclass
class ScanOutcome:
    """The report, the line to print for each file that is not safe, and the exit code."""

    report: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK


def run_scan(args: ScanArgs) -> ScanOutcome:
    """Scan every file; a file that cannot be read is reported and the others are still scanned."""
    from xai_cli import __version__
    from xai_cli.models.loader import file_sha256
    from xai_cli.models.scanning import scan_model
    from xai_cli.reports.json_report import SCHEMA_VERSION

    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    verdicts: list[str] = []
    for path in args.models:
        try:
            result = scan_model(path)
        except InputError as exc:
            problems.append(str(exc))
            verdicts.append("unreadable")
            entries.append(_unreadable_entry(path, str(exc)))
            continue
        verdict = result.verdict
        verdicts.append(verdict)
        if verdict == "unsafe":
            problems.append(_unsafe_line(path, result.refused))
        elif verdict == "unchecked" and not args.allow_unchecked:
            problems.append(
                f"{path}: cannot be fully checked: {result.not_checked}; "
                "pass --allow-unchecked to accept what could be checked"
            )
        entries.append(
            {
                "model": {"path": str(path), "sha256": file_sha256(path), "format": result.format},
                "verdict": verdict,
                "checked": result.checked,
                "not_checked": result.not_checked,
                "findings": [
                    {
                        "name": f.name,
                        "kind": f.kind,
                        "allowed": f.allowed,
                        "where": f.where,
                        "detail": f.detail,
                    }
                    for f in result.findings
                ],
                "error": None,
            }
        )
    exit_code = _exit_code(verdicts, args.allow_unchecked)
    report = {
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "command": "scan",
        "argv": ["scan", *map(str, args.models), *(["--allow-unchecked"] if args.allow_unchecked else [])],
        "seed": None,
        "verdict": _overall(verdicts),
        "exit_code": exit_code,
        "files": entries,
    }
    return ScanOutcome(report=report, problems=problems, exit_code=exit_code)


def _unreadable_entry(path: Path, message: str) -> dict[str, Any]:
    return {
        "model": {"path": str(path), "sha256": None, "format": None},
        "verdict": "unreadable",
        "checked": "nothing",
        "not_checked": None,
        "findings": [],
        "error": message,
    }


def _unsafe_line(path: Path, refused: list[Any]) -> str:
    first = refused[0]
    if first.kind in ("import", "custom-object"):
        what = f"'{first.name}'"
    else:
        what = f"a call on {first.name}" if first.kind == "call" else first.name
    if first.detail:
        what += f" ({first.detail})"
    more = f" and {len(refused) - 1} more refused name(s)" if len(refused) > 1 else ""
    return (
        f"{path}: unsafe to load: the file asks for {what}{more}; "
        "load it (--trust-model) only if you trust where it came from"
    )


def _exit_code(verdicts: list[str], allow_unchecked: bool) -> int:
    if "unsafe" in verdicts or ("unchecked" in verdicts and not allow_unchecked):
        return EXIT_UNSAFE_MODEL
    return EXIT_BAD_INPUT if "unreadable" in verdicts else EXIT_OK


def _overall(verdicts: list[str]) -> str:
    for verdict in ("unsafe", "unchecked", "unreadable"):
        if verdict in verdicts:
            return verdict
    return "safe"
