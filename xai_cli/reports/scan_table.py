"""``xai scan`` for people: one verdict line per file, then each name it asks for, refused first.

Every text from the file (its path, the names and details it asks for, the error) goes through
``terminal_safe``: escape codes in a pickled name or a file name are shown as ``\\x1b``, never run, so
a file cannot erase or rewrite its own REFUSED line. Plain writes, no rich: ``[red]`` stays literal.
"""

from __future__ import annotations

import sys
from typing import Any

from xai_cli.textsafe import terminal_safe

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
        head = f"{terminal_safe(model['path'])}: {VERDICT_TEXT[entry['verdict']]}"
        if model["format"]:
            head += f" ({model['format']}; {len(findings)} names, {len(refused)} refused)"
        lines.append(head)
        for finding in sorted(findings, key=lambda f: f["allowed"]):
            mark = "allowed" if finding["allowed"] else "REFUSED"
            where = f"  [{terminal_safe(finding['where'])}]" if finding["where"] else ""
            detail = ""
            if finding["detail"] and not finding["allowed"]:
                detail = f"  ({terminal_safe(finding['detail'])})"
            name = terminal_safe(finding["name"])
            lines.append(f"  {mark:<8} {finding['kind']:<14} {name}{where}{detail}")
        if entry["not_checked"]:
            lines.append(f"  not checked: {terminal_safe(entry['not_checked'])}")
        if entry["error"]:
            lines.append(f"  {terminal_safe(entry['error'])}")
    return lines


def print_scan_summary(report: dict[str, Any]) -> None:
    """Write the summary to stdout."""
    sys.stdout.write("".join(line + "\n" for line in scan_summary_lines(report)))
