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
    for path in sorted([*MODELS.iterdir(), *DATA.iterdir()]):
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
