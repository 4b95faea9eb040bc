"""Text from outside made safe for a terminal: one function, used for every string syncd prints.

A name, subject or server reply is written by whoever sent it. Printed raw, an escape sequence in
it can rewrite the screen, retitle the window, plant a hyperlink or hide a line; a bidi override
can make one address read as another. :func:`clean` keeps the text and removes those means.
"""

from __future__ import annotations

import re

# ESC-introduced sequences, removed whole (not just their ESC, which would leave the payload):
# CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings (ESC ] ... BEL or ST), and two-byte escapes.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, DCS, SOS, PM, APC up to BEL or ST
    r"|\x1b[ -/]*[0-~]"  # two-byte and nF escapes (ESC c, ESC ( B, ...)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x90\x9d\x98\x9e\x9f][^\x07\x9c\x1b]*(?:\x07|\x9c)?"  # 8-bit DCS, OSC, SOS, PM, APC
)
# What is left: C0 controls (tab and line breaks become a space), DEL, C1 controls, and the
# bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_SPACES = re.compile(r"[\t\n\r\x0b\x0c\u2028\u2029\x85]+")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(value: object) -> str:
    """``value`` as one line of printable text: escape sequences and control characters gone,
    line breaks and tabs as single spaces."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case: nothing to do
        return text
    text = _ESCAPES.sub("", text)
    text = _SPACES.sub(" ", text)
    return _CONTROLS.sub("", text)


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def json_safe(text: str) -> str:
    """Serialised JSON with the characters it may carry raw (DEL, C1, bidi) escaped as \\uXXXX:
    the same data, harmless when the JSON itself lands on a terminal."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
