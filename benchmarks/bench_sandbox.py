"""The sandbox's cost: start-up of one sandboxed model process, a callback and a report file through
its channel, and whole commands with the sandbox on against the same commands with it off
(``XAI_SANDBOX=0``: the allow-list alone). Peer = the sandbox off, so a ratio below 1 is what the
sandbox costs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _bench import ROOT, best_command, best_of, quick_mode, record, xai_command

from xai_cli.models.sandbox.limits import SandboxLimits
from xai_cli.models.sandbox.parent import SandboxJob, run_sandboxed

CALLS = 2000
FILES = 50
FILE_BYTES = 200_000


def sandboxed(work, out: Path) -> object:  # type: ignore[no-untyped-def]
    """``work`` in a sandboxed child writing under ``out``."""
    job = SandboxJob(
        work=work,
        callbacks=[lambda *_: None],
        read_paths=[],
        out_dirs=[out],
        limits=SandboxLimits(),
        label="bench",
        seconds=None,
        prepare=lambda: None,
        on_layer_note=lambda _: None,
    )
    return run_sandboxed(job)


def channel_costs(out: Path) -> None:
    """Start-up, then per callback and per file."""
    from xai_cli.reports.writer import write_atomic

    empty, _ = best_of(lambda: sandboxed(lambda call_back: None, out), 5)
    record("sandbox: start one model process, lock it down, end it", empty, None, "", note="best of 5")

    def calls(call_back):  # type: ignore[no-untyped-def]
        for index in range(CALLS):
            call_back(0, (index,))

    many, _ = best_of(lambda: sandboxed(calls, out), 3)
    per_call = (many - empty) / CALLS
    record(f"sandbox: one callback (note/progress), {CALLS} in a run", per_call, None, "",
           note=f"{per_call * 1e6:.1f} us per call")  # fmt: skip
    data = os.urandom(FILE_BYTES)

    def files(call_back):  # type: ignore[no-untyped-def]
        for index in range(FILES):
            write_atomic(out / f"f{index}.bin", data)

    remote, _ = best_of(lambda: sandboxed(files, out), 3)
    local, _ = best_of(lambda: [write_atomic(out / f"g{i}.bin", data) for i in range(FILES)], 3)
    record(f"sandbox: {FILES} report files of {FILE_BYTES // 1000} kB through the parent",
           (remote - empty) / FILES, local / FILES, "written in this process (write_atomic)",
           note="per file")  # fmt: skip


def whole_commands() -> None:
    """``xai explain`` on a sample and on a folder of six inputs, sandbox on and off."""
    times = 3 if quick_mode() else 5
    model, data = ROOT / "sample_models" / "credit_pipeline.joblib", ROOT / "sample_data" / "credit.csv"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "inputs"
        folder.mkdir()
        lines = data.read_text().splitlines()
        for index in range(6):
            (folder / f"part{index}.csv").write_text(
                "\n".join([lines[0], *lines[1 + 20 * index : 21 + 20 * index]])
            )
        for task, target in (("credit sample, 100 rows", data), ("a folder of 6 inputs of 20 rows", folder)):
            argv = xai_command("explain", model, target, "--out", Path(tmp) / "r", "--quiet")
            on = best_command(argv, times)
            os.environ["XAI_SANDBOX"] = "0"
            try:
                off = best_command(argv, times)
            finally:
                del os.environ["XAI_SANDBOX"]
            record(f"sandbox: xai explain, {task}, whole process", on, off, "the same, XAI_SANDBOX=0",
                   note=f"best of {times}")  # fmt: skip


def main() -> None:
    """All the sandbox figures."""
    with tempfile.TemporaryDirectory() as tmp:
        channel_costs(Path(tmp))
    whole_commands()


if __name__ == "__main__":
    main()
