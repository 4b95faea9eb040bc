"""One cleaning rule for every string that comes from mail or calendars and becomes a record.

Names, subjects, titles and folder names are written by strangers. Before they are stored
(and later shown in a terminal, or put into a draft header) they lose:

* control characters: C0 (NUL, ESC, ...), DEL and C1. Line breaks, tabs and the Unicode line
  and paragraph separators become a space, the others vanish, so a name can neither end a
  header line nor carry a terminal escape sequence;
* the bidi embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069). They
  reorder what is displayed ("Trojan Source"): an address or a file name can be made to read
  as another. Names and subjects in right-to-left scripts never need them, the implicit bidi
  algorithm lays them out; the plain marks (U+200E/U+200F/U+061C) only nudge neutral
  characters and are kept;
* the byte order mark (U+FEFF), and lone surrogates (undecodable bytes that slipped through
  ``surrogateescape``), which no database or terminal can encode, become U+FFFD.

Runs of white space become one space, and the result is trimmed.
"""

from __future__ import annotations

_TO_SPACE = [*range(0x09, 0x0E), *range(0x1C, 0x20), 0x85, 0x2028, 0x2029]
_REMOVED = [*range(0x00, 0x09), *range(0x0E, 0x1C), 0x7F, *range(0x80, 0x85), *range(0x86, 0xA0),
            *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF]
_TABLE: dict[int, str | None] = {**dict.fromkeys(_REMOVED), **dict.fromkeys(_TO_SPACE, " "),
                                 **dict.fromkeys(range(0xD800, 0xE000), "\ufffd")}


MAX_ADDRESS = 254  # RFC 5321: the longest address a mail path can carry


def clean_address(value: object) -> str:
    """An email address as stored: cleaned, or "" when it cannot be one (no "@", too long)."""
    text = clean_text(value)
    return text if "@" in text and len(text) <= MAX_ADDRESS and " " not in text else ""


def clean_text(value: object, limit: int | None = None) -> str:
    """``value`` as text fit to store and show: see the module documentation."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if not (text.isascii() and text.isprintable()):
        text = text.translate(_TABLE)
    text = " ".join(text.split())
    return text[:limit] if limit is not None else text
