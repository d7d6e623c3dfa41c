"""The hostile model corpus: model files that try to run code when loaded.

    python -m tests.hostile.make_corpus OUT_DIR     # writes the files and OUT_DIR/manifest.json

Each payload is harmless: loaded without the allow-list, it creates the marker file
``$XAI_HOSTILE_MARKER`` (or ``xai-hostile-marker`` in the working directory) and nothing else.

The corpus is generated into a temporary folder at test time, not committed: its pickles embed
the absolute path of their second-stage file and the bytecode of the running Python (Keras
lambdas), estimators pickle differently across scikit-learn versions, and a repository that
ships files that run code when opened trips every scanner that looks at it. Generation is
deterministic for a given folder and library versions (skops files excepted: skops writes
object ids into its schema) and takes about a second.

Adding a format (e.g. once more loaders exist): write a ``_FORMAT_files`` builder that returns
``CorpusFile`` entries and add it to ``BUILDERS``; the tests pick it up.
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import os
import pickle
import sys
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.hostile.payloads import (
    DEFAULT_MARKER_NAME,
    FORMATS,
    MARKER_VARIABLE,
    PAYLOAD_KINDS,
    Call,
    Marker,
    global_call,
    make_payload,
    qualified_name,
    save,
    working_estimator,
)

MODULE_NAME = "xai_hostile_module"
SUPPORT = "support"
# Kinds also written with every joblib compressor (zlib is joblib-3 in FORMATS).
COMPRESSED_KINDS = ("os.system", "estimator-attribute", "object-array-in-estimator", "pandas.read_pickle")
COMPRESSORS = ("gzip", "bz2", "xz", "lzma")


@dataclass(frozen=True)
class CorpusFile:
    """One hostile file and what a refusal of it must name."""

    name: str  # file name in the corpus folder
    payload: str  # what it tries
    container: str  # pickle-p0..p5, joblib-0, joblib-3, joblib-gzip, ..., skops, torch, keras, keras-h5
    refused: tuple[str, ...]  # the refusal names one of these
    # Which loader family reads it: 'sklearn' (pickle, joblib, skops) loads now; 'torch' and 'keras'
    # files are refused by 'xai scan' now and by 'xai explain' once their loaders exist.
    loader: str = "sklearn"
    # Loading it with no checks (--trust-model) runs the payload.
    runs_when_trusted: bool = True


def marker_module_source() -> str:
    """A module that creates the marker when imported (for the import payloads)."""
    return (
        "import os\n\n"
        f"open(os.environ.get({MARKER_VARIABLE!r}, {DEFAULT_MARKER_NAME!r}), 'w').close()\n\n\n"
        "class Thing:\n    pass\n"
    )


def _pickle_files(out: Path, support: Path, marker: Marker) -> list[CorpusFile]:
    files: list[CorpusFile] = []
    for kind in PAYLOAD_KINDS:
        containers: list[str | tuple[str, int]] = list(FORMATS)
        if kind in COMPRESSED_KINDS:
            containers += [(compressor, 3) for compressor in COMPRESSORS]
        for container in containers:
            tag = f"joblib-{container[0]}" if isinstance(container, tuple) else container
            name = f"{kind}.{tag}.{'joblib' if tag.startswith('joblib') else 'pkl'}"
            payload = make_payload(kind, marker, MODULE_NAME, support)
            save(payload.obj, out / name, container)
            files.append(CorpusFile(name, kind, tag, tuple(sorted(payload.refused))))
    return files


def _handwritten_files(out: Path, marker: Marker) -> list[CorpusFile]:
    """Pickles no pickler writes: names only a hand-made stream asks for."""
    files: list[CorpusFile] = []
    runner = "sklearn.utils._testing.assert_run_python_script_without_output"
    for proto in range(6):
        name = f"sklearn-testing-script.p{proto}.pkl"
        module, _, function = runner.rpartition(".")
        (out / name).write_bytes(global_call(module, function, (marker.python,), proto))
        files.append(CorpusFile(name, "sklearn-testing-script", f"pickle-p{proto}", (runner,)))
    for proto in range(3):
        name = f"python2-eval.p{proto}.pkl"
        (out / name).write_bytes(global_call("__builtin__", "eval", (marker.python,), proto))
        files.append(CorpusFile(name, "python2-eval", f"pickle-p{proto}", ("builtins.eval",)))
        name = f"python2-commands.p{proto}.pkl"
        (out / name).write_bytes(global_call("commands", "getoutput", (marker.shell,), proto))
        files.append(CorpusFile(name, "python2-commands", f"pickle-p{proto}", ("subprocess.getoutput",)))
    # STACK_GLOBAL whose module name is computed (str('os')) rather than written out.
    computed = pickle.GLOBAL + b"builtins\nstr\n" + _short_unicode("os") + pickle.TUPLE1 + pickle.REDUCE
    ops = computed + _short_unicode("system") + pickle.STACK_GLOBAL
    ops += _short_unicode(marker.shell) + pickle.TUPLE1 + pickle.REDUCE
    (out / "computed-module-name.p4.pkl").write_bytes(b"\x80\x04" + ops + pickle.STOP)
    files.append(
        CorpusFile(
            "computed-module-name.p4.pkl", "computed-module-name", "pickle-p4", ("os.system", "?.system")
        )
    )
    return files


def _short_unicode(text: str) -> bytes:
    data = text.encode("utf-8")
    return pickle.SHORT_BINUNICODE + bytes([len(data)]) + data


def _skops_files(out: Path, marker: Marker) -> list[CorpusFile]:
    """A real tree whose skops schema gains one hostile node; loading it trusted runs the node."""
    import skops.io as sio

    def write(name: str, node: dict[str, object]) -> None:
        estimator = working_estimator()
        estimator.evil = (marker.shell,)
        with zipfile.ZipFile(io.BytesIO(sio.dumps(estimator))) as source:
            members = {info.filename: source.read(info) for info in source.infolist()}
        schema = json.loads(members["schema.json"])
        node_state = dict(node)
        if node_state.get("content") == "ARGS":
            node_state["content"] = schema["content"]["content"]["evil"]
        schema["content"]["content"]["evil"] = node_state
        members["schema.json"] = json.dumps(schema).encode()
        with zipfile.ZipFile(out / name, "w", zipfile.ZIP_DEFLATED) as target:
            for member, data in sorted(members.items()):
                target.writestr(zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0)), data)

    system = os.system.__module__
    write(
        "skops-reduce-system.skops",
        {
            "__class__": "system",
            "__module__": system,
            "__loader__": "ConstructorFromReduceNode",
            "content": "ARGS",
        },
    )
    write(
        "skops-unknown-type.skops",
        {"__class__": "Thing", "__module__": MODULE_NAME, "__loader__": "ObjectNode"},
    )
    return [
        CorpusFile("skops-reduce-system.skops", "skops-reduce-system", "skops", (f"{system}.system",)),
        CorpusFile("skops-unknown-type.skops", "skops-unknown-type", "skops", (f"{MODULE_NAME}.Thing",)),
    ]


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for member, data in members.items():
            archive.writestr(zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0)), data)


def _torch_files(out: Path, support: Path, marker: Marker) -> list[CorpusFile]:
    """torch.save archives (written without torch) whose data.pkl carries a payload."""
    files: list[CorpusFile] = []
    for kind in ("os.system", "builtins.exec", "in-containers"):
        payload = make_payload(kind, marker, MODULE_NAME, support)
        name = f"torch-{kind}.pt"
        _zip(
            out / name,
            {
                "archive/data.pkl": pickle.dumps({"weight": payload.obj}, protocol=2),
                "archive/byteorder": b"little",
                "archive/version": b"3\n",
            },
        )
        files.append(CorpusFile(name, f"torch-{kind}", "torch", tuple(sorted(payload.refused)), "torch"))
    return files


def _lambda_code(marker: Marker) -> str:
    """A Keras lambda's serialised bytecode: it creates the marker, then passes its input on."""
    function = eval(f"lambda x: ({marker.python}, x)[1]")
    return base64.b64encode(marshal.dumps(function.__code__)).decode("ascii") + "\n"


def _keras_layer(module: str | None, class_name: str, config: dict[str, object]) -> dict[str, object]:
    layer: dict[str, object] = {"class_name": class_name, "config": config}
    if module is not None:
        layer = {"module": module, **layer, "registered_name": None}
    return layer


def _keras_files(out: Path, marker: Marker) -> list[CorpusFile]:
    """Keras 3 archives written without Keras: a Lambda layer with bytecode, a class from outside Keras."""
    input_layer = _keras_layer(
        "keras.layers", "InputLayer", {"batch_shape": [None, 4], "dtype": "float32", "name": "input_layer"}
    )
    lambda_layer = _keras_layer(
        "keras.layers",
        "Lambda",
        {
            "name": "evil",
            "trainable": True,
            "dtype": "float32",
            "function": {
                "class_name": "__lambda__",
                "config": {"code": _lambda_code(marker), "defaults": None, "closure": None},
            },
            "arguments": {},
        },
    )
    lambda_layer["build_config"] = {"input_shape": [None, 4]}
    custom_layer = _keras_layer(MODULE_NAME, "Thing", {"name": "custom"})
    metadata = json.dumps({"keras_version": "3.15.1", "date_saved": "2020-01-01@00:00:00"}).encode()
    files: list[CorpusFile] = []
    for name, layer, refused, runs in (
        ("keras-lambda.keras", lambda_layer, "a Python lambda in layer 'evil'", True),
        ("keras-custom-module.keras", custom_layer, f"{MODULE_NAME}.Thing", False),
    ):
        config = _keras_layer("keras", "Sequential", {"name": "sequential", "layers": [input_layer, layer]})
        _zip(
            out / name,
            {
                "metadata.json": metadata,
                "config.json": json.dumps(config).encode(),
                "model.weights.h5": _empty_weights(),
            },
        )
        files.append(CorpusFile(name, name.removesuffix(".keras"), "keras", (refused,), "keras", runs))
    return files


def _empty_weights() -> bytes:
    """An HDF5 file with no weights when h5py is here (what Keras reads), else an empty member."""
    try:
        import h5py
    except ImportError:
        return b""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", track_order=True) as handle:
        handle.create_group("layers")
        handle.create_group("vars")
    return buffer.getvalue()


def _keras_h5_files(out: Path, marker: Marker) -> list[CorpusFile]:
    """A Keras 2 HDF5 model whose Lambda layer holds bytecode in the legacy [code, defaults, closure] form."""
    import h5py

    input_layer = {
        "class_name": "InputLayer",
        "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "input_1"},
    }
    lambda_config = {
        "name": "evil",
        "function": [_lambda_code(marker), None, None],
        "function_type": "lambda",
        "arguments": {},
    }
    layers = [input_layer, {"class_name": "Lambda", "config": lambda_config}]
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
    path = out / "keras-lambda-legacy.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)
        handle.attrs["keras_version"] = "2.15.0"
        handle.attrs["backend"] = "tensorflow"
        handle.create_group("model_weights")
    refused = ("a Python lambda in layer 'evil'",)
    return [CorpusFile(path.name, "keras-lambda-legacy", "keras-h5", refused, "keras")]


def _optional(needs: str, build: Callable[[], list[CorpusFile]]) -> list[CorpusFile]:
    """Files whose writing needs a package (skops, h5py); none when it is not installed."""
    try:
        __import__(needs)
    except ImportError:
        return []
    return build()


def build_corpus(out: Path) -> list[CorpusFile]:
    """Write every hostile file (and the support files their payloads use) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    support = out / SUPPORT
    support.mkdir(exist_ok=True)
    (support / f"{MODULE_NAME}.py").write_text(marker_module_source())
    marker = Marker.from_environment()
    files = _pickle_files(out, support, marker) + _handwritten_files(out, marker)
    files += _optional("skops", lambda: _skops_files(out, marker))
    files += _torch_files(out, support, marker)
    files += _keras_files(out, marker)
    files += _optional("h5py", lambda: _keras_h5_files(out, marker))
    manifest = {"marker_variable": MARKER_VARIABLE, "support": SUPPORT, "files": [asdict(f) for f in files]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return files


def main(argv: list[str]) -> int:
    """Command line: ``python -m tests.hostile.make_corpus OUT_DIR``."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m tests.hostile.make_corpus OUT_DIR\n")
        return 2
    files = build_corpus(Path(argv[0]))
    sys.stdout.write(f"wrote {len(files)} hostile model files to {argv[0]}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["Call", "CorpusFile", "build_corpus", "qualified_name"]
