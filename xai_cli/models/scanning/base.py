"""What a scan of a model file finds: the names it would import or run, each allowed or refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Verdict = Literal["safe", "unsafe", "unchecked"]
FindingKind = Literal[
    "import", "call", "lambda", "custom-object", "operator-domain", "external-data", "operator"
]


@dataclass(frozen=True)
class Finding:
    """One thing the file asks for when loaded.

    ``kind``: ``import`` (a class or function the loader would import by name), ``call`` (a call on
    something the file built itself), ``lambda`` (Python bytecode in a Keras config),
    ``custom-object`` (a Keras class or function from outside Keras), ``operator-domain`` (an ONNX
    operator set outside the standard ones), ``external-data`` (an ONNX tensor read from another
    file), ``operator`` (a torch operator that TorchScript code or a ``torch.export`` graph calls).
    ``where`` names the member of an archive it was found in, when the file is an archive.
    """

    name: str
    kind: FindingKind
    allowed: bool
    where: str | None = None
    detail: str | None = None


@dataclass
class ScanResult:
    """The scan of one file: its format, the findings, and what the scan could and could not check."""

    path: Path
    format: str
    findings: list[Finding]
    checked: str
    not_checked: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def refused(self) -> list[Finding]:
        """The findings that make the file unsafe to load."""
        return [finding for finding in self.findings if not finding.allowed]

    @property
    def verdict(self) -> Verdict:
        """``unsafe`` if anything is refused, ``unchecked`` if part of the file could not be checked."""
        if self.refused:
            return "unsafe"
        return "unchecked" if self.not_checked else "safe"
