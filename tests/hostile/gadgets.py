"""Gadget files: pickles and skops files built from names the old allow-list admitted, and bombs.

Each ``Gadget`` is written by ``write(folder, marker)`` and says how ``xai explain`` must refuse it
(exit 4 and a line naming one of ``refused``, or exit 3 for bombs naming the limit). Payloads stay
harmless: where one can run at all, it creates ``marker`` (``runs`` says how to see it run without the
checks: ``load`` = plain ``pickle.load``/``joblib.load``, ``predict`` = loading plainly and predicting).
"""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.random import _pickle as numpy_random_pickle

from tests.hostile.payloads import Call, working_estimator

RANDOMSTATE_CTOR = vars(numpy_random_pickle)["__randomstate_ctor"]
GENERATOR_CTOR = vars(numpy_random_pickle)["__generator_ctor"]
BIT_GENERATOR_CTOR = vars(numpy_random_pickle)["__bit_generator_ctor"]


@dataclass(frozen=True)
class Gadget:
    """One hostile file: its name, how it is made, and what a refusal names."""

    name: str
    make: Callable[[Path, Path], bytes]  # (folder, marker) -> file bytes
    refused: tuple[str, ...]
    exit_code: int = 4
    runs: str | None = None  # 'load' or 'predict': the payload runs without the checks
    suffix: str = ".pkl"


class Reduces:
    """Pickles as the ``__reduce__`` value it is given."""

    def __init__(self, *value: object) -> None:
        self.value = value

    def __reduce__(self) -> tuple[object, ...]:
        return self.value


def _with_state(obj: object, **state: object) -> object:
    """``obj`` whose pickled state gains ``state`` (set by BUILD, as a hostile file would)."""
    import copyreg

    original = obj.__getstate__()
    return Reduces(copyreg._reconstructor, (type(obj), object, None), {**original, **state})


def _shell(marker: Path) -> str:
    return f"touch {marker}"


def _python(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def _dumps(obj: object) -> bytes:
    return pickle.dumps(obj, protocol=4)


def random_ctor_eval(folder: Path, marker: Path) -> bytes:
    """numpy's RandomState constructor calls its second argument with its first: eval(code)."""
    return _dumps(Call(RANDOMSTATE_CTOR, _python(marker), eval))


def generator_ctor_allowed_class(folder: Path, marker: Path) -> bytes:
    """The same call with only allowed names: the constructor calls RandomState('MT19937')."""
    return _dumps(Call(GENERATOR_CTOR, "MT19937", np.random.RandomState))


def bit_generator_ctor_estimator(folder: Path, marker: Path) -> bytes:
    """__bit_generator_ctor(cls) calls cls(): an estimator class where a bit generator belongs."""
    from sklearn.linear_model import LogisticRegression

    return _dumps(Call(BIT_GENERATOR_CTOR, LogisticRegression))


def random_ctor_in_estimator(folder: Path, marker: Path) -> bytes:
    """The eval gadget inside a working estimator's random_state."""
    estimator = working_estimator()
    estimator.random_state = Call(RANDOMSTATE_CTOR, _python(marker), eval)
    return _dumps(estimator)


def partial_os_system(folder: Path, marker: Path) -> bytes:
    """A Pipeline step FunctionTransformer(partial(os.system, cmd)): runs at predict time."""
    return _dumps(_pipeline_with_func(functools.partial(os.system, _shell(marker))))


def _pipeline_with_func(func: object) -> Any:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipeline = Pipeline([("evil", FunctionTransformer(np.log1p)), ("model", working_estimator())])
    pipeline.steps[0][1].func = func
    return pipeline


def partial_allowed_side_effect(folder: Path, marker: Path) -> bytes:
    """partial around an allowed helper that calls its argument (numpy's RandomState constructor)."""
    return _dumps(_pipeline_with_func(functools.partial(RANDOMSTATE_CTOR, "MT19937")))


def partial_check_array_with_attributes(folder: Path, marker: Path) -> bytes:
    """The one allowed partial, carrying an attribute of its own."""
    from sklearn.utils.validation import check_array

    evil = functools.partial(check_array)
    evil.evil = _python(marker)
    return _dumps(_pipeline_with_func(evil))


def scorer_gadget(folder: Path, marker: Path) -> bytes:
    """A scorer as a transformer's func: it calls the data's method named by the file (to_csv)."""
    from sklearn.metrics import make_scorer
    from sklearn.metrics._classification import accuracy_score

    scorer = make_scorer(accuracy_score)
    scorer._response_method = "to_csv"
    return _dumps(_pipeline_with_func(scorer))


def scorer_as_root(folder: Path, marker: Path) -> bytes:
    """A scorer instead of a model."""
    from sklearn.metrics import get_scorer

    return _dumps(get_scorer("accuracy"))


def bunch_gadget(folder: Path, marker: Path) -> bytes:
    """sklearn's Bunch (a dict with attribute access) posing as a model with a predict entry."""
    from sklearn.utils import Bunch

    return _dumps(Bunch(predict=np.log1p, classes_=np.array([0, 1])))


def dataframe_as_estimator(folder: Path, marker: Path) -> bytes:
    """A DataFrame with estimator attributes and a string for DataFrame.eval, inside a Pipeline."""
    frame = pd.DataFrame({"a": [1.0]})
    posing = _with_state(frame, classes_=np.array([0, 1]), n_features_in_=4, expr="@__import__")
    return _dumps(_pipeline_with_func(posing))


def dataframe_root(folder: Path, marker: Path) -> bytes:
    """A plain DataFrame as the model file."""
    return _dumps(pd.DataFrame({"a": [1.0, 2.0]}))


def state_shadows_predict(folder: Path, marker: Path) -> bytes:
    """A real tree whose state sets 'predict_proba': the instance attribute wins over the method."""
    return _dumps(_with_state(working_estimator(), predict_proba=np.log1p))


def state_sets_class(folder: Path, marker: Path) -> bytes:
    """A real tree whose state sets '__class__'."""
    from sklearn.pipeline import Pipeline

    return _dumps(_with_state(working_estimator(), __class__=Pipeline))


def state_non_identifier_key(folder: Path, marker: Path) -> bytes:
    """A state key that is no attribute name."""
    return _dumps(_with_state(working_estimator(), **{"not a name": 1}))


def getattr_method(folder: Path, marker: Path) -> bytes:
    """getattr(estimator, 'fit') stored as a transformer's func (HGB's _raw_predict is the only one
    real models store)."""
    return _dumps(_pipeline_with_func(Call(getattr, working_estimator(), "fit")))


def dtype_odd_args(folder: Path, marker: Path) -> bytes:
    """numpy.dtype with a structure for its type code (numpy walks any nested structure)."""
    return _dumps(Call(np.dtype, [("a", "f8"), ("b", [("c", "i4")])], False, True))


def reference_function_called(folder: Path, marker: Path) -> bytes:
    """A metric function (allowed as a scorer's value) called inside the stream."""
    from sklearn.metrics._classification import accuracy_score

    return _dumps(Call(accuracy_score, [0, 1], [0, 1]))


def root_is_generator(folder: Path, marker: Path) -> bytes:
    """A numpy Generator as the model file."""
    return _dumps(np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# Bombs
# ---------------------------------------------------------------------------------------------


def memo_shared_lists(depth: int) -> bytes:
    """Opcodes pushing ``depth`` levels of lists of two references to the level below: 2**depth paths
    in depth*9 bytes (no PROTO, no STOP)."""
    return b"]q\x000" + b"(h\x00h\x00lq\x000" * depth + b"h\x00"


def memo_bomb_in_dtype_state(folder: Path, marker: Path) -> bytes:
    """The shared lists as the state of a dtype: the scan's literal check walked them exponentially."""
    head = b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R"
    return head + memo_shared_lists(60) + b"\x85b."


def memo_bomb_in_dtype_args(folder: Path, marker: Path) -> bytes:
    """The shared lists as numpy.dtype's type code: numpy walked them at load."""
    head = b"\x80\x02cnumpy\ndtype\n"
    return head + memo_shared_lists(60) + b"\x85R."


def deep_nesting(folder: Path, marker: Path) -> bytes:
    """100,000 nested marks in 100 KB."""
    return b"\x80\x02" + b"(" * 100_000 + b"N."


def long_opcodes(count: int) -> bytes:
    """``count`` NONE/POP pairs: work without end in a file that compresses to almost nothing."""
    return b"\x80\x02" + b"N0" * (count // 2) + b"N."


def many_memo_entries(count: int) -> bytes:
    """``count`` memo entries of one shared list."""
    return b"\x80\x04]" + b"\x94" * count + b"."


def tall_stack(count: int) -> bytes:
    """``count`` items pushed before anything pops them."""
    return b"\x80\x02" + b"N" * count + b"."


GADGETS: list[Gadget] = [
    Gadget(
        "random-ctor-eval",
        random_ctor_eval,
        ("builtins.eval", "numpy.random._pickle.__randomstate_ctor"),
        runs="load",
    ),
    Gadget(
        "generator-ctor-allowed-class",
        generator_ctor_allowed_class,
        ("numpy.random._pickle.__generator_ctor",),
    ),
    Gadget(
        "bit-generator-ctor-estimator",
        bit_generator_ctor_estimator,
        ("numpy.random._pickle.__bit_generator_ctor",),
    ),
    Gadget(
        "random-ctor-in-estimator",
        random_ctor_in_estimator,
        ("builtins.eval", "numpy.random._pickle.__randomstate_ctor"),
        runs="load",
    ),
    Gadget("partial-os-system", partial_os_system, ("posix.system", "nt.system", "functools.partial")),
    Gadget("partial-allowed-side-effect", partial_allowed_side_effect, ("functools.partial",)),
    Gadget("partial-with-attributes", partial_check_array_with_attributes, ("functools.partial",)),
    Gadget("scorer-as-func", scorer_gadget, ("sklearn.metrics._scorer._Scorer",)),
    Gadget("scorer-as-root", scorer_as_root, ("sklearn.metrics._scorer._Scorer",)),
    Gadget("bunch", bunch_gadget, ("sklearn.utils._bunch.Bunch",)),
    Gadget(
        "dataframe-as-estimator", dataframe_as_estimator, ("pandas.core.frame.DataFrame", "pandas.DataFrame")
    ),
    Gadget("dataframe-root", dataframe_root, ("pandas.core.frame.DataFrame", "pandas.DataFrame")),
    Gadget("state-shadows-predict", state_shadows_predict, ("sklearn.tree._classes.DecisionTreeClassifier",)),
    Gadget("state-sets-class", state_sets_class, ("sklearn.tree._classes.DecisionTreeClassifier",)),
    Gadget(
        "state-non-identifier-key",
        state_non_identifier_key,
        ("sklearn.tree._classes.DecisionTreeClassifier",),
    ),
    Gadget("getattr-method", getattr_method, ("builtins.getattr",)),
    Gadget("dtype-odd-args", dtype_odd_args, ("numpy.dtype",)),
    Gadget(
        "reference-function-called",
        reference_function_called,
        ("sklearn.metrics._classification.accuracy_score",),
    ),
    Gadget(
        "root-is-generator",
        root_is_generator,
        ("numpy.random._pickle.__generator_ctor", "numpy.random._generator.Generator"),
    ),
]

BOMBS: list[Gadget] = [
    Gadget("memo-bomb-dtype-state", memo_bomb_in_dtype_state, ("dtype",), exit_code=3),
    Gadget("deep-nesting", deep_nesting, ("nested marks",), exit_code=3),
]
# numpy.dtype with the bomb as its type code is refused as a call (exit 4) before numpy sees it.
BOMBS_REFUSED = [Gadget("memo-bomb-dtype-args", memo_bomb_in_dtype_args, ("numpy.dtype",))]


def write(gadget: Gadget, folder: Path, marker: Path) -> Path:
    """Write ``gadget`` into ``folder``; its payload would create ``marker``."""
    path = folder / f"{gadget.name}{gadget.suffix}"
    path.write_bytes(gadget.make(folder, marker))
    return path


# ---------------------------------------------------------------------------------------------
# skops: a real tree whose schema gains one hostile node (as tests/hostile/make_corpus.py does)
# ---------------------------------------------------------------------------------------------


def _function_node(module: str, name: str) -> dict[str, object]:
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "FunctionNode",
        "content": {"module_path": module, "function": name},
    }


def _json_node(value: str) -> dict[str, object]:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": f'"{value}"',
        "is_json": True,
    }


def skops_with(attribute: str, node: dict[str, object], root: dict[str, object] | None = None) -> bytes:
    """A real tree's .skops file whose attribute ``attribute`` is ``node`` (or whose top is ``root``)."""
    import io
    import json
    import zipfile

    import skops.io as sio

    estimator = working_estimator()
    setattr(estimator, attribute, "placeholder")  # so that the schema's key types cover it
    with zipfile.ZipFile(io.BytesIO(sio.dumps(estimator))) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    schema = json.loads(members["schema.json"])
    schema["content"]["content"][attribute] = node
    if root is not None:
        schema = {**root, "protocol": schema["protocol"], "_skops_version": schema["_skops_version"]}
    members["schema.json"] = json.dumps(schema).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for member, data in sorted(members.items()):
            target.writestr(zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def skops_random_ctor_eval(folder: Path, marker: Path) -> bytes:
    """The random-state constructor gadget as a skops reduce node: __randomstate_ctor(code, eval)."""
    args = {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": [_json_node(_python(marker).replace('"', '\\"')), _function_node("builtins", "eval")],
    }
    node = {
        "__class__": "__randomstate_ctor",
        "__module__": "numpy.random._pickle",
        "__loader__": "ConstructorFromReduceNode",
        "content": args,
    }
    return skops_with("evil", node)


def skops_dataframe(folder: Path, marker: Path) -> bytes:
    """A DataFrame object node inside a tree."""
    return skops_with(
        "evil", {"__class__": "DataFrame", "__module__": "pandas.core.frame", "__loader__": "ObjectNode"}
    )


def skops_scorer(folder: Path, marker: Path) -> bytes:
    """A scorer in an attribute that is not a search's scorer_."""
    return skops_with(
        "evil", {"__class__": "_Scorer", "__module__": "sklearn.metrics._scorer", "__loader__": "ObjectNode"}
    )


def skops_bunch_root(folder: Path, marker: Path) -> bytes:
    """A Bunch as the file's top object."""
    root = {"__class__": "Bunch", "__module__": "sklearn.utils._bunch", "__loader__": "ObjectNode"}
    return skops_with("unused", _json_node("x"), root)


def skops_shadows_predict(folder: Path, marker: Path) -> bytes:
    """A tree whose attributes set predict_proba to a ufunc."""
    return skops_with("predict_proba", _function_node("numpy", "log1p"))


def skops_partial(folder: Path, marker: Path) -> bytes:
    """A partial around os.system."""
    empty = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": []}
    node = {
        "__class__": "partial",
        "__module__": "functools",
        "__loader__": "PartialNode",
        "content": {
            "func": _function_node("posix", "system"),
            "args": empty,
            "kwds": empty,
            "namespace": empty,
        },
    }
    return skops_with("evil", node)


SKOPS_GADGETS: list[Gadget] = [
    Gadget(
        "skops-random-ctor-eval",
        skops_random_ctor_eval,
        ("numpy.random._pickle.__randomstate_ctor", "builtins.eval"),
        runs="load",
        suffix=".skops",
    ),
    Gadget("skops-dataframe", skops_dataframe, ("pandas.core.frame.DataFrame",), suffix=".skops"),
    Gadget("skops-scorer", skops_scorer, ("sklearn.metrics._scorer._Scorer",), suffix=".skops"),
    Gadget("skops-bunch-root", skops_bunch_root, ("sklearn.utils._bunch.Bunch",), suffix=".skops"),
    Gadget(
        "skops-shadows-predict",
        skops_shadows_predict,
        ("sklearn.tree._classes.DecisionTreeClassifier",),
        suffix=".skops",
    ),
    Gadget("skops-partial", skops_partial, ("functools.partial", "posix.system"), suffix=".skops"),
]
