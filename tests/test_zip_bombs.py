"""Zip bombs in model archives: ``xai scan`` and the loaders stop with exit 3, reading a bounded number of
bytes and staying under 1 GiB above the process floor (peak RSS, measured in a subprocess).

Each bomb is a real model archive (torch.save, TorchScript, torch.export, Keras) whose key member (the
pickle, the code, the program, the config) is replaced by a stream that really inflates to 1.1 GB: a
bzip2 one of about 1 KB that declares its size (refused by the ratio), and a deflate one that declares
1000 bytes and inflates past them (stopped by the bounded reader). No test times anything.
"""

from __future__ import annotations

import bz2
import json
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES

torch = pytest.importorskip("torch")

GIB = 1 << 30
BOMB_BYTES = 1100 * (1 << 20)  # 1.1 GB of zeros
DIGIT = ROOT / "sample_data" / "digits" / "digit_3_0.png"

MEASURE = """
import json, resource, sys
from xai_cli.models.scanning import zip_limits
from xai_cli.cli import app
try:
    app(sys.argv[1:], standalone_mode=True)
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
# A sandboxed load runs in a child process: the peak is the larger of this process and its children.
peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"exit": code, "peak_kib": peak, "inflated": zip_limits.inflated_bytes()}))
"""


def measure(*args: object) -> dict[str, int]:
    """Run ``xai ARGS`` in a fresh interpreter: its exit code, peak RSS (KiB, children included) and the
    bytes zip_limits inflated in that interpreter."""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, *map(str, args)], capture_output=True, text=True, env=env, timeout=600
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["stderr"] = completed.stderr  # type: ignore[assignment]
    return result


@pytest.fixture(scope="module")
def bomb_stream() -> tuple[bytes, bytes, int]:
    """(bzip2 stream, raw deflate stream, CRC-32) of BOMB_BYTES zeros."""
    bzip, deflate = bz2.BZ2Compressor(9), zlib.compressobj(9, zlib.DEFLATED, -15)
    crc, chunk = 0, bytes(1 << 20)
    bzip_parts, deflate_parts = [], []
    for _ in range(BOMB_BYTES // len(chunk)):
        bzip_parts.append(bzip.compress(chunk))
        deflate_parts.append(deflate.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    return b"".join([*bzip_parts, bzip.flush()]), b"".join([*deflate_parts, deflate.flush()]), crc


def _with_member(
    source: Path, target: Path, member_suffix: str, raw: bytes, size: int, crc: int, method: int
) -> Path:
    """Copy ``source`` with the member ending in ``member_suffix`` replaced by ``raw`` (compressed)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        (victim,) = [i.filename for i in old.infolist() if i.filename.endswith(member_suffix)]
        for info in old.infolist():
            if info.filename != victim:
                new.writestr(info, old.read(info))
        info = zipfile.ZipInfo(victim, (2020, 1, 1, 0, 0, 0))
        info.compress_type, info.file_size, info.compress_size, info.CRC = method, size, len(raw), crc
        info.header_offset = new.fp.tell()  # type: ignore[union-attr]
        new.fp.write(info.FileHeader(zip64=False))  # type: ignore[union-attr]
        new.fp.write(raw)  # type: ignore[union-attr]
        new.filelist.append(info)
        new.NameToInfo[victim] = info
        new.start_dir = new.fp.tell()  # type: ignore[union-attr]
        new._didModify = True
    return target


def _models(folder: Path) -> dict[str, tuple[Path, str]]:
    """A real archive of each kind, and the member a bomb replaces."""
    from tests.hostile.torch_gadgets import Carrier

    network = Carrier().eval()
    torch.save(network.state_dict(), folder / "weights.pt")
    torch.jit.script(network).save(str(folder / "scripted.pt"))
    torch.export.save(torch.export.export(network, (torch.zeros(1, 1, 32, 32),)), str(folder / "program.pt2"))
    models = {
        "torch": (folder / "weights.pt", "data.pkl"),
        "torchscript": (folder / "scripted.pt", "torch_gadgets.py"),
        "torch-export": (folder / "program.pt2", "models/model.json"),
    }
    keras_env = {**os.environ, "KERAS_BACKEND": "torch"}
    script = (
        "import keras; i = keras.Input((4,)); "
        f"keras.Model(i, keras.layers.Dense(3, activation='softmax')(i)).save({str(folder / 'iris.keras')!r})"
    )
    if subprocess.run([sys.executable, "-c", script], env=keras_env, capture_output=True).returncode == 0:
        models["keras"] = (folder / "iris.keras", "config.json")
    return models


@pytest.fixture(scope="module")
def bombs(
    tmp_path_factory: pytest.TempPathFactory, bomb_stream: tuple[bytes, bytes, int]
) -> dict[str, dict[str, Path]]:
    """Per format: the original, an honest bomb (declares 1.1 GB), a liar (declares 1000 bytes)."""
    folder = tmp_path_factory.mktemp("bombs")
    bzip, deflate, crc = bomb_stream
    out: dict[str, dict[str, Path]] = {}
    for form, (original, member) in _models(folder).items():
        suffix = original.suffix
        out[form] = {
            "original": original,
            "honest": _with_member(
                original, folder / f"{form}-honest{suffix}", member, bzip, BOMB_BYTES, crc, zipfile.ZIP_BZIP2
            ),
            "liar": _with_member(
                original, folder / f"{form}-liar{suffix}", member, deflate, 1000, crc, zipfile.ZIP_DEFLATED
            ),
        }
    return out


FORMS = ["torch", "torchscript", "torch-export", "keras"]


def _load_args(form: str, model: Path, out: Path) -> list[object]:
    if form == "keras":
        return ["explain", model, SAMPLES["iris"][1], "--label-column", "species", "--out", out]
    return ["attention", model, DIGIT, "--out", out, "--faithfulness-steps", "0"]


@pytest.mark.parametrize("form", FORMS)
def test_bombs_stop_with_exit_3_in_bounded_bytes_and_memory(form: str, bombs, tmp_path: Path) -> None:
    if form not in bombs:
        pytest.skip("keras is not installed")
    files = bombs[form]
    assert files["honest"].stat().st_size < 64 * 1024, "a bomb of a few KB"
    floor = measure("scan", files["original"])
    assert floor["exit"] == 0, floor["stderr"]
    for kind in ("honest", "liar"):
        for args in (["scan", files[kind]], _load_args(form, files[kind], tmp_path / kind)):
            result = measure(*args)
            assert result["exit"] == 3, (kind, args[0], result["stderr"])
            errors = [line for line in str(result["stderr"]).splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and str(files[kind]) in errors[0], result["stderr"]
            assert "member" in errors[0] or kind == "liar", errors[0]
            assert result["inflated"] <= 2 << 20, "at most the declared bytes of the bomb member, and a chunk"
            assert (result["peak_kib"] - floor["peak_kib"]) * 1024 < GIB, result


def _inflated_size(compressed: bytes, method: int) -> int:
    """How many bytes a raw bzip2 or deflate stream inflates to, counted 16 MiB at a time."""
    total = 0
    if method == zipfile.ZIP_BZIP2:
        bzip = bz2.BZ2Decompressor()
        total += len(bzip.decompress(compressed, 1 << 24))
        while not bzip.eof:
            total += len(bzip.decompress(b"", 1 << 24))
        return total
    deflate, pending = zlib.decompressobj(-15), compressed
    while pending or not deflate.eof:
        total += len(deflate.decompress(pending, 1 << 24))
        pending = deflate.unconsumed_tail
    return total


@pytest.mark.parametrize("form", FORMS)
def test_the_bombs_do_inflate_past_a_gigabyte(form: str, bombs) -> None:
    """Companion: inflated without the limits (in chunks, so that this test's own memory stays small),
    the bomb member of each file really yields over 1 GiB, from under 4 KB (bzip2) or 1.2 MB (deflate)."""
    if form not in bombs:
        pytest.skip("keras is not installed")
    for kind, method in (("honest", zipfile.ZIP_BZIP2), ("liar", zipfile.ZIP_DEFLATED)):
        with zipfile.ZipFile(bombs[form][kind]) as archive:
            info = max(
                (i for i in archive.infolist() if i.compress_type == method), key=lambda i: i.compress_size
            )
            archive.fp.seek(info.header_offset + 30 + len(info.filename.encode()) + len(info.extra))
            compressed = archive.fp.read(info.compress_size)
        total = _inflated_size(compressed, method)
        assert total > GIB and info.compress_size < (4096 if kind == "honest" else 1_300_000), (kind, total)


def test_limits_checked_before_reading(tmp_path: Path) -> None:
    """Overlapping members, colliding names and stored members with two sizes are refused from the
    central directory alone."""
    from xai_cli.errors import InputError
    from xai_cli.models.scanning.zip_limits import check_zip_file

    path = tmp_path / "twice.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("m/data.pkl", b"x")
        archive.writestr("m/DATA.pkl", b"y")
    with pytest.raises(InputError, match="same name"):
        check_zip_file(path)
