"""Writing a matplotlib figure as a PNG, the same way for every report."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_png(figure: Any, path: Path) -> None:
    """Write ``figure`` to ``path`` as a PNG with no timestamp or software tag (byte-identical reruns).

    zlib level 1: at the default level 6, PNG encoding took a tenth of each plot (profiled: 23 of 210 ms
    for a 30-column waterfall), for files only ~15% smaller.
    """
    figure.savefig(path, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 1})
