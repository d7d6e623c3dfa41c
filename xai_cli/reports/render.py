"""Drawing a report's PNGs: in this process, or with a helper process forked at the start of the run.

A PNG costs about 70 ms of matplotlib (layout, text, PNG encoding: profiled) and importing matplotlib
about 0.35 s, all of it holding the GIL, so threads do not help; the default ``xai explain`` draws 12
PNGs, about a third of its run on the iris sample. Where the platform forks cheaply (Linux) and a second
core is there, ``plot_helper`` forks a child before the model is loaded (so before any BLAS or OpenMP
thread exists): the child imports matplotlib and warms its font cache while this process loads the
model and computes, then draws the share of the plots it is sent while this process draws the rest.
Each plot writes its own file from the arguments it is given, so the files are the same either way; a
plot the helper did not report as drawn is drawn here.

The helper only draws: it never prints (its stdout and stderr go to /dev/null) and leaves with
``os._exit``, skipping this process's exit handlers and buffered output. It serves one ``render`` and
exits; if the run ends without one, it is killed.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

PlotJob = Callable[[], None]

# Even one plot gains: the helper has imported matplotlib (~0.35 s) by the time it is sent the job.
HELPER_MIN_PLOTS = 1
# Importing matplotlib costs about as much as drawing this many plots: the helper, which has imported
# it already, takes that many more than half.
IMPORT_COST_IN_PLOTS = 5
# XAI_PLOT_WORKERS=1 draws every plot in this process.
WORKERS_ENV = "XAI_PLOT_WORKERS"
_INDEX = struct.Struct("<I")


def parallel_plots_available() -> bool:
    """True where a helper may draw plots: Linux, two usable cores, and not switched off."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    if os.environ.get(WORKERS_ENV, "").strip() == "1":
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores >= 2


@dataclass
class PlotHelper:
    """The parent's end of a forked plot-drawing child: a pipe to send jobs, one to hear which are done."""

    pid: int
    jobs_out: int
    done_in: int
    finished: bool = field(default=False)

    def render(self, jobs: Sequence[PlotJob]) -> None:
        """Draw ``jobs``: the first ones in the helper, the rest here; then any the helper did not."""
        share = min(len(jobs), (len(jobs) + IMPORT_COST_IN_PLOTS + 1) // 2)
        try:
            payload = pickle.dumps(list(jobs[:share]), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            payload, share = b"", 0
        try:
            if share:
                _write_all(self.jobs_out, _INDEX.pack(len(payload)) + payload)
        except OSError:
            share = 0
        finally:
            os.close(self.jobs_out)
        try:
            for job in jobs[share:]:
                job()
        except BaseException:
            self._stop(kill=True)
            raise
        drawn = self._stop(kill=False)
        for index in range(share):
            if index not in drawn:
                jobs[index]()

    def _stop(self, kill: bool) -> set[int]:
        """Wait for the helper (or kill it) and return the indices it reported drawn."""
        if self.finished:
            return set()
        self.finished = True
        if kill:
            os.kill(self.pid, signal.SIGKILL)
        received = b""
        while chunk := os.read(self.done_in, 4096):
            received += chunk
        os.close(self.done_in)
        os.waitpid(self.pid, 0)
        usable = len(received) - len(received) % _INDEX.size
        return {_INDEX.unpack_from(received, at)[0] for at in range(0, usable, _INDEX.size)}

    def close(self) -> None:
        """End the helper if ``render`` never ran: it has nothing left to do."""
        if not self.finished:
            os.close(self.jobs_out)
            self._stop(kill=True)


@contextmanager
def plot_helper(n_plots: int) -> Iterator[PlotHelper | None]:
    """A helper for a report of ``n_plots`` plots, where it pays and the platform allows (else None).

    Start it early, before the work that its matplotlib import should overlap."""
    helper = _fork_helper() if n_plots >= HELPER_MIN_PLOTS and parallel_plots_available() else None
    try:
        yield helper
    finally:
        if helper is not None:
            helper.close()


def render_plots(jobs: Sequence[PlotJob], helper: PlotHelper | None = None) -> None:
    """Run every plot job (each draws and writes one file), with the helper when there is one."""
    if helper is None or helper.finished:
        for job in jobs:
            job()
        return
    helper.render(jobs)


def _fork_helper() -> PlotHelper | None:
    jobs_in, jobs_out = os.pipe()
    done_in, done_out = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process with threads (a progress spinner's, say).
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            pid = os.fork()
        except OSError:
            for fd in (jobs_in, jobs_out, done_in, done_out):
                os.close(fd)
            return None
    if pid == 0:
        os.close(jobs_out)
        os.close(done_in)
        _serve(jobs_in, done_out)
    os.close(jobs_in)
    os.close(done_out)
    return PlotHelper(pid, jobs_out, done_in)


def _serve(jobs_in: int, done_out: int) -> None:
    """The helper's life: import and warm up matplotlib, draw the jobs sent, report each, exit."""
    code = 1
    try:
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives until os._exit
        warnings.simplefilter("ignore")
        _warm_up()
        header = _read_exactly(jobs_in, _INDEX.size)
        if header:
            jobs = pickle.loads(_read_exactly(jobs_in, _INDEX.unpack(header)[0]))
            for index, job in enumerate(jobs):
                job()
                _write_all(done_out, _INDEX.pack(index))
        code = 0
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _warm_up() -> None:
    """Import matplotlib's Agg backend and render a little text, which loads the fonts."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    import xai_cli.reports.plots  # noqa: F401 - the jobs' module, imported before they arrive

    figure = Figure(figsize=(1, 1), dpi=20)
    figure.add_subplot(1, 1, 1).set_title("warm-up")
    FigureCanvasAgg(figure).draw()


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
