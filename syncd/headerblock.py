"""The header fields we keep, split out of a raw header block at the byte level.

The stdlib parser (``email.parser.BytesHeaderParser``) costs about ten times what a first
sync spends on everything else per message, and nearly all mail is plain: ASCII, one field
per line plus continuation lines, LF or CRLF throughout. For that case :func:`read_fields`
returns exactly the (name, value) pairs the stdlib path in :mod:`syncd.headers` produces:
unfolded (RFC 5322 §2.2.3), stripped, in order, duplicates kept. It returns None for anything
unusual (8-bit bytes, a bare CR, a line that is neither a field nor a continuation, a leading
continuation, an mbox "From " line): the caller then asks the stdlib parser, whose answers
on such input are the reference. RFC 2047 encoded words are left as they are: only the
fields a record keeps get decoded, later, by :mod:`syncd.headers`.
"""

from __future__ import annotations

import re

# One field: its name (RFC 5322 ftext, the stdlib parser's own test of a field line), the
# colon, and its value up to the next line that does not begin with white space.
_FIELD = re.compile(r"([!-9;-~]+):([^\n]*(?:\n[ \t][^\n]*)*)\n?")


def header_end(raw: bytes) -> int:
    """Where the header block ends (the first blank line, LF or CRLF), or len(raw)."""
    end = raw.find(b"\n\n")
    crlf = raw.find(b"\r\n\r\n")
    if crlf != -1 and (end == -1 or crlf < end):
        end = crlf
    return len(raw) if end == -1 else end


def _split(raw: bytes) -> list[tuple[str, str]] | None:
    """(name, value as written) of every field of ``raw``'s header block, or None when the
    block needs the stdlib parser."""
    head = raw[:header_end(raw)]
    if not head.isascii():
        return None
    if b"\r" in head:
        head = head.replace(b"\r\n", b"\n")
        if b"\r" in head:
            return None  # a bare CR is a line break to the stdlib parser: leave it to it
    if head.endswith(b"\n"):
        head = head[:-1]  # a block with no blank line after it (a header-only file)
    if b"\n\n" in head:
        return None  # a blank line made of mixed line ends: rare enough to leave to it
    text = head.decode("ascii")
    found = _FIELD.findall(text)
    # Every character belongs to a field (name, colon, value, its line end; the last has
    # none): else a line was skipped (a leading continuation, a line with no colon or a bad
    # name, an mbox "From "), and where the block ends and what counts is the stdlib's call.
    covered = sum(map(len, map("".join, found))) + 2 * len(found) - 1 if found else 0
    if covered != len(text):
        return None
    return found


def read_fields(raw: bytes, wanted: frozenset[str]) -> list[tuple[str, str]] | None:
    """(name, value) of every field of ``raw``'s header block whose lower-cased name is in
    ``wanted``, or None when the block needs the stdlib parser."""
    found = _split(raw)
    if found is None:
        return None
    # every newline inside a value starts a continuation line: unfolding removes it
    return [(name, value.replace("\n", "").strip()) for name, value in found if name.lower() in wanted]


def read_field_map(raw: bytes, wanted: frozenset[str]) -> dict[str, list[str]] | None:
    """:func:`read_fields` as the record builder takes it: lower-cased name -> its values in
    order (one pass, no pairs in between)."""
    found = _split(raw)
    if found is None:
        return None
    fields: dict[str, list[str]] = {}
    for name, value in found:
        key = name.lower()
        if key in wanted:
            got = fields.get(key)
            if got is None:
                fields[key] = [value.replace("\n", "").strip()]
            else:
                got.append(value.replace("\n", "").strip())
    return fields
