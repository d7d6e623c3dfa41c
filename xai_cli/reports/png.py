"""Writing a matplotlib figure as a PNG, the same way for every report."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from xai_cli.reports.writer import write_staged


def save_png(figure: Any, path: Path) -> None:
    """Write ``figure`` to ``path`` as a PNG with no timestamp or software tag (byte-identical reruns).

    zlib level 1: at the default level 6, PNG encoding took a tenth of each plot (profiled: 23 of 210 ms
    for a 30-column waterfall), for files only ~15% smaller.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    write_staged(path, buffer.getvalue())
