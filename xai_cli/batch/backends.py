"""Where a batch's inputs run: this process, local joblib workers, or a Dask/Ray cluster via joblib.

``--backend`` values: ``local`` (default; ``--jobs N`` loky worker processes, 1 = in this process),
``dask://HOST:PORT`` (an existing ``distributed`` scheduler; joblib's ``dask`` backend) and
``ray://HOST:PORT`` (Ray's joblib backend, when ``ray`` is installed). On a cluster the workers read the
inputs and write the reports themselves, so the paths must be the same on every worker (a shared file
system) and the workers need the same ``xai-cli`` installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from xai_cli.errors import InputError, UsageError

DASK_CONNECT_TIMEOUT = "10s"


def parse_backend(text: str | None) -> tuple[str, str | None]:
    """``None``/``local`` -> ("local", None); ``dask://h:p`` -> ("dask", "tcp://h:p"); ``ray://...``."""
    spec = (text or "local").strip()
    if spec in ("", "local"):
        return "local", None
    scheme, separator, address = spec.partition("://")
    if separator and address and scheme in ("dask", "tcp"):
        return "dask", f"tcp://{address}"
    if separator and address and scheme == "ray":
        return "ray", spec
    raise UsageError(f"--backend {text}: expected local, dask://HOST:PORT or ray://HOST:PORT")


def check_backend(text: str | None) -> None:
    """Fail early, before any input runs, on a malformed ``--backend`` or a missing client library."""
    kind, _ = parse_backend(text)
    if kind == "dask":
        _import_dask_client()
    elif kind == "ray":
        _import_ray(text or "")


def run_tasks(
    function: Callable[..., Any], calls: Iterable[tuple[Any, ...]], jobs: int | None, backend: str | None
) -> Iterator[Any]:
    """Yield ``function(*call)`` for every call as each finishes (any order), on the chosen backend.

    ``jobs``: worker count (None: 1 locally, every worker of a cluster). With one local job the calls
    run in this process, one after another, so an interrupt stops exactly where it is.
    """
    kind, address = parse_backend(backend)
    if kind == "local" and (jobs is None or jobs == 1):
        for call in calls:
            yield function(*call)
        return
    from joblib import Parallel, delayed, parallel_config

    with _backend_config(kind, address) as config:
        n_jobs = jobs if jobs is not None else (-1 if kind != "local" else 1)
        with parallel_config(**config):
            parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            yield from parallel(delayed(function)(*call) for call in calls)


@contextlib.contextmanager
def _backend_config(kind: str, address: str | None) -> Iterator[dict[str, Any]]:
    if kind == "local":
        yield {"backend": "loky"}
    elif kind == "dask":
        with _dask_client(address or "") as client:
            yield {"backend": "dask", "client": client}
    else:
        yield _ray_config(address or "")


@contextlib.contextmanager
def _dask_client(address: str) -> Iterator[Any]:
    Client = _import_dask_client()
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(
            f"--backend {address.replace('tcp://', 'dask://')}: cannot reach the Dask scheduler ({exc}); "
            "check the address and that the scheduler is running"
        ) from exc
    try:
        yield client
    finally:
        client.close()


def _import_dask_client() -> Any:
    try:
        from distributed import Client
    except ImportError as exc:
        raise UsageError(
            "--backend dask://...: needs Dask's 'distributed' package; pip install 'xai-cli[dask]'"
        ) from exc
    return Client


def _import_ray(address: str) -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            f"--backend {address}: Ray is not installed; install it with pip install 'ray[default]' "
            "(or use --backend dask://HOST:PORT, or local workers with --jobs N)"
        ) from exc
    return ray


def _ray_config(address: str) -> dict[str, Any]:
    ray = _import_ray(address)
    from ray.util.joblib import register_ray

    if not ray.is_initialized():
        ray.init(address=address)
    register_ray()
    return {"backend": "ray"}
