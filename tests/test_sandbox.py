"""The sandbox alone stops a hostile model: the allow-list is switched off in these tests (the loader
unpickles with plain joblib), and every payload is still stopped with exit 4 and one line, its marker
never written and its probe never read. With --trust-model, the only way past, the same files run.
"""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import joblib
import pytest
import torch

from tests.conftest import SAMPLES, run_in_process
from xai_cli.models.sandbox import channel
from xai_cli.models.sandbox.kernel import apply_landlock, apply_seccomp

IRIS_MODEL, IRIS_DATA = SAMPLES["iris"]
SECRET = "the-probe-secret-4417"


class Payload:
    """A pickled object whose loading calls ``func(*args)``."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def payloads(marker: Path, probe: Path) -> dict[str, Payload]:
    """One payload per way out of a process: Python-level and C-level (ctypes) ones."""
    c_call = "import ctypes; ctypes.CDLL(None).{}"
    return {
        "os.system": Payload(os.system, f"touch {marker}"),
        "subprocess.Popen": Payload(subprocess.Popen, ["touch", str(marker)]),
        "exec-open-write": Payload(builtins.exec, f"open({str(marker)!r}, 'w').write('x')"),
        "exec-os-open": Payload(
            builtins.exec, f"import os; os.open({str(marker)!r}, os.O_CREAT | os.O_WRONLY)"
        ),
        "read-probe": Payload(builtins.exec, f"open({str(probe)!r}).read()"),
        "exec-socket": Payload(builtins.exec, "import socket; socket.create_connection(('127.0.0.1', 9))"),
        "exec-rename": Payload(builtins.exec, f"import os; os.rename({str(probe)!r}, {str(marker)!r})"),
        "ctypes-system": Payload(builtins.exec, c_call.format(f"system(b'touch {marker}')")),
        "ctypes-creat": Payload(builtins.exec, c_call.format(f"creat(b'{marker}', 420)")),
        "ctypes-socket": Payload(builtins.exec, c_call.format("socket(2, 1, 0)")),
        "ctypes-fork": Payload(builtins.exec, c_call.format("fork()")),
    }


PAYLOAD_NAMES = list(payloads(Path("m"), Path("p")))


@pytest.fixture
def no_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the allow-list off: the loader unpickles whatever the file holds (the sandbox stays on)."""
    import xai_cli.models.safe_pickle as safe_pickle

    monkeypatch.setattr(safe_pickle, "load_pickle", lambda path, trust=False: joblib.load(path))
    monkeypatch.delenv("XAI_SANDBOX", raising=False)


def hostile_file(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """The model file, its marker and the probe outside the model's folder."""
    marker, probe = tmp_path / "marker", tmp_path / "probe" / "secret.txt"
    probe.parent.mkdir()
    probe.write_text(SECRET)
    model = tmp_path / "models" / f"{name}.joblib"
    model.parent.mkdir()
    joblib.dump(payloads(marker, probe)[name], model)
    return model, marker, probe


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_the_sandbox_alone_stops_each_payload(name: str, tmp_path: Path, no_allow_list: None) -> None:
    model, marker, probe = hostile_file(tmp_path, name)
    result = run_in_process("explain", model, IRIS_DATA, "--out", tmp_path / "report")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 4, result.stderr
    assert len(errors) == 1 and "stopped by the sandbox" in errors[0], result.stderr
    assert str(model) in errors[0] and "--trust-model" in errors[0]
    assert not marker.exists()
    assert probe.read_text() == SECRET  # neither moved nor changed
    assert SECRET not in result.stdout + result.stderr
    assert not (tmp_path / "report" / "explain.json").exists()


@pytest.mark.parametrize("name", ["os.system", "exec-open-write", "ctypes-system", "ctypes-creat"])
def test_each_payload_does_run_without_the_sandbox(name: str, tmp_path: Path) -> None:
    """The companion: loaded with no checks at all, the same file writes its marker."""
    model, marker, _ = hostile_file(tmp_path, name)
    joblib.load(model)
    assert marker.exists()


def test_trust_model_is_the_only_way_past(tmp_path: Path, no_allow_list: None) -> None:
    model, marker, _ = hostile_file(tmp_path, "os.system")
    result = run_in_process("explain", model, IRIS_DATA, "--out", tmp_path / "report", "--trust-model")
    assert marker.exists()  # trusted: loaded in this process, no sandbox
    assert result.exit_code == 3  # and then it is no model


def test_a_reading_payload_reads_nothing_from_c_either(tmp_path: Path, no_allow_list: None) -> None:
    """A probe read through libc, below the audit hook: Landlock denies it, so the model holds -1."""
    probe = tmp_path / "probe.txt"
    probe.write_text(SECRET)
    code = (
        f"import ctypes; fd = ctypes.CDLL(None).open(b'{probe}', 0); "
        "raise ValueError('denied' if fd < 0 else 'got the probe')"
    )
    model = tmp_path / "models" / "c-read.joblib"
    model.parent.mkdir()
    joblib.dump(Payload(builtins.exec, code), model)
    result = run_in_process("explain", model, IRIS_DATA, "--out", tmp_path / "report")
    assert result.exit_code != 0
    assert "denied" in result.stderr and "got the probe" not in result.stderr


def test_cpu_time_is_capped(tmp_path: Path, no_allow_list: None) -> None:
    model = tmp_path / "spin.joblib"
    joblib.dump(Payload(builtins.exec, "while True: pass"), model)
    result = run_in_process("explain", model, IRIS_DATA, "--out", tmp_path / "r", "--max-cpu-seconds", "1")
    assert result.exit_code == 3, result.stderr
    assert "1 s of CPU time (--max-cpu-seconds)" in result.stderr


def test_memory_is_capped(tmp_path: Path, no_allow_list: None) -> None:
    model = tmp_path / "hog.joblib"
    joblib.dump(Payload(builtins.exec, "blocks = [bytearray(1 << 26) for _ in range(64)]"), model)
    result = run_in_process("explain", model, IRIS_DATA, "--out", tmp_path / "r", "--max-memory", "1G")
    assert result.exit_code == 3, result.stderr
    assert "more than the sandbox's 1.0 GiB of memory" in result.stderr and "--max-memory" in result.stderr


def test_a_bad_max_memory_is_a_usage_error(tmp_path: Path) -> None:
    result = run_in_process("explain", IRIS_MODEL, IRIS_DATA, "--out", tmp_path / "r", "--max-memory", "lots")
    assert result.exit_code == 2
    assert "--max-memory lots: expected a size such as 4G" in result.stderr


def test_a_missing_layer_is_one_note_and_the_rest_still_holds(
    tmp_path: Path, no_allow_list: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xai_cli.models.sandbox as sandbox

    monkeypatch.setitem(__import__("sys").modules, "pyseccomp", None)  # as if pyseccomp were not installed
    monkeypatch.setattr(sandbox, "_NOTED", set())
    model, marker, _ = hostile_file(tmp_path, "os.system")
    result = run_in_process("explain", model, IRIS_DATA, "--out", tmp_path / "report")
    assert result.exit_code == 4 and not marker.exists()
    good = run_in_process("explain", IRIS_MODEL, IRIS_DATA, "--out", tmp_path / "good", "--rows", "0:3")
    assert good.exit_code == 0, good.stderr
    assert good.stderr.count("note: seccomp skipped") <= 1 and result.stderr.count("seccomp skipped") == 1


def test_sandboxed_reports_equal_trusted_ones_byte_for_byte(tmp_path: Path) -> None:
    for name, extra in (("sandboxed", []), ("trusted", ["--trust-model"])):
        result = run_in_process(
            "explain", IRIS_MODEL, IRIS_DATA, "--out", tmp_path / name, "--rows", "0:5", *extra
        )
        assert result.exit_code == 0, result.stderr
    sandboxed = sorted(p.name for p in (tmp_path / "sandboxed").iterdir())
    assert sandboxed == sorted(p.name for p in (tmp_path / "trusted").iterdir())
    for name in sandboxed:
        assert (tmp_path / "sandboxed" / name).read_bytes() == (tmp_path / "trusted" / name).read_bytes(), (
            name
        )


def test_the_kernel_layers_are_there_on_this_machine() -> None:
    """CI runs on Linux with Landlock and seccomp: both apply (in a throwaway child)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        import pyseccomp  # noqa: F401  (it runs ldconfig to find libseccomp: before Landlock)

        notes = [apply_landlock(["/"]), apply_seccomp()]
        os._exit(0 if notes == [None, None] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


class TestChannel:
    """Nothing the model process sends is unpickled: values are rebuilt from a closed set of shapes."""

    def test_values_round_trip(self) -> None:
        from xai_cli.run.explain import ExplainOutcome

        value = ExplainOutcome(
            report={"a": (1, 2.5), 3: [None, "x"]}, out_dir=Path("/r"), files=["f"], notes=[]
        )
        assert channel.decode_value(channel.encode_value(value)) == value

    @pytest.mark.parametrize(
        "data",
        [
            {"$dataclass": "subprocess:Popen", "fields": {"args": ["true"]}},
            {"$dataclass": "xai_cli.cli:app", "fields": {}},
            {"$array": [1], "dtype": "O"},
            {"$unknown": 1},
        ],
    )
    def test_anything_else_is_refused(self, data: Any) -> None:
        with pytest.raises(channel.ProtocolError):
            channel.decode_value(data)

    def test_an_error_comes_back_as_its_own_class_or_a_plain_one(self) -> None:
        from xai_cli.errors import UnsafeModelError

        header = channel.encode_error(UnsafeModelError("no"), "")
        assert isinstance(channel.decode_error(header), UnsafeModelError)
        header = {**header, "type": "Popen", "own": True}
        rebuilt = channel.decode_error(header)
        assert type(rebuilt) is RuntimeError and "Popen: no" in str(rebuilt)

    def test_pickle_is_not_how_values_travel(self) -> None:
        with pytest.raises(TypeError):
            channel.encode_value(pickle)


class FromFile(torch.nn.Module):
    """A TorchScript module whose forward maps a file: shared=True creates and writes it, False reads it."""

    def __init__(self, path: str, shared: bool) -> None:
        super().__init__()
        self.path, self.shared = path, shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mapped = torch.from_file(self.path, shared=self.shared, size=16, dtype=torch.uint8)
        return x + mapped.sum().to(x.dtype)


def sandboxed_torchscript_call(model: Path, out: Path) -> Any:
    """Load and call a TorchScript file in the sandbox, with no scan before it: the sandbox alone."""
    from xai_cli.models.sandbox.limits import SandboxLimits
    from xai_cli.models.sandbox.parent import SandboxJob, run_sandboxed
    from xai_cli.models.sandbox.prepare import prepare_for

    def work(call_back: Any) -> float:
        return float(torch.jit.load(str(model))(torch.zeros(1)).item())

    job = SandboxJob(
        work=work, callbacks=[], read_paths=[model], out_dirs=[out], limits=SandboxLimits(), label=str(model),
        seconds=None, prepare=lambda: prepare_for(model), on_layer_note=lambda _: None,
    )  # fmt: skip
    return run_sandboxed(job)


@pytest.mark.parametrize("shared", [True, False], ids=["writes", "reads"])
def test_a_torchscript_from_file_is_stopped_by_the_sandbox_alone(shared: bool, tmp_path: Path) -> None:
    from xai_cli.errors import UnsafeModelError

    target = tmp_path / "outside" / ("marker" if shared else "secret.bin")
    target.parent.mkdir()
    if not shared:
        target.write_bytes(b"S" * 16)
    model = tmp_path / "models" / "from_file.pt"
    model.parent.mkdir()
    torch.jit.script(FromFile(str(target), shared)).save(str(model))
    with pytest.raises(UnsafeModelError, match="stopped by the sandbox"):
        sandboxed_torchscript_call(model, tmp_path / "out")
    assert target.exists() is not shared  # nothing created
    # The companion: without the sandbox, the same file does map (and for shared=True, create) the file.
    value = torch.jit.load(str(model))(torch.zeros(1)).item()
    assert target.exists() and (shared or value == 16 * ord("S"))


def test_onnx_external_data_beside_the_model_is_readable_in_the_sandbox(tmp_path: Path) -> None:
    """Landlock lets the model process read the external data files the (checked) model names, and
    nothing else beside it."""
    import numpy as np

    from tests.hostile import bombs

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.bin").write_bytes(np.array([1, 2, 3, 4], dtype=np.float32).tobytes())
    model = bombs.onnx_external_initializer(folder / "model.onnx", "w.bin")
    args = ("--label-column", "species", "--rows", "0:2", "--background", "5", "--max-plots", "0")
    result = run_in_process("explain", model, IRIS_DATA, "--out", tmp_path / "r", *args)
    assert result.exit_code == 0, result.stderr


def test_a_keras_file_without_its_suffix_loads_in_the_sandbox(tmp_path: Path) -> None:
    """Keras picks its reader by suffix: the link with the right one is made before the lock-down,
    and removed with the model process."""
    import shutil
    import tempfile

    from tests.conftest import SAMPLE_MODELS

    model = tmp_path / "iris_mlp.model"
    shutil.copy(SAMPLE_MODELS / "iris_mlp.keras", model)
    args = ("--rows", "0:3", "--max-plots", "0", "--label-column", "species")
    result = run_in_process("explain", model, IRIS_DATA, "--out", tmp_path / "r", *args)
    assert result.exit_code == 0, result.stderr
    assert not list(Path(tempfile.gettempdir()).glob("xai-sandbox-*"))
