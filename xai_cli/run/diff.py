"""``xai diff BASE NEW``: compare two explain reports (or two batch indexes) against drift thresholds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xai_cli.errors import InputError, UsageError

INDEX_KIND = "batch-index"


@dataclass(frozen=True)
class DiffArgs:
    """What ``xai diff`` compares and the thresholds it holds the new report to."""

    base: Path
    new: Path
    top_k: int = 5
    min_rank_corr: float = 0.9
    max_topk_changes: int = 0

    def canonical_argv(self) -> list[str]:
        """The command line that reproduces this comparison."""
        return [
            "diff",
            str(self.base),
            str(self.new),
            "--top-k",
            str(self.top_k),
            "--min-rank-corr",
            repr(self.min_rank_corr),
            "--max-topk-changes",
            str(self.max_topk_changes),
        ]


@dataclass
class DiffOutcome:
    """The comparison document (``--format json``) and the lines saying why a threshold failed."""

    document: dict[str, Any]

    @property
    def passed(self) -> bool:
        """True when every comparison is within the thresholds."""
        return bool(self.document["passed"])

    @property
    def failures(self) -> list[str]:
        """One line per comparison that failed, naming its input."""
        lines = []
        for entry in self.document["comparisons"]:
            if not entry["passed"]:
                where = f"{entry['input']}: " if entry["input"] is not None else ""
                lines.append(where + "; ".join(entry["reasons"]))
        return lines


def run_diff(args: DiffArgs) -> DiffOutcome:
    """Load both documents, check they can be compared (else InputError, exit 3), compare them."""
    from xai_cli import __version__
    from xai_cli.reports.json_report import SCHEMA_VERSION

    if args.top_k < 1:
        raise UsageError("--top-k must be at least 1")
    if args.max_topk_changes < 0:
        raise UsageError("--max-topk-changes must be 0 or more")
    base_path, base = load_report(args.base)
    new_path, new = load_report(args.new)
    base_kind, new_kind = report_kind(base, base_path), report_kind(new, new_path)
    if base_kind != new_kind:
        raise InputError(
            f"cannot compare {base_path} ({base_kind}) with {new_path} ({new_kind}); "
            "pass two explain.json files or two index.json files"
        )
    if base_kind == "explain":
        comparisons = [_compare_reports(None, base, new, base_path, new_path, args)]
    else:
        comparisons = _compare_indexes(base, new, base_path, new_path, args)
    return DiffOutcome(
        {
            "schema_version": SCHEMA_VERSION,
            "tool_version": __version__,
            "command": "diff",
            "argv": args.canonical_argv(),
            "kind": base_kind,
            "base": str(base_path),
            "new": str(new_path),
            "thresholds": {
                "top_k": args.top_k,
                "min_rank_corr": args.min_rank_corr,
                "max_topk_changes": args.max_topk_changes,
            },
            "comparisons": comparisons,
            "passed": all(entry["passed"] for entry in comparisons),
        }
    )


def load_report(path: Path) -> tuple[Path, dict[str, Any]]:
    """A report JSON, given as the file or as its folder (explain.json or index.json inside)."""
    if path.is_dir():
        candidates = [path / "index.json", path / "explain.json"]
        found = [candidate for candidate in candidates if candidate.is_file()]
        if not found:
            raise InputError(f"{path}: a folder without explain.json or index.json; pass a report file")
        path = found[0]
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON report ({exc}); pass an explain.json or index.json") from exc
    if not isinstance(document, dict):
        raise InputError(f"{path}: not a report (expected a JSON object)")
    return path, document


def report_kind(document: dict[str, Any], path: Path) -> str:
    """``explain`` for an explain report, ``batch-index`` for a batch index of explain reports."""
    if document.get("report_kind") == INDEX_KIND:
        if document.get("command") != "explain":
            raise InputError(f"{path}: an index of {document.get('command')} reports; diff compares explain")
        return INDEX_KIND
    if document.get("command") == "explain" and "global_importance" in document:
        return "explain"
    raise InputError(f"{path}: not an explain report or a batch index (no global_importance)")


def _compare_reports(
    name: str | None,
    base: dict[str, Any],
    new: dict[str, Any],
    base_path: Path,
    new_path: Path,
    args: DiffArgs,
) -> dict[str, Any]:
    from xai_cli.methods.drift import compare_importance

    _check_comparable(base, new, base_path, new_path)
    drift = compare_importance(base["global_importance"], new["global_importance"], args.top_k)
    reasons = []
    if drift.rank_correlation < args.min_rank_corr:
        reasons.append(f"rank correlation {drift.rank_correlation:.3f} < {args.min_rank_corr:g}")
    if drift.top_k_changes > args.max_topk_changes:
        moved = ", ".join([*(f"+{n}" for n in drift.entered), *(f"-{n}" for n in drift.left)])
        reasons.append(
            f"{drift.top_k_changes} change(s) in the top {drift.top_k} ({moved}) > {args.max_topk_changes}"
        )
    return {"input": name, "status": "compared", **drift.as_json(), "passed": not reasons, "reasons": reasons}


def _check_comparable(base: dict[str, Any], new: dict[str, Any], base_path: Path, new_path: Path) -> None:
    """Same columns, same output space, same kind of model and classes, same explicit --target."""
    where = f"cannot compare {base_path} with {new_path}"
    base_features, new_features = set(base["global_importance"]), set(new["global_importance"])
    if base_features != new_features:
        only_base = ", ".join(sorted(base_features - new_features)) or "none"
        only_new = ", ".join(sorted(new_features - base_features)) or "none"
        raise InputError(f"{where}: different columns (only in base: {only_base}; only in new: {only_new})")
    if base.get("output") != new.get("output"):
        raise InputError(f"{where}: different outputs (output {base.get('output')} vs {new.get('output')})")
    base_model, new_model = base.get("model") or {}, new.get("model") or {}
    for field in ("kind", "classes"):
        if base_model.get(field) != new_model.get(field):
            found = f"{base_model.get(field)} vs {new_model.get(field)}"
            raise InputError(f"{where}: different outputs (model {field} {found})")
    base_target, new_target = _explicit_target(base), _explicit_target(new)
    if base_target != new_target:
        raise InputError(f"{where}: different outputs (--target {base_target} vs {new_target})")


def _explicit_target(report: dict[str, Any]) -> str | None:
    argv = list(report.get("argv") or [])
    return argv[argv.index("--target") + 1] if "--target" in argv[:-1] else None


def _compare_indexes(
    base: dict[str, Any], new: dict[str, Any], base_path: Path, new_path: Path, args: DiffArgs
) -> list[dict[str, Any]]:
    done = ("ok", "skipped")
    new_entries = {entry["name"]: entry for entry in new["inputs"]}
    base_names = {entry["name"] for entry in base["inputs"]}
    comparisons = []
    for entry in base["inputs"]:
        if entry["status"] not in done:
            continue
        other = new_entries.get(entry["name"])
        if other is None or other["status"] not in done:
            status = "missing" if other is None else other["status"]
            reason = f"no report in {new_path}" if other is None else f"{status} in {new_path}"
            comparisons.append(
                {"input": entry["name"], "status": status, "passed": False, "reasons": [reason]}
            )
            continue
        base_report_path, base_report = load_report(base_path.parent / entry["report"])
        new_report_path, new_report = load_report(new_path.parent / other["report"])
        comparisons.append(
            _compare_reports(entry["name"], base_report, new_report, base_report_path, new_report_path, args)
        )
    for name, entry in new_entries.items():
        if name not in base_names and entry["status"] in done:
            comparisons.append({"input": name, "status": "new", "passed": True, "reasons": []})
    if not any(entry["status"] == "compared" for entry in comparisons):
        raise InputError(f"cannot compare {base_path} with {new_path}: no input has a report in both indexes")
    return comparisons
