"""Counterfactuals: the fewest, smallest changes to a row that move the model's prediction to a target.

A model-agnostic, sparse-first beam search, written here rather than taken from DiCE because it is
measurably better on what the issue asks for (benchmarks/bench_counterfactual.py): every candidate set is
scored in one vectorised ``predict`` call, so a row takes a fraction of a second, and sparsity comes first
by construction.

1. Level 1 tries every single-column change over realistic values: a grid of the data's quantiles
   (observed values), the observed neighbours of the row's value, and points of a ``--range`` that widens
   the observed one; categories seen in the data. Constraints filter the values up front.
2. Level k+1 extends the ``beam_width`` most promising invalid states of level k (one per set of changed
   columns) by one more column, with that column's three most promising values at level 1, until ``n``
   different sets of columns reach the target or the budget (``max_evals`` model evaluations per row)
   runs out.
3. Each valid candidate is pulled back toward the row: a change that is not needed is dropped, and
   numeric changes move to the closest observed value that still reaches the target (three rounds of up
   to 24 trial values per change, each round one vectorised call for all candidates).
4. The ``n`` reported are picked in the order valid, sparse, close, diverse (a new set of changed columns
   first, never an identical change twice), then re-predicted and re-checked against every constraint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xai_cli.methods.candidates import CandidateEvaluator, State
from xai_cli.methods.constraints import ColumnSpace, Constraints, violations
from xai_cli.methods.targets import class_index
from xai_cli.models.base import Model, to_json_scalar

ROWS_PER_BATCH = 32
_THREADPOOLS: dict[str, Any] = {}
SEARCH_SHARE = 0.8
REFINE_TRIALS = 24
REFINE_ROUNDS = 3
NEIGHBOURS = 2
EXTEND_VALUES = 3

# What a search asks the driver for: outputs for candidate states (batched with other rows' states), or
# for a table of raw rows (the final re-check through ``model.predict``).
Request = list[State] | pd.DataFrame
Search = Generator[Request, np.ndarray, "RowCounterfactuals"]


@dataclass(frozen=True)
class CounterfactualOptions:
    """Settings of a counterfactual search. ``target`` is a class (name or index) of a classifier;
    ``target_range`` the wanted (low, high) output of a regressor, either side None for no bound."""

    target: str | None = None
    target_range: tuple[float | None, float | None] | None = None
    n: int = 3
    max_evals: int = 20_000
    beam_width: int = 8
    seed: int = 0


@dataclass
class Counterfactual:
    """A changed row: all its values, the changes, and what the model predicts for it."""

    values: dict[str, Any]
    changes: dict[str, tuple[Any, Any]]
    prediction: Any
    probability: float | None
    n_changed: int
    distance: float
    valid: bool


@dataclass
class RowCounterfactuals:
    """The outcome for one data row. ``status``: found, not-found or already-target."""

    row: int
    status: str
    original: Counterfactual
    counterfactuals: list[Counterfactual]
    closest_attempt: Counterfactual | None
    evaluations: int

    @property
    def found(self) -> bool:
        """True when the row reaches the target (or already did)."""
        return self.status != "not-found"


@dataclass
class CounterfactualResult:
    """Counterfactuals for every requested row, with the target, units and constraints they obey."""

    target: dict[str, Any]
    rows: list[RowCounterfactuals]
    spaces: list[ColumnSpace]
    constraints: Constraints
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)


class Objective:
    """What counts as reaching the target, and a score of how close an output is to it (higher is closer)."""

    def __init__(self, model: Model, options: CounterfactualOptions) -> None:
        self.model = model
        self.kind = model.kind
        self.target_index: int | None = None
        self.low = self.high = None
        if model.kind == "classifier":
            if options.target is not None:
                self.target_index = class_index(model, options.target)
        else:
            assert options.target_range is not None
            low, high = options.target_range
            self.low = -np.inf if low is None else float(low)
            self.high = np.inf if high is None else float(high)

    def describe(self, original: np.ndarray | None = None) -> dict[str, Any]:
        """The ``target`` block of the report."""
        if self.kind == "regressor":
            return {"kind": "range", "low": _finite_or_none(self.low), "high": _finite_or_none(self.high)}
        assert self.model.classes is not None
        if self.target_index is not None:
            return {"kind": "class", "class": to_json_scalar(self.model.classes[self.target_index])}
        return {"kind": "other-class", "description": "any class other than the row's predicted class"}

    def judge(self, outputs: np.ndarray, original: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(valid, score) per output row, for a search that starts from the row with output ``original``."""
        if self.kind == "regressor":
            values = outputs[:, 0]
            valid = (values >= self.low) & (values <= self.high)
            return valid, -np.maximum(np.maximum(self.low - values, values - self.high), 0.0)
        predicted = np.argmax(outputs, axis=1)
        if self.target_index is not None:
            others = np.delete(outputs, self.target_index, axis=1)
            return predicted == self.target_index, outputs[:, self.target_index] - others.max(axis=1)
        current = int(np.argmax(original))
        others = np.delete(outputs, current, axis=1)
        return predicted != current, others.max(axis=1) - outputs[:, current]

    def label(self, output: np.ndarray) -> tuple[Any, float | None]:
        """(prediction, probability of that prediction) of one output row."""
        if self.kind == "regressor":
            return float(output[0]), None
        assert self.model.classes is not None
        index = int(np.argmax(output))
        return to_json_scalar(self.model.classes[index]), float(output[index])


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def find_counterfactuals(
    model: Model,
    frame: pd.DataFrame,
    rows: list[int],
    spaces: list[ColumnSpace],
    constraints: Constraints,
    options: CounterfactualOptions,
) -> CounterfactualResult:
    """Up to ``options.n`` valid, sparse, close and diverse counterfactuals for each of ``rows``.

    Rows are searched side by side, ``ROWS_PER_BATCH`` at a time: each step of every row's search goes
    to the model in one call with the same step of the others.
    """
    objective = Objective(model, options)
    evaluator = CandidateEvaluator(model, frame, spaces)
    results: list[RowCounterfactuals] = []
    notes: list[str] = []
    with _single_threaded():
        for start in range(0, len(rows), ROWS_PER_BATCH):
            batch = rows[start : start + ROWS_PER_BATCH]
            originals = frame.iloc[batch].reset_index(drop=True)
            encoded = evaluator.prepare(originals)
            searches = [
                RowSearch(originals.iloc[[k]], encoded[k], spaces, constraints, objective, options)
                for k in range(len(batch))
            ]
            results.extend(_drive(model, evaluator, searches, batch))
            for search in searches:
                notes.extend(search.notes)
    settings = {
        "algorithm": "sparse-beam-search",
        "n": options.n,
        "max_evals": options.max_evals,
        "beam_width": options.beam_width,
        "grid_values": int(max((len(s.grid) for s in spaces if not s.categorical), default=0)),
        "distance": "sum over changed columns of |change| / MAD (numeric) and 1 per changed category",
        "encoded_fast_path": evaluator.fast,
    }
    return CounterfactualResult(objective.describe(), results, spaces, constraints, settings, notes)


def _single_threaded() -> contextlib.AbstractContextManager[Any]:
    """Model calls on one OpenMP/BLAS thread: the search already batches thousands of candidates per call,
    and thread pools on such calls cost more than they save on a shared machine (5x slower measured on the
    credit sample with 2 busy cores). threadpoolctl comes with scikit-learn; its controller is made once
    (finding the loaded libraries takes about 5 ms)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext()
    if "controller" not in _THREADPOOLS:
        _THREADPOOLS["controller"] = ThreadpoolController()
    return _THREADPOOLS["controller"].limit(limits=1)


def _drive(
    model: Model, evaluator: CandidateEvaluator, searches: list[RowSearch], rows: list[int]
) -> list[RowCounterfactuals]:
    """Run the searches' steps together: gather their requests, answer them in one call per kind."""
    generators = [search.steps(row) for search, row in zip(searches, rows, strict=True)]
    pending: dict[int, Request] = {k: next(g) for k, g in enumerate(generators)}
    finished: dict[int, RowCounterfactuals] = {}
    while pending:
        answers: dict[int, np.ndarray] = {}
        candidates = [k for k, request in pending.items() if not isinstance(request, pd.DataFrame)]
        if candidates:
            requests = [(searches[k].base, searches[k].encoded, pending[k]) for k in candidates]
            answers.update(zip(candidates, evaluator.outputs(requests), strict=True))  # type: ignore[arg-type]
        tables = [k for k, request in pending.items() if isinstance(request, pd.DataFrame)]
        if tables:
            joined = pd.concat([pending[k] for k in tables], ignore_index=True)
            outputs = model.predict(joined, model.default_output())
            sizes = np.cumsum([len(pending[k]) for k in tables])[:-1]
            answers.update(zip(tables, np.split(outputs, sizes), strict=True))
        for k, output in answers.items():
            searches[k].evaluations += len(output)
            try:
                pending[k] = generators[k].send(output)
            except StopIteration as stop:
                finished[k] = stop.value
                del pending[k]
    return [finished[k] for k in range(len(searches))]


class RowSearch:
    """The search for one row, as a generator of requests for model outputs (see ``steps``); the driver
    counts every model evaluation in ``evaluations``, which the search keeps within ``options.max_evals``.
    """

    def __init__(
        self,
        original: pd.DataFrame,
        encoded: np.ndarray | None,
        spaces: list[ColumnSpace],
        constraints: Constraints,
        objective: Objective,
        options: CounterfactualOptions,
    ) -> None:
        self.original = original
        self.encoded = encoded
        self.columns = list(original.columns)
        self.dtypes = original.dtypes.to_dict()
        self.base = [to_json_scalar(original[c].iloc[0]) for c in self.columns]
        self.spaces = spaces
        self.constraints = constraints
        self.objective = objective
        self.options = options
        self.evaluations = 0
        self.notes: list[str] = []
        self.rng = np.random.default_rng(options.seed)
        self.choices = [self._values_for(j) for j in range(len(self.columns))]

    # -- the values each column may take ---------------------------------------------------------------

    def _allowed(self, j: int, values: np.ndarray) -> np.ndarray:
        """The values of ``values`` that column ``j`` may take, other than the row's own."""
        space, current = self.spaces[j], self.base[j]
        if space.categorical:
            return np.asarray([v for v in values if v != current], dtype=object)
        values = np.asarray(values, dtype=float)
        keep = (values >= space.low) & (values <= space.high) & (values != float(current))
        if space.name in self.constraints.increase_only:
            keep &= values > float(current)
        if space.name in self.constraints.decrease_only:
            keep &= values < float(current)
        return np.unique(values[keep])

    def _values_for(self, j: int) -> list[Any]:
        """Level-1 values of column ``j``: quantile grid, observed neighbours, widened-range points."""
        space = self.spaces[j]
        if space.name in self.constraints.immutable:
            return []
        if space.categorical:
            return list(self._allowed(j, space.observed))
        current = float(self.base[j])
        inside = space.observed[(space.observed >= space.low) & (space.observed <= space.high)]
        position = int(np.searchsorted(inside, current))
        near = inside[max(0, position - NEIGHBOURS) : position + NEIGHBOURS + 1]
        extra = []
        if len(space.observed) and space.low < space.observed[0]:
            extra.extend(np.linspace(space.low, space.observed[0], 5)[:-1])
        if len(space.observed) and space.high > space.observed[-1]:
            extra.extend(np.linspace(space.observed[-1], space.high, 5)[1:])
        extra_values = np.asarray(extra, dtype=float)
        if space.integer and len(extra_values):
            extra_values = np.clip(np.round(extra_values), np.ceil(space.low), np.floor(space.high))
        values = self._allowed(j, np.concatenate([space.grid, near, extra_values]))
        return [self._typed(j, v) for v in values]

    def _typed(self, j: int, value: Any) -> Any:
        if self.spaces[j].categorical:
            return value
        return round(float(value)) if self.spaces[j].integer else float(value)

    # -- evaluating candidates ------------------------------------------------------------------------

    def change_cost(self, j: int, value: Any) -> float:
        """|change| / MAD for a numeric column, 1 for a changed category."""
        space = self.spaces[j]
        return 1.0 if space.categorical else abs(float(value) - float(self.base[j])) / space.scale

    def distance(self, state: State) -> float:
        """Sum of |change| / MAD over changed numeric columns, plus 1 per changed category."""
        return sum(self.change_cost(j, value) for j, value in state)

    # -- the search -----------------------------------------------------------------------------------

    def steps(self, row: int) -> Search:
        """Search, refine, select and re-check the counterfactuals of this row; yields requests."""
        start_output = (yield [()])[0]
        self.start_output = start_output
        original = self._counterfactual((), start_output, valid=False)
        already, _ = self.objective.judge(start_output[None, :], start_output)
        if already[0]:
            original.valid = True
            return RowCounterfactuals(row, "already-target", original, [], None, self.evaluations)
        pool, closest = yield from self._beam_search()
        refined = yield from self._refine(self._shortlist(pool))
        chosen = self._select(refined)
        checked = yield from self._recheck(chosen, row)
        closest_attempt = None
        if not checked and closest is not None:
            closest_attempt = self._counterfactual(closest[0], closest[1], valid=False)
        status = "found" if checked else "not-found"
        return RowCounterfactuals(row, status, original, checked, closest_attempt, self.evaluations)

    def _beam_search(self) -> Generator[Request, np.ndarray, tuple[dict[State, int], Any]]:
        """Valid states found (state -> order of discovery) and the closest invalid one."""
        budget = int(self.options.max_evals * SEARCH_SHARE)
        mutable = [j for j, values in enumerate(self.choices) if values]
        seen: set[State] = set()
        pool: dict[State, int] = {}
        pool_columns: set[tuple[int, ...]] = set()
        closest: tuple[float, float, State, np.ndarray] | None = None
        beam: list[State] = [()]
        choices = self.choices
        for level in range(len(mutable)):
            expansions: list[State] = []
            expansion_distances: list[float] = []
            for state in beam:
                used = {j for j, _ in state}
                base_distance = self.distance(state)
                for j in mutable:
                    if j in used:
                        continue
                    for value in choices[j]:
                        # Changes are kept in column order; columns differ, so values are never compared.
                        new_state = tuple(sorted((*state, (j, value))))
                        if new_state not in seen:
                            seen.add(new_state)
                            expansions.append(new_state)
                            expansion_distances.append(base_distance + self.change_cost(j, value))
            remaining = budget - self.evaluations
            if not expansions or remaining <= 0:
                break
            if len(expansions) > remaining:
                keep = np.sort(self.rng.choice(len(expansions), size=remaining, replace=False))
                expansions = [expansions[i] for i in keep]
                expansion_distances = [expansion_distances[i] for i in keep]
            outputs = yield expansions
            valid, score = self.objective.judge(outputs, self.start_output)
            distances = np.asarray(expansion_distances)
            for i in np.flatnonzero(valid):
                pool.setdefault(expansions[i], len(pool))
                pool_columns.add(tuple(j for j, _ in expansions[i]))
            invalid = np.flatnonzero(~valid)
            if len(invalid):
                best = invalid[np.lexsort((distances[invalid], -score[invalid]))[0]]
                if closest is None or (score[best], -distances[best]) > (closest[0], -closest[1]):
                    closest = (float(score[best]), float(distances[best]), expansions[best], outputs[best])
            if len(pool_columns) >= self.options.n:
                break
            if level == 0:
                choices = self._promising_values(expansions, score, distances)
            beam = self._next_beam(expansions, invalid, score, distances)
            if not beam:
                break
        return pool, None if closest is None else (closest[2], closest[3])

    def _promising_values(
        self, singles: list[State], score: np.ndarray, distances: np.ndarray
    ) -> list[list[Any]]:
        """Per column, the ``EXTEND_VALUES`` single changes that moved the output most toward the target.

        Deeper levels add only these, so a level costs beam_width x columns x EXTEND_VALUES evaluations
        instead of beam_width x all values, and the search can go several changes deep within budget.
        """
        ranked: dict[int, list[tuple[float, float, int, Any]]] = {}
        for i, state in enumerate(singles):
            ((j, value),) = state
            ranked.setdefault(j, []).append((-float(score[i]), float(distances[i]), i, value))
        return [
            [value for *_, value in sorted(ranked.get(j, []))[:EXTEND_VALUES]]
            for j in range(len(self.columns))
        ]

    def _next_beam(
        self, expansions: list[State], invalid: np.ndarray, score: np.ndarray, distances: np.ndarray
    ) -> list[State]:
        """The most promising invalid states, at most one per set of changed columns."""
        order = invalid[np.lexsort((invalid, distances[invalid], -score[invalid]))]
        beam: list[State] = []
        taken: set[tuple[int, ...]] = set()
        for i in order:
            columns = _columns(expansions[i])
            if columns in taken:
                continue
            taken.add(columns)
            beam.append(expansions[i])
            if len(beam) >= self.options.beam_width:
                break
        return beam

    def _shortlist(self, pool: dict[State, int]) -> list[State]:
        """The best valid states to refine: by sparsity then distance, at most three per column set."""
        ranked = sorted(pool, key=lambda s: (len(s), self.distance(s), pool[s]))
        shortlist: list[State] = []
        per_columns: dict[tuple[int, ...], int] = {}
        limit = max(4 * self.options.n, 12)
        for state in ranked:
            columns = _columns(state)
            if per_columns.get(columns, 0) >= 3:
                continue
            per_columns[columns] = per_columns.get(columns, 0) + 1
            shortlist.append(state)
            if len(shortlist) >= limit:
                break
        return shortlist

    def _refine(self, states: list[State]) -> Generator[Request, np.ndarray, list[State]]:
        """Drop changes that are not needed; move numeric changes as close to the row as stays valid.

        Each round tries, for every state at once (one ``predict`` call), dropping each change and moving
        it to observed values between the row's value and the changed one; each state takes its best valid
        trial. Later rounds zoom in on what earlier ones moved.
        """
        states = list(states)
        for _round in range(REFINE_ROUNDS):
            trials: list[State] = []
            owners: list[int] = []
            for k, state in enumerate(states):
                for position in range(len(state)):
                    for trial in self._trials(state, position):
                        trials.append(trial)
                        owners.append(k)
            if not trials or self.evaluations + len(trials) > self.options.max_evals - len(states):
                break
            valid, _ = self.objective.judge((yield trials), self.start_output)
            improved = False
            for trial, owner, ok in zip(trials, owners, valid, strict=True):
                if ok and self._better(trial, states[owner]):
                    states[owner] = trial
                    improved = True
            if not improved:
                break
        unique = list(dict.fromkeys(states))
        return sorted(unique, key=lambda s: (len(s), self.distance(s)))

    def _better(self, a: State, b: State) -> bool:
        return (len(a), self.distance(a)) < (len(b), self.distance(b))

    def _trials(self, state: State, position: int) -> list[State]:
        """The state without its ``position``-th change, and with that change moved toward the row."""
        j, value = state[position]
        rest = state[:position] + state[position + 1 :]
        trials: list[State] = [rest] if rest else []
        space = self.spaces[j]
        if space.categorical:
            return trials
        low, high = sorted((float(self.base[j]), float(value)))
        between = self._allowed(j, space.observed[(space.observed > low) & (space.observed < high)])
        if len(between) > REFINE_TRIALS:
            between = between[
                np.unique(np.round(np.linspace(0, len(between) - 1, REFINE_TRIALS)).astype(int))
            ]
        for candidate in between:
            trials.append(tuple(sorted((*rest, (j, self._typed(j, candidate))))))
        return trials

    def _select(self, states: list[State]) -> list[State]:
        """``n`` states: new sets of changed columns first (not a superset of one taken), then any other."""
        chosen: list[State] = []
        for state in states:
            columns = set(_columns(state))
            if any(columns >= set(_columns(c)) for c in chosen):
                continue
            chosen.append(state)
            if len(chosen) == self.options.n:
                return chosen
        for state in states:
            if state not in chosen:
                chosen.append(state)
                if len(chosen) == self.options.n:
                    break
        return chosen

    def _recheck(self, states: list[State], row: int) -> Generator[Request, np.ndarray, list[Counterfactual]]:
        """Predict the chosen counterfactuals again from their reported values (a table built from the
        ``values`` dicts, not from the search's own states) and keep those that are valid and keep every
        constraint."""
        if not states:
            return []
        candidates = [self._counterfactual(state, self.start_output, valid=False) for state in states]
        table = pd.DataFrame([c.values for c in candidates], columns=self.columns).astype(self.dtypes)
        outputs = yield table
        valid, _ = self.objective.judge(outputs, self.start_output)
        original_values = dict(zip(self.columns, self.base, strict=True))
        kept = []
        for candidate, output, ok in zip(candidates, outputs, valid, strict=True):
            candidate.prediction, candidate.probability = self.objective.label(output)
            candidate.valid = bool(ok)
            problems = violations(original_values, candidate.values, self.constraints, self.spaces)
            if ok and not problems:
                kept.append(candidate)
            else:
                reason = "; ".join(problems) if problems else "the model does not predict the target for it"
                self.notes.append(f"row {row}: a candidate was dropped on re-checking: {reason}")
        return kept

    def _counterfactual(self, state: State, output: np.ndarray, valid: bool) -> Counterfactual:
        values = dict(zip(self.columns, self.base, strict=True))
        changes = {}
        for j, value in state:
            values[self.columns[j]] = value
            changes[self.columns[j]] = (self.base[j], value)
        prediction, probability = self.objective.label(output)
        return Counterfactual(
            values, changes, prediction, probability, len(state), self.distance(state), valid
        )


def _columns(state: State) -> tuple[int, ...]:
    return tuple(j for j, _ in state)
