"""How much an untrusted model may use: memory and CPU time, with their defaults and how they are spelled."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from xai_cli.errors import UsageError

GIB = 1 << 30
# The memory cap: 8 GiB, or half of this machine's memory if that is less. Large enough for the models
# and batches this tool explains; a model that needs more says so (exit 3) and --max-memory raises it.
DEFAULT_MAX_MEMORY_CAP = 8 * GIB
# One hour of CPU time per input: a permutation SHAP run of 1,000 rows on a slow model takes minutes.
DEFAULT_MAX_CPU_SECONDS = 3600
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": GIB, "t": 1 << 40}


@dataclass(frozen=True)
class SandboxLimits:
    """``--max-memory`` (bytes, None: the default) and ``--max-cpu-seconds`` (0: no cap) of one run."""

    max_memory: int | None = None
    max_cpu_seconds: int = DEFAULT_MAX_CPU_SECONDS

    def memory_bytes(self) -> int:
        """The memory cap in bytes, the default resolved for this machine."""
        return self.max_memory if self.max_memory is not None else default_max_memory()

    def argv(self) -> list[str]:
        """The options that set these limits, when they differ from the defaults."""
        argv: list[str] = []
        if self.max_memory is not None:
            argv += ["--max-memory", str(self.max_memory)]
        if self.max_cpu_seconds != DEFAULT_MAX_CPU_SECONDS:
            argv += ["--max-cpu-seconds", str(self.max_cpu_seconds)]
        return argv


def default_max_memory() -> int:
    """8 GiB, or half of the physical memory when that is less."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return DEFAULT_MAX_MEMORY_CAP
    return min(DEFAULT_MAX_MEMORY_CAP, max(physical // 2, GIB))


def parse_memory(text: str | None) -> int | None:
    """'8G', '512M', '1.5g' or a byte count as bytes; None stays None (the default)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise UsageError(f"--max-memory {text}: expected a size such as 4G, 512M or a number of bytes")
    size = int(float(match.group(1)) * _UNITS[match.group(2)])
    if size < 256 << 20:
        raise UsageError(f"--max-memory {text}: at least 256M is needed to load Python and a model")
    return size


def check_cpu_seconds(seconds: int) -> int:
    """``--max-cpu-seconds``: 0 (no cap) or a positive number of seconds."""
    if seconds < 0:
        raise UsageError(f"--max-cpu-seconds {seconds}: expected 0 (no cap) or a number of seconds")
    return seconds
