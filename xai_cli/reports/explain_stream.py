"""A streamed explain report: per-row results appended to ``rows.parquet``, a compact explain.json.

``rows.parquet`` has one row per explained data row, in the order explained: ``row`` (0-based data row
of the input file), ``target``, ``prediction``, ``base_value``, ``additivity_error``, any per-row extra
of the method (``max_standard_error``; LIME's ``local_model_score``, ``local_prediction`` and
``conditions`` as JSON text), then ``attribution:COLUMN`` for each input column. Each chunk is one row
group, written as soon as it is explained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from xai_cli.methods.results import ExplainResult
from xai_cli.methods.streaming import StreamedExplanation
from xai_cli.reports.writer import open_staged

ROWS_FILE = "rows.parquet"
ATTRIBUTION_PREFIX = "attribution:"


class RowsFileWriter:
    """Appends each chunk's per-row results to a Parquet file, one row group per chunk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] = []
        self._writer: Any = None
        self._handle: Any = None
        self._schema: Any = None

    def write(self, result: ExplainResult) -> None:
        """Append the rows of one chunk."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, Any] = {
            "row": pa.array(result.rows, type=pa.int64()),
            "target": result.targets,
            "prediction": np.asarray(result.predictions, dtype=float),
            "base_value": np.asarray(result.base_values, dtype=float),
            "additivity_error": np.asarray(result.additivity_errors, dtype=float),
        }
        for key in result.row_details[0] if result.row_details else {}:
            values = [details.get(key) for details in result.row_details]
            if any(isinstance(value, dict | list) for value in values):
                values = [json.dumps(value, ensure_ascii=False, sort_keys=True) for value in values]
            columns[key] = values
        for j, name in enumerate(result.feature_names):
            columns[f"{ATTRIBUTION_PREFIX}{name}"] = np.ascontiguousarray(result.values[:, j], dtype=float)
        table = pa.table(columns)
        if self._writer is None:
            self._schema = table.schema
            self.columns = list(table.column_names)
            self._handle = open_staged(self.path)
            self._writer = pq.ParquetWriter(self._handle, self._schema, compression="zstd")
        self._writer.write_table(table.cast(self._schema))

    def close(self) -> None:
        """Finish the file (its footer); nothing is readable before this."""
        if self._writer is not None:
            self._writer.close()
            self._handle.close()
            self._writer = self._handle = None


def streamed_explain_report(
    header: dict[str, Any],
    data: dict[str, Any],
    summary: StreamedExplanation,
    rows_file: RowsFileWriter,
    chunk_size: int,
) -> dict[str, Any]:
    """The explain.json of a streamed run: the usual fields, ``rows`` empty and ``rows_file`` set."""
    return {
        **header,
        "data": data,
        "method": summary.method,
        "algorithm": summary.algorithm,
        "output": summary.output,
        "settings": {**summary.settings, "chunk_size": chunk_size},
        "feature_names": summary.feature_names,
        "rows": [],
        "rows_file": {
            "path": ROWS_FILE,
            "format": "parquet",
            "n_rows": summary.rows_done,
            "columns": rows_file.columns,
        },
        "global_importance": summary.global_importance(),
        "max_additivity_error": summary.max_additivity_error,
        "notes": summary.notes,
    }
