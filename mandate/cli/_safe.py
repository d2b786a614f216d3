"""Text a user, a run or a sender chose, made safe for a terminal: the one place the CLI does it.

Anyone who can reach the Temporal frontend chooses some of what the CLI prints: a signal's name, an
approver's name in a refused payload, a reason, a workflow id. A terminal obeys the control characters
in such text: ESC starts sequences that clear the screen, retitle the window or rewrite what was just
printed (``\\x1b[2J``, ``\\x1b]0;…\\x07``), C1 codes (``\\x9b``) do the same on some terminals, and the
bidirectional overrides (U+202A-202E, U+2066-2069) reorder what is shown, so that ``approve`` can read
as something else. ``safe_text`` shows each such character as a visible escape (``\\x1b``, ``\\u202e``)
instead: the text stays readable, nothing in it acts on the terminal. ``json_safe`` does the same to
JSON text in JSON's own escapes, so that ``--json`` still carries the raw text.
"""

from __future__ import annotations

import re

__all__ = ["safe_text", "json_safe"]

# C0 controls, DEL and C1 controls; the Arabic letter mark, LRM/RLM, the line and paragraph separators,
# the embeddings and overrides (U+202A-202E) and the isolates (U+2066-2069).
# Lone surrogates too: not a terminal's business, but printing one would end the command in a traceback.
_OTHERS = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_OTHERS}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_OTHERS}]")
# What json.dumps(ensure_ascii=False) leaves raw inside its strings (it escapes C0 itself).
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f{_OTHERS}]")

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def safe_text(value: object, *, lines: bool = False) -> str:
    """``value`` as text in which no character acts on a terminal; ``lines`` keeps its line breaks."""
    text = str(value)
    return (_UNSAFE_BUT_NEWLINE if lines else _UNSAFE).sub(_visible, text)


def json_safe(text: str) -> str:
    """JSON text (as ``json.dumps(..., ensure_ascii=False)`` writes it) with every character that would
    act on a terminal written as a ``\\uXXXX`` escape: the same JSON value, safe to print."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
