"""What "clean" means for a stored string, checked independently of syncd.sanitize."""

from __future__ import annotations

import unicodedata

_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def is_clean(text: str) -> bool:
    """No control character (C0, DEL, C1), no bidi override, no line or paragraph separator,
    no lone surrogate, no byte order mark, no run of white space, no white space at the ends."""
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in _BIDI_CONTROLS or ch == "\ufeff":
            return False
    return text == " ".join(text.split())
