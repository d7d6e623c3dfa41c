"""Text from files (names, values, messages) made safe to print on a terminal.

A file name, a pickled global name or a column header can hold terminal escape sequences (``ESC [2K``
erases a line), carriage returns, C1 controls, bidi overrides (U+202A-U+202E, U+2066-U+2069) or
zero-width characters. Printed raw, they let a hostile file rewrite what the user sees, e.g. erase its
own REFUSED line. Everything the CLI prints from a file goes through ``terminal_safe`` (plain text) or
``json_safe`` (JSON text); neither is ever handed to rich, so ``[red]`` in a name stays literal.

A leaf module: it imports nothing from xai_cli.
"""

from __future__ import annotations

import re

# Unicode's "printable" leaves out every control (Cc: C0, DEL, C1), format character (Cf: bidi
# overrides and isolates, zero-width space/joiners, BOM, tag characters), separator other than the
# ASCII space (Zs, Zl, Zp), surrogate (a file name Python could not decode) and unassigned code point.
_UNPRINTABLE = re.compile(r"[^ -~]")


_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(character: str) -> str:
    if character in _SHORT:
        return _SHORT[character]
    code = ord(character)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def terminal_safe(text: str, limit: int | None = None) -> str:
    """``text`` with every character a terminal could act on shown as Python writes it in a string
    literal (``\\r``, ``\\x1b``, ``\\u202e``, ``\\U000e0041``); printable text (any script) is kept.
    Cut to ``limit`` characters (then '...')."""
    safe = _UNPRINTABLE.sub(lambda m: m[0] if m[0].isprintable() else _escape(m[0]), text)
    if limit is not None and len(safe) > limit:
        return safe[:limit] + "..."
    return safe


def _json_escape(character: str) -> str:
    code = ord(character)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_safe(document_text: str) -> str:
    """JSON text with every non-printable character in its strings written as a ``\\uNNNN`` escape:
    the same JSON value, and nothing in it can drive a terminal. Line breaks between tokens stay."""
    return _UNPRINTABLE.sub(
        lambda m: m[0] if m[0].isprintable() or m[0] == "\n" else _json_escape(m[0]), document_text
    )
