"""CI gates on a single report: each one passes or fails with a sentence saying why; failing exits 1.

Every ``--fail-*`` / ``--min-*`` option of a command is one of these. A command writes its report
first, prints its summary, then calls ``enforce(results)``: a failed gate raises ``GateFailed`` (exit 1)
with one line per failure, and the report stays on disk for the CI job to upload.

    xai explain ... --fail-if-top 3 --features sex,race   -> top_k_gate(importance, 3, ["sex", "race"])
    xai rules ... --min-fidelity 0.9                      -> minimum_gate("min-fidelity", fidelity, 0.9)
    xai attention ... --min-insertion-auc 0.6             -> minimum_gate("min-insertion-auc", auc, 0.6)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from xai_cli.errors import GateFailed, UsageError


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict on one report."""

    gate: str
    passed: bool
    message: str

    def as_json(self) -> dict[str, Any]:
        """The gate as it is recorded in an index."""
        return asdict(self)


def parse_feature_list(text: str | None, option: str = "--features") -> list[str]:
    """``"sex,race"`` -> ``["sex", "race"]``; an empty list is a usage error."""
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not names:
        raise UsageError(f"{option}: expected a comma-separated list of column names, e.g. sex,race")
    return names


def top_k_gate(importance: dict[str, float], k: int, features: Sequence[str]) -> GateResult:
    """Fails when a listed feature ranks in the first ``k`` of ``importance`` (ordered strongest first).

    A listed name that is not a column of the report is a usage error: a typo must not pass silently.
    """
    unknown = [name for name in features if name not in importance]
    if unknown:
        raise UsageError(
            f"--features: {', '.join(repr(n) for n in unknown)} is not a column of the report; "
            f"its columns are {', '.join(importance)}"
        )
    ranking = list(importance)
    offenders = [(ranking.index(name) + 1, name) for name in features if ranking.index(name) < k]
    if offenders:
        listed = ", ".join(f"'{name}' ranks #{rank}" for rank, name in sorted(offenders))
        return GateResult(
            "fail-if-top",
            False,
            f"{listed} in global importance (gate: none of {', '.join(features)} in the top {k})",
        )
    return GateResult("fail-if-top", True, f"none of {', '.join(features)} in the top {k}")


def minimum_gate(gate: str, value: float | None, minimum: float, what: str) -> GateResult:
    """Fails when ``value`` is below ``minimum`` (or missing: a figure that was not computed fails)."""
    if value is None:
        return GateResult(gate, False, f"{what} is not in the report (gate: at least {minimum:g})")
    if value < minimum:
        return GateResult(gate, False, f"{what} {value:.4g} is below the minimum {minimum:g}")
    return GateResult(gate, True, f"{what} {value:.4g} >= {minimum:g}")


def enforce(results: Sequence[GateResult]) -> None:
    """Raise ``GateFailed`` (exit 1) naming every failed gate; do nothing when all passed."""
    failed = [result.message for result in results if not result.passed]
    if failed:
        raise GateFailed("gate failed: " + "; ".join(failed))
