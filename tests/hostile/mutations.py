"""Byte mutations of real model files, for fuzzing the loaders and the scanners.

``seed_files(folder)`` writes real model files of every format the loaders read (and the zip
formats the scanners read); ``mutate(data, rng)`` returns a damaged copy. The same code drives the
short fuzz test in the suite and the long run of scripts/fuzz_loaders.py.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import zipfile
from pathlib import Path

import joblib

from tests.hostile.payloads import ROOT, working_estimator

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, ord("."), ord("("), ord("c"), ord("\n"), 0x8C, 0x94)


def seed_files(folder: Path) -> list[Path]:
    """Real model files: the samples, pickles of a tree in several protocols, an uncompressed joblib,
    a .skops file (when skops is installed), and torch/Keras-style archives."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = sorted((ROOT / "sample_models").glob("*.joblib"))
    tree = working_estimator()
    for protocol in (0, 2, 4, 5):
        path = folder / f"tree.p{protocol}.pkl"
        path.write_bytes(pickle.dumps(tree, protocol=protocol))
        seeds.append(path)
    joblib.dump(tree, folder / "tree.joblib")
    seeds.append(folder / "tree.joblib")
    try:
        import skops.io as sio

        (folder / "tree.skops").write_bytes(sio.dumps(tree))
        seeds.append(folder / "tree.skops")
    except ImportError:
        pass
    seeds.append(
        _zip(folder / "weights.pt", {"archive/data.pkl": pickle.dumps({"w": [1.0, 2.0]}, protocol=2)})
    )
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"layers": [{"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}}]},
    }
    seeds.append(
        _zip(folder / "model.keras", {"config.json": json.dumps(config).encode(), "metadata.json": b"{}"})
    )
    return seeds


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    path.write_bytes(buffer.getvalue())
    return path


def mutate(data: bytes, rng: random.Random) -> bytes:
    """``data`` with 1 to 8 random mutations: flipped bits, replaced, inserted, deleted or repeated
    bytes, interesting values, a cut."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not out:
            out += bytes([rng.randrange(256)])
        position = rng.randrange(len(out))
        action = rng.randrange(7)
        if action == 0:
            out[position] ^= 1 << rng.randrange(8)
        elif action == 1:
            out[position] = rng.randrange(256)
        elif action == 2:
            out[position] = rng.choice(INTERESTING_BYTES)
        elif action == 3:
            out[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif action == 4:
            del out[position : position + rng.randint(1, 64)]
        elif action == 5:
            end = min(len(out), position + rng.randint(1, 64))
            out[position:position] = out[position:end]
        else:
            del out[rng.randint(1, len(out)) :]
    return bytes(out)
