"""Thread pools that do not survive ``fork``: what a forked worker process must do first."""

from __future__ import annotations

import contextlib

_OPENMP_LIMIT: object = None


def single_openmp_thread() -> None:
    """GNU OpenMP's thread pool does not survive fork: if this process ran an OpenMP model before
    (HistGradientBoosting, say), the child's first parallel region waits for ever. One OpenMP
    thread in the child never touches the pool. (threadpoolctl comes with scikit-learn.)"""
    global _OPENMP_LIMIT
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_limits

        _OPENMP_LIMIT = threadpool_limits(1, user_api="openmp")
