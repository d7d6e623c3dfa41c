"""Bombs: small files that declare huge objects. Each is refused with exit 3 and one line, before it is
decoded, within a memory budget (peak RSS of the command under 1 GiB above the same command on a small
valid input); a companion test shows, by counting bytes, that each really is a bomb without the checks.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, SAMPLES, CliResult, run_in_process
from tests.hostile import bombs

IRIS_MODEL, IRIS_DATA = SAMPLES["iris"]
DIGITS_ONNX = ROOT / "sample_models" / "digits_cnn.onnx"
DIGIT = ROOT / "sample_data" / "digits" / "digit_0_0.png"
GiB = 1 << 30
IRIS = ("--label-column", "species", "--rows", "0:2", "--background", "5", "--max-plots", "0", "-q")

_MEASURE = (
    "import resource, subprocess, sys\n"
    "command = [sys.executable, '-m', 'xai_cli', *sys.argv[1:]]\n"
    "done = subprocess.run(command, capture_output=True, text=True)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stdout.write(f'{done.returncode} {peak}\\n' + done.stdout)\n"
    "sys.stderr.write(done.stderr)\n"
)


def measured(*args: object, env: dict[str, str] | None = None) -> tuple[CliResult, int]:
    """Run ``xai ARGS`` in a fresh process; its result and its peak RSS in bytes (RUSAGE_CHILDREN of a
    wrapper process that ran nothing else)."""
    completed = subprocess.run(
        [sys.executable, "-c", _MEASURE, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    first, _, stdout = completed.stdout.partition("\n")
    code, peak = (int(v) for v in first.split())
    return CliResult(code, stdout, completed.stderr), peak * 1024


def assert_one_error(result: CliResult, path: Path, *parts: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 3, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), result.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def assert_within_budget(bomb_peak: int, floor_peak: int) -> None:
    assert bomb_peak - floor_peak < GiB, f"peak {bomb_peak / GiB:.2f} GiB, floor {floor_peak / GiB:.2f} GiB"


# ---- images ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def png_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bombs.png_bomb(tmp_path_factory.mktemp("png") / "huge.png")


def test_a_13000_pixel_png_is_refused_from_its_header(png_bomb: Path, tmp_path: Path) -> None:
    assert png_bomb.stat().st_size < 600_000
    floor, floor_peak = measured("attention", DIGITS_ONNX, DIGIT, "--out", tmp_path / "a", "-q")
    assert floor.exit_code == 0, floor.stderr
    result, peak = measured("attention", DIGITS_ONNX, png_bomb, "--size", "28x28", "--out", tmp_path / "b")
    assert_one_error(result, png_bomb, "13000x13000 = 169,000,000 pixels", "64,000,000", "--max-pixels")
    assert_within_budget(peak, floor_peak)
    assert not (tmp_path / "b" / "attention.json").exists()


def test_the_png_really_is_a_bomb(png_bomb: Path) -> None:
    """Pillow's own decode: width x height x 3 bytes; the zlib stream inflates to that, counted in
    bounded pieces here (never held)."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        opened = Image.open(png_bomb)  # headers only
    with opened:
        width, height = opened.size
        assert opened.mode == "RGB"
    assert bombs.declared_decode_bytes(width, height, 3) == 507_000_000
    data = png_bomb.read_bytes()
    (idat_length,) = struct.unpack(">I", data[33:37])
    stream, inflater, inflated = data[41 : 41 + idat_length], zlib.decompressobj(), 0
    while stream:
        inflated += len(inflater.decompress(stream, 1 << 24))
        stream = inflater.unconsumed_tail
    assert inflated == height * (1 + width * 3)
    assert inflated > 1000 * png_bomb.stat().st_size


def test_max_pixels_and_its_environment_variable(tmp_path: Path) -> None:
    small = run_in_process("attention", DIGITS_ONNX, DIGIT, "--out", tmp_path / "o", "--max-pixels", "1000")
    assert_one_error(small, DIGIT, "32x32 = 1,024 pixels", "limit of 1,000 pixels")
    ok = run_in_process("attention", DIGITS_ONNX, DIGIT, "--out", tmp_path / "o", "--max-pixels", "1024")
    assert ok.exit_code == 0, ok.stderr


def test_a_gif_whose_frame_grows_the_canvas(tmp_path: Path) -> None:
    gif = bombs.gif_growing_frame(tmp_path / "grow.png")  # the name says PNG; the bytes say GIF
    result = run_in_process("attention", DIGITS_ONNX, gif, "--out", tmp_path / "o")
    assert_one_error(result, gif, "12000x12000", "--max-pixels")


def test_formats_outside_the_list_are_not_tried(tmp_path: Path) -> None:
    """Pillow would open an ICO (or an EPS, through Ghostscript) whatever its name."""
    from PIL import Image

    icon = tmp_path / "icon.png"
    Image.new("RGB", (16, 16)).save(icon, format="ICO")
    result = run_in_process("attention", DIGITS_ONNX, icon, "--out", tmp_path / "o")
    assert_one_error(result, icon, "not an image Pillow can read")


# ---- CSV and Parquet -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris_floor(tmp_path_factory: pytest.TempPathFactory) -> int:
    out = tmp_path_factory.mktemp("floor")
    floor, peak = measured("explain", IRIS_MODEL, IRIS_DATA, *IRIS, "--out", out)
    assert floor.exit_code == 0, floor.stderr
    return peak


def test_a_header_of_ten_million_columns(tmp_path: Path, iris_floor: int) -> None:
    wide = bombs.wide_header_csv(tmp_path / "wide.csv")
    for extra in ((), ("--chunk-size", "100")):
        result, peak = measured("explain", IRIS_MODEL, wide, *IRIS, "--out", tmp_path / "o", *extra)
        assert_one_error(result, wide, "line 1 (the header)", "100,000 columns", "XAI_MAX_CSV_COLUMNS")
        assert_within_budget(peak, iris_floor)


def test_one_line_of_200_mb(tmp_path: Path, iris_floor: int) -> None:
    long = bombs.long_line_csv(tmp_path / "long.csv")
    for extra in ((), ("--chunk-size", "100")):
        result, peak = measured("explain", IRIS_MODEL, long, *IRIS, "--out", tmp_path / "o", *extra)
        assert_one_error(result, long, "line 3")
        assert_within_budget(peak, iris_floor)


def test_the_csv_bombs_really_are_bombs(tmp_path: Path) -> None:
    """Counted, not run: the header names 10 million columns; the long line holds 100 million fields,
    and pandas' tokenizer keeps at least a pointer and an offset (16 bytes) per field. pandas has no
    line limit of its own: a 20 MiB line (above ours) is read without a word."""
    wide = bombs.wide_header_csv(tmp_path / "wide.csv")
    with wide.open("rb") as handle:
        header_separators = 0
        while b"\n" not in (block := handle.read(1 << 20)):
            header_separators += block.count(b",")
        header_separators += block[: block.index(b"\n")].count(b",")
    assert header_separators + 1 == 10_000_000
    long = bombs.long_line_csv(tmp_path / "long.csv")
    fields = 0
    with long.open("rb") as handle:
        while block := handle.read(1 << 20):
            fields += block.count(b",")
    assert 16 * fields > GiB
    line = b"a\n" + b"x" * (20 << 20) + b"\n"
    assert len(pd.read_csv(io.BytesIO(line)).iloc[0, 0]) == 20 << 20


def test_long_fields_and_quoted_line_breaks(tmp_path: Path) -> None:
    field = bombs.long_line_csv(tmp_path / "field.csv", 20 << 20, fill=b"x")
    result = run_in_process("explain", IRIS_MODEL, field, *IRIS, "--out", tmp_path / "o")
    assert_one_error(result, field, "line 3 has a field longer than the limit of 1,048,576 bytes")
    rows = bombs.quoted_newlines_csv(tmp_path / "rows.csv")
    result = run_in_process("explain", IRIS_MODEL, rows, *IRIS, "--out", tmp_path / "o")
    assert_one_error(result, rows, "line 2 has more fields than the header names (2)")


def test_the_checks_read_no_further_than_the_limit(tmp_path: Path) -> None:
    """Counted work: the bytes pandas received when the long line was refused."""
    from xai_cli.data.csv_limits import READ_BLOCK, limited_csv
    from xai_cli.errors import InputError

    long = bombs.long_line_csv(tmp_path / "long.csv", fill=b"x")
    handed = 0
    with limited_csv(long, "utf-8", ",", 2) as handle, pytest.raises(InputError, match="line 3"):
        while chunk := handle.read(READ_BLOCK):
            handed += len(chunk)
    assert handed <= (1 << 20) + 2 * READ_BLOCK


def test_real_wide_and_quoted_csvs_still_work(tmp_path: Path) -> None:
    from xai_cli.data.tabular import read_table

    frame = pd.DataFrame(np.arange(3 * 20_000).reshape(3, 20_000), columns=[f"c{i}" for i in range(20_000)])
    frame.to_csv(tmp_path / "wide.csv", index=False)
    assert read_table(tmp_path / "wide.csv").shape == (3, 20_000)
    quoted = pd.DataFrame({"text": ['say "hi",\nthen go', "x" * 200_000], "n": [1, 2]})
    quoted.to_csv(tmp_path / "quoted.csv", index=False)
    assert read_table(tmp_path / "quoted.csv").equals(quoted)
    for encoding in ("utf-16", "utf-32", "cp1252"):
        (tmp_path / "enc.csv").write_bytes(quoted.to_csv(index=False).encode(encoding))
        assert read_table(tmp_path / "enc.csv").equals(quoted), encoding


def test_limits_move_with_their_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xai_cli.data.tabular import read_table
    from xai_cli.errors import InputError

    (tmp_path / "t.csv").write_text("a,b,c\n1,2,3\n")
    monkeypatch.setenv("XAI_MAX_CSV_COLUMNS", "2")
    with pytest.raises(InputError, match=r"t\.csv: line 1 \(the header\) names more than the limit of 2"):
        read_table(tmp_path / "t.csv")
    monkeypatch.setenv("XAI_MAX_CSV_COLUMNS", "3")
    assert read_table(tmp_path / "t.csv").shape == (1, 3)


def test_parquet_columns_and_row_groups_from_the_footer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from xai_cli.data.stream import iter_table_chunks
    from xai_cli.data.tabular import read_table
    from xai_cli.errors import InputError

    path = tmp_path / "zeros.parquet"
    pq.write_table(pa.table({"a": np.zeros(1_000_000, dtype=np.int64)}), path)
    assert path.stat().st_size < 100_000  # run-length encoded: 8 MB of values in a few KB
    monkeypatch.setenv("XAI_MAX_ROW_GROUP_BYTES", "1000000")
    for read in (read_table, lambda p: next(iter_table_chunks(p, 100))):
        with pytest.raises(InputError, match=r"row group 0 would decode to 8,000,000 bytes"):
            read(path)
    monkeypatch.delenv("XAI_MAX_ROW_GROUP_BYTES")
    monkeypatch.setenv("XAI_MAX_CSV_COLUMNS", "1")
    pq.write_table(pa.table({"a": [1], "b": [2]}), tmp_path / "two.parquet")
    with pytest.raises(InputError, match=r"2 columns, above the limit of 1"):
        read_table(tmp_path / "two.parquet")


# ---- ONNX ------------------------------------------------------------------------------------------

ONNX_BOMBS = {
    "constant-of-shape": (bombs.onnx_constant_of_shape, "node ConstantOfShape", "8.0 GiB"),
    "expand": (bombs.onnx_expand, "node Expand", "16.0 GiB"),
    "tile": (bombs.onnx_tile, "node Tile", "GiB"),
    "range": (bombs.onnx_range, "node Range", "11.2 GiB"),
    "batch-driven": (bombs.onnx_input_driven, "node ConstantOfShape", "at a batch of 256 rows"),
}


@pytest.mark.parametrize("kind", sorted(ONNX_BOMBS))
def test_onnx_bombs_are_refused_by_scan_and_load(kind: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    make, node, size = ONNX_BOMBS[kind]
    bomb = make(tmp_path / f"{kind}.onnx")
    assert bomb.stat().st_size < 400
    scan = run_in_process("scan", bomb)
    assert scan.exit_code == 3 and node in scan.stderr and size in scan.stderr, scan.stderr
    result = run_in_process("explain", bomb, IRIS_DATA, *IRIS, "--out", tmp_path / "o")
    assert_one_error(result, bomb, node, size, "XAI_MAX_TENSOR_BYTES")


def test_onnx_bomb_memory(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    small = bombs.onnx_constant_of_shape(tmp_path / "small.onnx", elements=16)
    floor, floor_peak = measured("explain", small, IRIS_DATA, *IRIS, "--out", tmp_path / "a")
    assert floor.exit_code == 0, floor.stderr
    bomb = bombs.onnx_constant_of_shape(tmp_path / "bomb.onnx")
    result, peak = measured("explain", bomb, IRIS_DATA, *IRIS, "--out", tmp_path / "b")
    assert_one_error(result, bomb, "ConstantOfShape")
    assert_within_budget(peak, floor_peak)


# The peak RSS of this process alone (VmHWM starts afresh at exec; ru_maxrss keeps the parent's).
_ORT_SESSION = (
    "import sys, onnxruntime\n"
    "def peak():\n"
    "    line = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
    "    return int(line.split()[1]) * 1024\n"
    "before = peak()\n"
    "onnxruntime.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n"
    "print(peak() - before)\n"
)


def test_onnxruntime_allocates_what_the_graph_declares(tmp_path: Path) -> None:
    """Without the check: onnxruntime folds the ConstantOfShape when the session is created, so the
    declared size is allocated before any run. Shown on a 1/64 scale copy (128 MiB), measured in a
    child process; the bomb itself declares 8 GiB."""
    pytest.importorskip("onnxruntime")
    import onnx
    from onnx import numpy_helper

    scaled = bombs.onnx_constant_of_shape(tmp_path / "scaled.onnx", elements=1 << 25)
    grown = subprocess.run(
        [sys.executable, "-c", _ORT_SESSION, str(scaled)], capture_output=True, text=True, check=True
    )
    assert int(grown.stdout) >= (1 << 25) * 4
    bomb = onnx.load(str(bombs.onnx_constant_of_shape(tmp_path / "bomb.onnx")))
    assert int(numpy_helper.to_array(bomb.graph.initializer[0]).prod()) * 4 == 8 * GiB


def test_a_value_that_grows_at_run_time_meets_the_arena_limit(tmp_path: Path) -> None:
    """Within the tensor limit at a batch of 256 (1 GB), but each row asks for 4 MB: a run of more
    rows than the arena holds fails in one line."""
    pytest.importorskip("onnxruntime")
    model = bombs.onnx_input_driven(tmp_path / "grows.onnx", factor=1_000_000)
    env = {"XAI_MAX_ONNX_ARENA_BYTES": str(64 << 20)}
    result, _ = measured("explain", model, IRIS_DATA, *IRIS, "--out", tmp_path / "o", env=env)
    assert_one_error(result, model, "arena limit of 67,108,864 bytes", "XAI_MAX_ONNX_ARENA_BYTES")


# ---- ONNX external data and the loader's scan --------------------------------------------------------


def _probe_and_model(tmp_path: Path) -> tuple[Path, Path, bytes]:
    outside = tmp_path / "outside"
    outside.mkdir()
    probe = np.array([1, 2, 3, 4], dtype=np.float32).tobytes()
    (outside / "probe.bin").write_bytes(probe)
    folder = tmp_path / "model"
    folder.mkdir()
    return outside / "probe.bin", folder, probe


def test_external_data_through_a_symlink_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    probe, folder, _ = _probe_and_model(tmp_path)
    (folder / "w.bin").symlink_to(probe)
    model = bombs.onnx_external_initializer(folder / "model.onnx", "w.bin")
    (folder / "sub").symlink_to(probe.parent, target_is_directory=True)
    through_folder = bombs.onnx_external_initializer(folder / "folder.onnx", "sub/probe.bin")
    for path in (model, through_folder):
        scan = run_in_process("scan", path)
        assert scan.exit_code == 4 and "symbolic link" in scan.stderr, scan.stderr
        load = run_in_process("explain", path, IRIS_DATA, *IRIS, "--out", tmp_path / "o")
        assert load.exit_code == 4 and "symbolic link" in load.stderr and "--trust-model" in load.stderr


def test_the_symlink_does_reach_outside_without_the_check(tmp_path: Path) -> None:
    """A reader that joins the model's folder and the location (as onnx and onnxruntime did before
    they checked for links) reads the probe file outside the folder."""
    probe, folder, probe_bytes = _probe_and_model(tmp_path)
    (folder / "w.bin").symlink_to(probe)
    bombs.onnx_external_initializer(folder / "model.onnx", "w.bin")
    assert (folder / "w.bin").read_bytes() == probe_bytes


def test_external_data_that_is_not_a_regular_file(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    folder = tmp_path / "model"
    folder.mkdir()
    os.mkfifo(folder / "pipe.bin")  # reading it would wait for ever
    model = bombs.onnx_external_initializer(folder / "model.onnx", "pipe.bin")
    scan = run_in_process("scan", model)
    assert scan.exit_code == 4 and "not a regular file" in scan.stderr


def test_external_data_declaring_a_huge_tensor(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    (tmp_path / "w.bin").write_bytes(b"\x00" * 16)
    model = bombs.onnx_external_initializer(tmp_path / "model.onnx", "w.bin", dims=(1 << 20, 1 << 12))
    scan = run_in_process("scan", model)
    assert scan.exit_code == 3 and "the tensor 'w'" in scan.stderr and "16.0 GiB" in scan.stderr


def test_the_onnx_loader_refuses_what_scan_refuses(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"], domain="evil.ops")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("evil.ops", 1)]
    path = tmp_path / "custom.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=opsets).SerializeToString())
    assert run_in_process("scan", path).exit_code == 4
    load = run_in_process("explain", path, IRIS_DATA, *IRIS, "--out", tmp_path / "o")
    assert load.exit_code == 4 and "custom operators 'evil.ops'" in load.stderr, load.stderr
    assert run_in_process("scan", DIGITS_ONNX).exit_code == 0
