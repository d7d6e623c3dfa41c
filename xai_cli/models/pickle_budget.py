"""Work limits for reading a pickle, shared by the loader and the scan.

A hostile stream can make an unpickler or a scanner work far out of proportion to its size: opcodes
replayed from a compressed file, memo entries, a stack of millions of items, marks nested thousands
deep, or sub-kilobyte memo-shared nested lists that a naive walk visits exponentially often. Every
read is metered; exceeding a limit raises ``BudgetExceeded``, which the callers turn into one
InputError (exit 3) naming the file and the limit.

The limits (fickling's interpreter stops at 1,000,000 opcodes, 10,000 stack items and 100,000 memo
entries; ours sit higher because real models pickle large vocabularies and object arrays, and are
still far below what exhausts time or memory):

| limit | default | environment variable |
| --- | --- | --- |
| opcodes per file (joblib's nested object-array pickles included) | 10,000,000 | XAI_PICKLE_MAX_OPCODES |
| memo entries | 2,000,000 | XAI_PICKLE_MAX_MEMO |
| stack items at once | 1,000,000 | XAI_PICKLE_MAX_STACK |
| nesting of marks (tuples, lists, dicts being built) | 1,000 | XAI_PICKLE_MAX_NESTING |
| scan work on nested structure (items visited) | 10,000,000 | XAI_PICKLE_MAX_WORK |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULTS: dict[str, int] = {
    "opcodes": 10_000_000,
    "memo": 2_000_000,
    "stack": 1_000_000,
    "nesting": 1_000,
    "work": 10_000_000,
}
_WHAT = {
    "opcodes": "pickle opcodes",
    "memo": "memo entries",
    "stack": "items on the unpickling stack",
    "nesting": "nested marks",
    "work": "items of nested structure walked",
}


class BudgetExceeded(Exception):
    """A pickle needs more work than a model file ever does."""

    def __init__(self, limit: str, value: int) -> None:
        self.limit = limit
        self.value = value
        variable = f"XAI_PICKLE_MAX_{limit.upper()}"
        super().__init__(
            f"more than {value:,} {_WHAT[limit]} (the limit for a model file; raise {variable} only for "
            "a file you trust)"
        )


def _limit(name: str) -> int:
    text = os.environ.get(f"XAI_PICKLE_MAX_{name.upper()}", "")
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULTS[name]


@dataclass
class Budget:
    """The counters of one file's read, and its limits (from the environment, else DEFAULTS)."""

    limits: dict[str, int] = field(default_factory=lambda: {name: _limit(name) for name in DEFAULTS})
    opcodes: int = 0
    work: int = 0
    peak_stack: int = 0
    peak_memo: int = 0

    def opcode(self, stack: int, memo: int, nesting: int) -> None:
        """Count one opcode and check the sizes it leaves behind."""
        self.opcodes += 1
        if self.opcodes > self.limits["opcodes"]:
            raise BudgetExceeded("opcodes", self.limits["opcodes"])
        if stack > self.peak_stack:
            self.peak_stack = stack
            if stack > self.limits["stack"]:
                raise BudgetExceeded("stack", self.limits["stack"])
        if memo > self.peak_memo:
            self.peak_memo = memo
            if memo > self.limits["memo"]:
                raise BudgetExceeded("memo", self.limits["memo"])
        if nesting > self.limits["nesting"]:
            raise BudgetExceeded("nesting", self.limits["nesting"])

    def spend(self, items: int = 1) -> None:
        """Count work on nested structure."""
        self.work += items
        if self.work > self.limits["work"]:
            raise BudgetExceeded("work", self.limits["work"])
