"""`--backend dask://HOST:PORT`: a batch on a Dask cluster (a LocalCluster on loopback) equals a local one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.batch_helpers import IRIS_MODEL, iris_folder
from tests.conftest import run_in_process

distributed = pytest.importorskip("distributed")


def test_dask_cluster_results_equal_local_results(tmp_path: Path) -> None:
    names = iris_folder(tmp_path / "inputs", 3)
    common = ["explain", IRIS_MODEL, tmp_path / "inputs", "--label-column", "species", "--max-plots", "1"]
    common += ["--background", "20"]
    local = run_in_process(*common, "--out", tmp_path / "local")
    assert local.exit_code == 0, local.stderr
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        on_dask = run_in_process(
            *common, "--out", tmp_path / "dask", "--backend", address.replace("tcp", "dask")
        )
    assert on_dask.exit_code == 0, on_dask.stderr
    for name in ["index.json", *(f"{n}/explain.json" for n in names)]:
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    iris_folder(tmp_path / "inputs", 1)
    result = run_in_process(
        "explain", IRIS_MODEL, tmp_path / "inputs", "--out", tmp_path / "r", "--backend", "dask://127.0.0.1:9"
    )
    assert result.exit_code == 3
    assert "cannot reach the Dask scheduler" in result.stderr and "dask://127.0.0.1:9" in result.stderr
