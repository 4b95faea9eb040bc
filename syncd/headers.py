"""RFC 5322 header blocks to records, and drafts to RFC 5322 bytes.

Maildir and IMAP connectors hand us raw header bytes; Gmail hands us (name, value) pairs.
Both end here, so every connector decodes addresses, encoded words and dates the same way.
Parsing is deliberately lenient: mail in the wild is broken in every way imaginable, and a
message we can key and date is worth keeping even if a header is mangled.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import format_datetime, formataddr, getaddresses, parsedate_to_datetime

from syncd.headerblock import header_end, read_fields
from syncd.records import MARKER_HEADER, Address, Draft, MailMessage

# The header fields every mail connector asks for (IMAP HEADER.FIELDS, Gmail metadataHeaders).
WANTED_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Cc",
    "Bcc",
    "Date",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Post",
    "List-Unsubscribe",
    "Precedence",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    MARKER_HEADER,
)
# Header fields read from whole message files (Maildir) but not worth a network round trip.
FALLBACK_HEADERS = ("Received",)
_READ = frozenset(h.lower() for h in WANTED_HEADERS + FALLBACK_HEADERS)
LIST_HEADER_NAMES = (
    "list-id",
    "list-post",
    "list-unsubscribe",
    "precedence",
    "auto-submitted",
    "x-auto-response-suppress",
)

_parser = BytesHeaderParser(policy=compat32)
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MSGID_RE = re.compile(r"<([^<>\s]+)>")


class UnusableMessage(ValueError):
    """The header block has nothing we can key or date the message by."""


def decode_text(value: object) -> str:
    """Decode RFC 2047 encoded words; never raise on bad charsets or stray bytes."""
    if value is None:
        return ""
    text = str(value)
    if "=?" not in text:
        return " ".join(text.split())
    try:
        return " ".join(str(make_header(decode_header(text))).split())
    except (LookupError, ValueError, UnicodeError, AssertionError):
        return " ".join(text.split())


_SIMPLE_MAILBOX = re.compile(r"\s*(?:([^<>@,]*?)\s*<([^<>\s@]+@[^<>\s@]+)>|([^<>\s@]+@[^<>\s@,]+))\s*")
_NEEDS_FULL_PARSER = re.compile(r'["(:;\\]')


def _simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """The common case (`Name <a@b>, c@d`) without the full RFC 5322 parser, which is slow;
    None when the value has quoting, comments or groups and needs the real thing."""
    if _NEEDS_FULL_PARSER.search(value):
        return None
    out = []
    for part in value.split(","):
        if not part.strip():
            continue
        m = _SIMPLE_MAILBOX.fullmatch(part)
        if m is None:
            return None
        out.append((m.group(1) or "", m.group(2) or m.group(3)))
    return out


def parse_addresses(values: Iterable[str]) -> tuple[Address, ...]:
    """Mailboxes from address header values; groups are flattened, empty groups vanish."""
    out: list[Address] = []
    pairs: list[tuple[str, str]] = []
    for value in values:
        if value:
            simple = _simple_mailboxes(str(value))
            pairs += simple if simple is not None else getaddresses([str(value)])
    for name, addr in pairs:
        addr = addr.strip()
        if not addr or "@" not in addr:
            continue  # "undisclosed-recipients:;" and other shells with no mailbox
        out.append(Address(email=addr, name=decode_text(name).strip('"').strip()))
    return tuple(out)


def parse_message_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    found = _MSGID_RE.findall(str(value))
    if not found and "@" in str(value):
        found = [str(value).strip().strip("<>")]
    return tuple(found)


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:  # "-0000" or no zone: RFC 5322 says treat as UTC
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def _received_date(values: Iterable[str]) -> datetime | None:
    """The newest Received: stamp (its date follows the last ';'): when the mail arrived."""
    for value in values:
        if ";" in value:
            found = parse_date(value.rsplit(";", 1)[1].strip())
            if found is not None:
                return found
    return None


def synthetic_message_id(*parts: str) -> str:
    """A stable key for a message that has no Message-ID (built from what it does have)."""
    digest = hashlib.sha1("\x00".join(parts).encode("utf-8", "replace")).hexdigest()[:24]
    return f"{digest}@no-message-id.syncd"


def message_from_pairs(
    pairs: Iterable[tuple[str, str]],
    *,
    source_id: str,
    folder: str,
    fallback_date: datetime | None = None,
    thread_id: str = "",
    is_draft: bool = False,
) -> MailMessage:
    """Build a record from (header name, value) pairs. Raises UnusableMessage."""
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name.lower(), []).append("" if value is None else str(value))

    def first(name: str) -> str | None:
        got = fields.get(name)
        return got[0] if got else None

    senders = parse_addresses(fields.get("from", ()))
    date = parse_date(first("date")) or _received_date(fields.get("received", ())) or fallback_date
    to = parse_addresses(fields.get("to", ()))
    cc = parse_addresses(fields.get("cc", ()))
    subject = decode_text(first("subject"))
    ids = parse_message_ids(first("message-id"))
    if date is None:
        raise UnusableMessage("no usable Date header")
    if not senders and not to and not cc:
        raise UnusableMessage("no sender and no recipients")
    message_id = ids[0] if ids else synthetic_message_id(
        senders[0].email if senders else "", date.isoformat(), subject,
        ",".join(a.email for a in to + cc),
    )
    return MailMessage(
        message_id=message_id[:500],
        source_id=source_id,
        folder=folder,
        date=date,
        sender=senders[0] if senders else None,
        to=to,
        cc=cc,
        bcc=parse_addresses(fields.get("bcc", ())),
        subject=subject[:500],
        in_reply_to=parse_message_ids(first("in-reply-to")),
        references=parse_message_ids(first("references"))[-20:],
        list_headers={n: decode_text(fields[n][0])[:500] for n in LIST_HEADER_NAMES if n in fields},
        thread_id=thread_id,
        # Not inferred from our marker: a sent draft keeps it (Gmail does), and it is sent mail.
        is_draft=is_draft,
    )


def message_from_bytes(
    raw: bytes, *, source_id: str, folder: str, fallback_date: datetime | None = None
) -> MailMessage:
    """Build a record from a raw header block (or a whole message: the body is not read)."""
    pairs = read_fields(raw, _READ)
    if pairs is None:  # not plain ASCII and plainly laid out: the stdlib parser decides
        pairs = stdlib_fields(raw)
    return message_from_pairs(pairs, source_id=source_id, folder=folder, fallback_date=fallback_date)


def stdlib_fields(raw: bytes) -> list[tuple[str, str]]:
    """The fields we read, as the stdlib parser splits them: the reference for read_fields."""
    msg = _parser.parsebytes(raw[:header_end(raw)])
    return [(k, _header_str(v)) for k, v in msg.raw_items() if k.lower() in _READ]


def _header_str(value: object) -> str:
    # Raw 8-bit header bytes (RFC 6532 UTF-8, or legacy charsets) arrive surrogate-escaped
    # from the compat32 parser; turn them back into text instead of failing later.
    text = str(value)
    if "\n" in text:
        text = _FOLD.sub("", text)  # unfold continuation lines
    text = text.strip()
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def render_draft(draft: Draft) -> bytes:
    """The RFC 5322 form of a draft: plain text, UTF-8, with our marker header."""
    msg = EmailMessage()
    msg["From"] = formataddr((draft.sender.name, draft.sender.email))
    msg["To"] = ", ".join(formataddr((a.name, a.email)) for a in draft.to)
    msg["Subject"] = draft.subject
    msg["Date"] = format_datetime(draft.created_at or datetime.now(timezone.utc))
    msg["Message-ID"] = f"<{draft.message_id}>"
    if draft.in_reply_to:
        msg["In-Reply-To"] = f"<{draft.in_reply_to}>"
    if draft.references:
        msg["References"] = " ".join(f"<{r}>" for r in draft.references)
    msg[MARKER_HEADER] = draft.marker
    msg.set_content(draft.body)
    return msg.as_bytes()
