"""``scan_model(path)``: what a model file would import or run, judged without loading it.

One scanner per format, registered in SCANNERS; a format with no scanner is reported as not
checked. A new format adds a module here and one line to SCANNERS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xai_cli.models.detect import detect_format
from xai_cli.models.scanning.base import Finding, ScanResult, Verdict
from xai_cli.models.scanning.booster_files import scan_booster_file
from xai_cli.models.scanning.keras_config import scan_keras, scan_keras_h5
from xai_cli.models.scanning.onnx_graph import scan_onnx
from xai_cli.models.scanning.pickles import scan_pickle
from xai_cli.models.scanning.skops_schema import scan_skops
from xai_cli.models.scanning.torch_export_graph import scan_torch_export
from xai_cli.models.scanning.torch_zip import scan_torch

__all__ = ["SCANNERS", "Finding", "ScanResult", "Verdict", "scan_model"]

Scanner = Callable[[Path, str], ScanResult]

SCANNERS: dict[str, Scanner] = {
    "pickle": scan_pickle,
    "joblib": scan_pickle,
    "skops": scan_skops,
    "torch": scan_torch,
    "torchscript": scan_torch,
    "torch-export": scan_torch_export,
    "keras": scan_keras,
    "keras-h5": scan_keras_h5,
    "onnx": scan_onnx,
    "xgboost-json": scan_booster_file,
    "xgboost-ubj": scan_booster_file,
    "lightgbm-txt": scan_booster_file,
}


def scan_model(path: Path) -> ScanResult:
    """Scan one model file; raises InputError for a missing, unknown or unreadable file."""
    file_format = detect_format(path)
    scanner = SCANNERS.get(file_format)
    if scanner is None:
        return ScanResult(path, file_format, [], "nothing", f"no scanner for {file_format} files")
    return scanner(path, file_format)
