"""Helpers of the batch tests: input folders (slices of the bundled iris data) and schema checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import SAMPLES, run_in_process

IRIS_MODEL, IRIS_DATA = SAMPLES["iris"]


def iris_folder(folder: Path, count: int, rows_each: int = 30) -> list[str]:
    """Write ``count`` CSVs of iris rows (label column kept) into ``folder``; return their names."""
    frame = pd.read_csv(IRIS_DATA)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = f"part{i}.csv"
        start = (i * rows_each) % (len(frame) - rows_each)
        frame.iloc[start : start + rows_each].to_csv(folder / name, index=False)
        names.append(name)
    return names


def visible_leftovers(out: Path) -> list[str]:
    """Hidden names anywhere under ``out`` (staging folders, temp files): a clean --out has none."""
    return sorted(str(p.relative_to(out)) for p in out.rglob(".*"))


def validate(document: dict[str, Any], schema_name: str) -> None:
    """Check a document against the JSON Schema that `xai schema NAME` prints."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(run_in_process("schema", schema_name).stdout)
    jsonschema.validate(document, schema)
