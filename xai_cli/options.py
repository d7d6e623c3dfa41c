"""Options shared by the commands that load a model, declared once as typer ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

import typer

from xai_cli.models.sandbox.limits import DEFAULT_MAX_CPU_SECONDS

MaxMemoryOption = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        metavar="SIZE",
        help="Memory cap of the sandbox an untrusted model runs in, e.g. 4G or 512M "
        "(default: 8G, or half this machine's memory if less). Ignored with --trust-model.",
    ),
]
MaxCpuSecondsOption = Annotated[
    int,
    typer.Option(
        "--max-cpu-seconds",
        min=0,
        help="CPU-time cap of the sandbox an untrusted model runs in, per input (0: none). "
        "Ignored with --trust-model.",
    ),
]
DEFAULT_CPU_SECONDS = DEFAULT_MAX_CPU_SECONDS
