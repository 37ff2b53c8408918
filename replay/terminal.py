"""Text made safe for a terminal: control characters that came from a job are shown as escapes, never acted on.

A job's file names, titles, text outputs and error messages are the server's (or an attacker's) strings. Printed
raw, an escape sequence in one can clear the screen, retitle the terminal window, or move the cursor to overwrite
a line of the result (`\\r`, `\\x1b[2J`, `\\x1b]0;...\\x07`). The text renderers run their output through
`printable`; values that must stay on one line (a file name in a list) through `one_line`.
"""

from __future__ import annotations

import re

# The colour codes comfy-replay itself writes (diff_render._Paint); every other escape sequence is shown as text.
_OWN_COLOURS = re.compile(r"\x1b\[(?:0|1|31|32|33|36)m")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return {"\n": "\\n", "\r": "\\r"}.get(char, f"\\x{ord(char):02x}")


def printable(text: str, *, colours: bool = False) -> str:
    """`text` with every control character but newline and tab written as an escape (`\\x1b`, `\\r`); with
    `colours`, the colour codes of comfy-replay's own renderers are kept (a job's text could only add colour)."""
    if not colours:
        return _CONTROL.sub(_escape, text)
    parts = _OWN_COLOURS.split(text)
    codes = _OWN_COLOURS.findall(text)
    out = [_CONTROL.sub(_escape, parts[0])]
    for code, part in zip(codes, parts[1:], strict=True):
        out += [code, _CONTROL.sub(_escape, part)]
    return "".join(out)


def one_line(text: str) -> str:
    """`text` on one line: newlines and every other control character written as escapes (`\\n`)."""
    return _CONTROL_OR_NEWLINE.sub(_escape, text)


__all__ = ["one_line", "printable"]
