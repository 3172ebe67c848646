"""Text from peers made safe for a terminal.

Theory of operation: statements, agent ids, reasons and URIs come from peers, and a
terminal obeys the control characters in what it prints: ESC sequences retitle or clear
it, a newline starts a line that looks like one of ours (a forged ``trust.transition ...
to=trusted``), a bidi override reorders what the operator reads. Every console line made
from such text goes through ``printable``: each character ``str.isprintable`` refuses
(C0 and C1 controls, DEL, ESC, line and paragraph separators, bidi and other format
characters, unassigned code points) becomes a visible escape (``\\n``, ``\\t``, ``\\r``,
``\\x1b``, ``\\u202e``), and a backslash becomes ``\\\\``, so the printed text is one line
and reads back unambiguously. JSON output is JSON already (control characters are escaped
by the encoder); ``ascii_json`` also escapes what JSON allows raw (DEL, C1, U+2028,
bidi controls) for JSON lines printed on a terminal.
"""

from __future__ import annotations

import re

__all__ = ["ascii_json", "printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every non-printable character and the backslash escaped: one line,
    no byte a terminal acts on."""
    if text.isprintable() and "\\" not in text:
        return text  # the common case costs one C-level scan
    return "".join(ch if ch.isprintable() and ch != "\\" else _escape(ch) for ch in text)


# Characters JSON may carry raw that a terminal may act on or render misleadingly.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def ascii_json(line: str) -> str:
    """A JSON text with DEL, C1 controls, line/paragraph separators and bidi controls
    written as ``\\uXXXX`` escapes: the same JSON value, safe to print."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", line)
