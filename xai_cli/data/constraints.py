"""Counterfactual constraints as the user writes them: CLI options and a JSON or YAML file.

Turns them into one ``ConstraintSpec`` of plain names and bounds, each remembered with where it was said
(``--immutable``, ``rules.yaml: increase_only``) so an error can point at it. Checking the names against
the data is ``methods.constraints.build_constraints``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xai_cli.errors import InputError

FILE_KEYS = {
    "immutable": "immutable",
    "increase_only": "increase_only",
    "increase-only": "increase_only",
    "decrease_only": "decrease_only",
    "decrease-only": "decrease_only",
    "range": "ranges",
    "ranges": "ranges",
}


@dataclass
class ConstraintSpec:
    """Column names and bounds, each with the place it came from (for error messages)."""

    immutable: list[tuple[str, str]] = field(default_factory=list)
    increase_only: list[tuple[str, str]] = field(default_factory=list)
    decrease_only: list[tuple[str, str]] = field(default_factory=list)
    ranges: list[tuple[str, float | None, float | None, str]] = field(default_factory=list)


def split_names(text: str | None) -> list[str]:
    """``"age, region"`` -> ``["age", "region"]``."""
    if text is None:
        return []
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_bounds(text: str, origin: str) -> tuple[float | None, float | None]:
    """``"LO:HI"`` with either side empty for no bound -> ``(LO, HI)``."""
    low_text, colon, high_text = str(text).partition(":")
    if not colon:
        raise InputError(f"{origin}: {text!r} is not LO:HI (leave a side empty for no bound, e.g. '20000:')")
    try:
        low = float(low_text) if low_text.strip() else None
        high = float(high_text) if high_text.strip() else None
    except ValueError as exc:
        raise InputError(f"{origin}: {text!r} is not LO:HI with numbers") from exc
    return low, high


def parse_range_option(text: str) -> tuple[str, float | None, float | None]:
    """``--range income=20000:90000`` -> ``("income", 20000.0, 90000.0)``."""
    column, equals, bounds = text.partition("=")
    if not equals or not column.strip():
        raise InputError(f"--range {text}: expected COLUMN=LO:HI, e.g. --range income=20000:90000")
    low, high = parse_bounds(bounds, f"--range {text}")
    return column.strip(), low, high


def spec_from_options(
    immutable: list[str], increase_only: list[str], decrease_only: list[str], ranges: list[str]
) -> ConstraintSpec:
    """The constraints given as options (each option may repeat and take comma-separated names)."""
    spec = ConstraintSpec()
    for option, values, target in (
        ("--immutable", immutable, spec.immutable),
        ("--increase-only", increase_only, spec.increase_only),
        ("--decrease-only", decrease_only, spec.decrease_only),
    ):
        for text in values:
            target.extend((name, option) for name in split_names(text))
    for text in ranges:
        column, low, high = parse_range_option(text)
        spec.ranges.append((column, low, high, f"--range {text}"))
    return spec


def read_constraints_file(path: Path) -> ConstraintSpec:
    """A JSON or YAML file with the keys immutable, increase_only, decrease_only and ranges."""
    if not path.exists():
        raise InputError(f"{path}: no such constraints file")
    text = path.read_text(encoding="utf-8-sig")
    document = _parse_document(path, text)
    if document is None:
        return ConstraintSpec()
    if not isinstance(document, dict):
        raise InputError(
            f"{path}: expected a mapping with keys {', '.join(sorted(set(FILE_KEYS.values())))}, "
            f"found a {type(document).__name__}"
        )
    spec = ConstraintSpec()
    for key, value in document.items():
        kind = FILE_KEYS.get(str(key))
        if kind is None:
            raise InputError(
                f"{path}: unknown key {key!r}; expected immutable, increase_only, decrease_only or ranges"
            )
        origin = f"{path}: {key}"
        if kind == "ranges":
            spec.ranges.extend(_file_ranges(value, origin))
        else:
            getattr(spec, kind).extend((name, origin) for name in _file_names(value, origin))
    return spec


def _parse_document(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            return json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    try:
        import yaml
    except ImportError as exc:
        raise InputError(
            f"{path}: reading YAML needs PyYAML, which is not installed: pip install pyyaml "
            "(or write the constraints as JSON)"
        ) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc


def _file_names(value: Any, origin: str) -> list[str]:
    if isinstance(value, str):
        return split_names(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value]
    raise InputError(f"{origin}: expected a list of column names, found {value!r}")


def _file_ranges(value: Any, origin: str) -> list[tuple[str, float | None, float | None, str]]:
    if not isinstance(value, dict):
        raise InputError(f"{origin}: expected a mapping of column -> [LO, HI] (or 'LO:HI'), found {value!r}")
    found = []
    for column, bounds in value.items():
        where = f"{origin}: {column}"
        if isinstance(bounds, str):
            low, high = parse_bounds(bounds, where)
        elif isinstance(bounds, list | tuple) and len(bounds) == 2:
            low, high = (_bound(b, where) for b in bounds)
        elif isinstance(bounds, dict) and set(bounds) <= {"min", "max"}:
            low, high = _bound(bounds.get("min"), where), _bound(bounds.get("max"), where)
        else:
            raise InputError(f"{where}: expected [LO, HI], 'LO:HI' or {{min: LO, max: HI}}, found {bounds!r}")
        found.append((str(column), low, high, where))
    return found


def _bound(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: {value!r} is not a number (use null for no bound)")
    return float(value)


def merge_specs(*specs: ConstraintSpec) -> ConstraintSpec:
    """All constraints of several sources together."""
    merged = ConstraintSpec()
    for spec in specs:
        merged.immutable += spec.immutable
        merged.increase_only += spec.increase_only
        merged.decrease_only += spec.decrease_only
        merged.ranges += spec.ranges
    return merged
