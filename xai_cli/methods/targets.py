"""Which output each explained row is about: ``--target`` or the documented default."""

from __future__ import annotations

from typing import Any

import numpy as np

from xai_cli.errors import UsageError
from xai_cli.models.base import Model


def class_index(model: Model, target: str) -> int:
    """The index of a class given by name (matched as text) or by 0-based index."""
    assert model.classes is not None
    names = [str(c) for c in model.classes]
    if target in names:
        return names.index(target)
    if target.lstrip("-").isdigit() and 0 <= int(target) < len(names):
        return int(target)
    raise UsageError(f"--target {target!r} is not a class of this model; its classes are {', '.join(names)}")


def resolve_targets(model: Model, target: str | None, probabilities: np.ndarray) -> list[int]:
    """Per row, the output column to explain.

    Regressors: their value. Classifiers: ``--target`` when given, else the positive class (the second
    of ``classes``) of a binary model and each row's predicted class for a multi-class one.
    """
    n_rows = len(probabilities)
    if model.kind == "regressor":
        if target is not None:
            raise UsageError("--target applies to classifiers; this model is a regressor")
        return [0] * n_rows
    assert model.classes is not None
    if target is not None:
        return [class_index(model, target)] * n_rows
    if len(model.classes) == 2:
        return [1] * n_rows
    return [int(i) for i in np.argmax(probabilities, axis=1)]


def target_label(model: Model, index: int) -> Any:
    """The JSON label of an output column: the class, or 'value' for a regressor."""
    from xai_cli.models.base import to_json_scalar

    return "value" if model.kind == "regressor" else to_json_scalar(model.classes[index])  # type: ignore[index]
