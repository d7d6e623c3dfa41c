"""``xai scan`` for people: one verdict line per file, then each name it asks for, refused first."""

from __future__ import annotations

import sys
from typing import Any

VERDICT_TEXT = {
    "safe": "safe to load",
    "unsafe": "UNSAFE: refused",
    "unchecked": "not fully checked",
    "unreadable": "unreadable",
}


def scan_summary_lines(report: dict[str, Any]) -> list[str]:
    """The text of the summary, one string per line."""
    lines: list[str] = []
    for entry in report["files"]:
        model = entry["model"]
        findings = entry["findings"]
        refused = [f for f in findings if not f["allowed"]]
        head = f"{model['path']}: {VERDICT_TEXT[entry['verdict']]}"
        if model["format"]:
            head += f" ({model['format']}; {len(findings)} names, {len(refused)} refused)"
        lines.append(head)
        for finding in sorted(findings, key=lambda f: f["allowed"]):
            mark = "allowed" if finding["allowed"] else "REFUSED"
            where = f"  [{finding['where']}]" if finding["where"] else ""
            detail = f"  ({finding['detail']})" if finding["detail"] and not finding["allowed"] else ""
            lines.append(f"  {mark:<8} {finding['kind']:<14} {finding['name']}{where}{detail}")
        if entry["not_checked"]:
            lines.append(f"  not checked: {entry['not_checked']}")
        if entry["error"]:
            lines.append(f"  {entry['error']}")
    return lines


def print_scan_summary(report: dict[str, Any]) -> None:
    """Write the summary to stdout."""
    sys.stdout.write("".join(line + "\n" for line in scan_summary_lines(report)))
