"""Small input folders for the batch tests: slices of the bundled iris data, one CSV each."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.conftest import SAMPLES

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
