"""Train and save the bundled sample models and their data, deterministically.

Run from the repository root: ``python scripts/make_samples.py``. Every model is trained with a fixed
seed on data shipped with scikit-learn (iris, breast cancer, wine) or generated here (credit), so the
files are rebuilt byte for byte on the same library versions. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "sample_models"
DATA = ROOT / "sample_data"
SEED = 0


def _snake(name: str) -> str:
    return name.strip().replace(" (cm)", "").replace(" ", "_")


def make_iris() -> None:
    """An iris decision tree (depth 3) with string class labels; iris.csv keeps the label column."""
    bunch = load_iris(as_frame=True)
    features = bunch.data.rename(columns=_snake)
    species = pd.Series(np.asarray(bunch.target_names)[bunch.target], name="species")
    model = DecisionTreeClassifier(max_depth=3, random_state=SEED).fit(features, species)
    joblib.dump(model, MODELS / "iris_tree.joblib", compress=3)
    pd.concat([features, species], axis=1).to_csv(DATA / "iris.csv", index=False)


def make_breast_cancer() -> None:
    """A breast-cancer random forest over its 30 numeric features."""
    bunch = load_breast_cancer(as_frame=True)
    features = bunch.data.rename(columns=lambda c: c.replace(" ", "_"))
    diagnosis = pd.Series(np.asarray(bunch.target_names)[bunch.target], name="diagnosis")
    model = RandomForestClassifier(n_estimators=50, max_depth=6, random_state=SEED, n_jobs=1)
    model.fit(features, diagnosis)
    joblib.dump(model, MODELS / "breast_cancer_forest.joblib", compress=3)
    pd.concat([features, diagnosis], axis=1).to_csv(
        DATA / "breast_cancer.csv", index=False, float_format="%.6g"
    )


def make_wine() -> None:
    """A three-class logistic regression (scaled inputs) over the 13 wine measurements."""
    bunch = load_wine(as_frame=True)
    features = bunch.data.rename(columns=lambda c: c.replace("/", "_").replace(" ", "_"))
    cultivar = pd.Series(
        np.asarray(["cultivar_a", "cultivar_b", "cultivar_c"])[bunch.target], name="cultivar"
    )
    model = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(max_iter=1000))])
    model.fit(features, cultivar)
    joblib.dump(model, MODELS / "wine_logreg.joblib", compress=3)
    pd.concat([features, cultivar], axis=1).to_csv(DATA / "wine.csv", index=False, float_format="%.6g")


def credit_frame(n_rows: int, seed: int) -> pd.DataFrame:
    """Synthetic loan applications: numeric, integer and string-category columns, and a decision."""
    rng = np.random.default_rng(seed)
    age = rng.integers(19, 75, n_rows)
    employment = rng.choice(
        ["employed", "self-employed", "unemployed", "student"], n_rows, p=[0.6, 0.2, 0.1, 0.1]
    )
    income = np.round(rng.lognormal(10.6, 0.45, n_rows) * np.where(employment == "unemployed", 0.3, 1.0), -2)
    debt = np.round(income * rng.uniform(0.0, 0.9, n_rows), -2)
    history = np.minimum(age - 18, rng.integers(0, 30, n_rows))
    late = rng.poisson(0.8, n_rows)
    region = rng.choice(["north", "south", "east", "west"], n_rows)
    home = rng.choice(["rent", "own", "mortgage"], n_rows, p=[0.45, 0.2, 0.35])
    score = (
        1.8 * np.log(income / 30_000)
        - 3.0 * debt / np.maximum(income, 1)
        + 0.06 * history
        - 0.7 * late
        + np.where(home == "own", 0.6, 0.0)
        + np.where(employment == "student", -0.5, 0.0)
        + rng.normal(0, 0.6, n_rows)
    )
    decision = np.where(score > 0.0, "approved", "declined")
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "debt": debt,
            "credit_history_years": history,
            "num_late_payments": late,
            "employment": employment,
            "region": region,
            "home_ownership": home,
            "decision": decision,
        }
    )


CREDIT_NUMERIC = ["age", "income", "debt", "credit_history_years", "num_late_payments"]
CREDIT_CATEGORICAL = ["employment", "region", "home_ownership"]


def make_credit() -> None:
    """A credit-approval Pipeline: scaling and one-hot encoding, then gradient-boosted trees."""
    frame = credit_frame(600, SEED)
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), CREDIT_NUMERIC),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CREDIT_CATEGORICAL),
        ]
    )
    model = Pipeline(
        [
            ("preprocess", preprocess),
            ("boost", HistGradientBoostingClassifier(max_iter=60, random_state=SEED)),
        ]
    )
    model.fit(frame.drop(columns="decision"), frame["decision"])
    joblib.dump(model, MODELS / "credit_pipeline.joblib", compress=3)
    frame.to_csv(DATA / "credit.csv", index=False)


def main() -> None:
    """Rebuild every sample model and data file."""
    MODELS.mkdir(exist_ok=True)
    DATA.mkdir(exist_ok=True)
    make_iris()
    make_breast_cancer()
    make_wine()
    make_credit()
    main_deep()
    for path in sorted([*MODELS.iterdir(), *DATA.iterdir()]):
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size:,} bytes")


# ---- deep-learning samples (need the extras: pip install -e '.[all]') -------------------------------------
#
# Trained on one CPU thread with fixed seeds and deterministic algorithms, so the same torch/keras
# versions rebuild the same weights; the files are then written without timestamps or memory addresses.

DIGITS_SIZE = 32
DIGITS_IMAGES_PER_CLASS = 2


def _torch_deterministic() -> None:
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def _reproducible_keras_zip(path: Path) -> None:
    """Rewrite a .keras archive with fixed entry dates, no save date and numbered shared-object ids."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(entries["metadata.json"])
    metadata["date_saved"] = "1980-01-01@00:00:00"
    entries["metadata.json"] = json.dumps(metadata).encode()
    ids: dict[int, int] = {}

    def renumber(node: object) -> object:
        if isinstance(node, dict):
            return {
                key: ids.setdefault(value, len(ids) + 1) if key == "shared_object_id" else renumber(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [renumber(item) for item in node]
        return node

    entries["config.json"] = json.dumps(renumber(json.loads(entries["config.json"]))).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def _reproducible_torchscript(path: Path) -> None:
    """Rewrite a TorchScript archive without its random serialization id, dates and debug source paths.

    The id becomes 40 digits of the SHA-256 of the other entries; ``.debug_pkl`` entries (source
    locations for error messages, holding this machine's file paths) are optional and dropped.
    """
    import hashlib
    import zipfile

    with zipfile.ZipFile(path) as archive:
        entries = [
            (i.filename, archive.read(i)) for i in archive.infolist() if not i.filename.endswith(".debug_pkl")
        ]
    digest = hashlib.sha256(
        b"".join(n.encode() + d for n, d in entries if not n.endswith("serialization_id"))
    )
    serialization_id = str(int(digest.hexdigest(), 16))[:40].encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, serialization_id if name.endswith("serialization_id") else data)


def make_iris_mlp() -> None:
    """A Keras MLP on iris (normalisation inside the model), three softmax outputs; a tabular black box."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    _torch_deterministic()
    keras.utils.set_random_seed(SEED)
    bunch = load_iris()
    features = bunch.data.astype("float32")
    normalise = keras.layers.Normalization(name="standardise")
    normalise.adapt(features)
    model = keras.Sequential(
        [
            keras.Input((4,), name="measurements"),
            normalise,
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="species"),
        ],
        name="iris_mlp",
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(features, bunch.target, epochs=60, batch_size=16, verbose=0, shuffle=True)
    model.save(MODELS / "iris_mlp.keras")
    _reproducible_keras_zip(MODELS / "iris_mlp.keras")


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, upscaled (bilinear) to 32x32 grayscale in 0..1, and their labels."""
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.stack(
        [
            np.asarray(
                Image.fromarray((image / 16.0 * 255).astype(np.uint8)).resize(
                    (DIGITS_SIZE, DIGITS_SIZE), Image.Resampling.BILINEAR
                ),
                dtype=np.float32,
            )
            / 255.0
            for image in bunch.images
        ]
    )
    return images[:, None], bunch.target.astype(np.int64)


def _train(network: object, images: np.ndarray, labels: np.ndarray, epochs: int, rate: float) -> float:
    """Adam on cross-entropy in mini-batches of 64, fixed order per epoch; returns training accuracy."""
    import torch

    assert isinstance(network, torch.nn.Module)
    inputs, targets = torch.from_numpy(images), torch.from_numpy(labels)
    optimiser = torch.optim.Adam(network.parameters(), lr=rate)
    generator = torch.Generator().manual_seed(SEED)
    network.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), 64):
            chosen = order[start : start + 64]
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(network(inputs[chosen]), targets[chosen])
            loss.backward()
            optimiser.step()
    network.eval()
    with torch.no_grad():
        return float((network(inputs).argmax(1) == targets).float().mean())


def make_digits_models() -> None:
    """A CNN on the digits (TorchScript and ONNX), a tiny vision transformer (TorchScript), sample PNGs."""
    import torch
    from deep_samples import DigitsCNN, DigitsViT
    from PIL import Image

    images, labels = digits_images()
    held_out = np.arange(len(images)) % 10 == 9
    _torch_deterministic()
    cnn = DigitsCNN()
    accuracy = _train(cnn, images[~held_out], labels[~held_out], epochs=12, rate=0.01)
    print(f"digits CNN: training accuracy {accuracy:.3f}")
    torch.jit.script(cnn).save(str(MODELS / "digits_cnn.pt"))
    _reproducible_torchscript(MODELS / "digits_cnn.pt")
    _export_onnx(cnn, MODELS / "digits_cnn.onnx", [str(i) for i in range(10)])
    _torch_deterministic()
    vit = DigitsViT()
    accuracy = _train(vit, images[~held_out], labels[~held_out], epochs=30, rate=0.003)
    print(f"digits ViT: training accuracy {accuracy:.3f}")
    torch.jit.script(vit).save(str(MODELS / "digits_vit.pt"))
    _reproducible_torchscript(MODELS / "digits_vit.pt")
    folder = DATA / "digits"
    folder.mkdir(exist_ok=True)
    test_rows = np.flatnonzero(held_out)
    for digit in range(10):
        for k, row in enumerate(test_rows[labels[test_rows] == digit][:DIGITS_IMAGES_PER_CLASS]):
            pixels = (images[row, 0] * 255).round().astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / f"digit_{digit}_{k}.png", optimize=False)


def _export_onnx(network: object, path: Path, classes: list[str]) -> None:
    """The legacy (TorchScript-based) ONNX exporter, with a dynamic batch axis and the class names."""
    import json
    import warnings

    import onnx
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network,
            (torch.zeros(1, 1, DIGITS_SIZE, DIGITS_SIZE),),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
        )
    model = onnx.load(str(path))
    model.metadata_props.add(key="classes", value=json.dumps(classes))
    onnx.save(model, str(path))


def main_deep() -> None:
    """Rebuild the deep-learning samples (skipped with a note when torch/keras/onnx are missing)."""
    import importlib.util

    missing = [p for p in ("torch", "keras", "onnx") if importlib.util.find_spec(p) is None]
    if missing:
        print(f"skipping the deep-learning samples: install {', '.join(missing)} (pip install -e '.[all]')")
        return
    make_iris_mlp()
    make_digits_models()


def _with_fixed_hash_seed() -> None:
    """Re-run this script with PYTHONHASHSEED=0: TorchScript writes attributes in set order."""
    import os
    import sys

    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})


if __name__ == "__main__":
    _with_fixed_hash_seed()
    main()
