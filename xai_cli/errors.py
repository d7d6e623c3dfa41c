"""The error classes of xai-cli and the exit code each one maps to, in one table."""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_UNSAFE_MODEL = 4
EXIT_PARTIAL = 5


class XaiError(Exception):
    """Base class: an error we expect and explain in one line, never with a traceback."""

    exit_code: int = EXIT_BAD_INPUT


class InputError(XaiError):
    """A model or data file is missing, unreadable, malformed or does not fit the model (exit 3)."""

    exit_code = EXIT_BAD_INPUT


class UsageError(XaiError):
    """Options that contradict each other or name nothing that exists (exit 2)."""

    exit_code = EXIT_USAGE


class UnsafeModelError(XaiError):
    """A model file asks to import or run something outside the allow-list (exit 4)."""

    exit_code = EXIT_UNSAFE_MODEL


class GateFailed(XaiError):
    """A CI gate (``--fail-*``, ``diff`` thresholds, ``--require-found``) was violated (exit 1)."""

    exit_code = EXIT_GATE_FAILED


class PartialBatch(XaiError):
    """Some inputs of a directory batch failed; the others were written and the index lists all (exit 5)."""

    exit_code = EXIT_PARTIAL


EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_GATE_FAILED: "a gate failed (diff thresholds, --fail-* options, --require-found)",
    EXIT_USAGE: "usage error (unknown option, bad option value)",
    EXIT_BAD_INPUT: "bad input: the model or data file is missing, malformed or does not fit",
    EXIT_UNSAFE_MODEL: "model refused as unsafe (pass --trust-model only for files you trust)",
    EXIT_PARTIAL: "partial batch: some inputs failed, the others were written",
}
