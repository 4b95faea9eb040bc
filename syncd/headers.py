"""RFC 5322 header blocks to records, and drafts to RFC 5322 bytes.

Maildir and IMAP connectors hand us raw header bytes; Gmail hands us (name, value) pairs.
Both end here, so every connector decodes addresses, encoded words and dates the same way.
Parsing is deliberately lenient: mail in the wild is broken in every way imaginable, and a
message we can key and date is worth keeping even if a header is mangled.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from email import headerregistry
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from email.policy import default as default_policy
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from functools import lru_cache
from typing import Any

from syncd.headerblock import header_end, read_field_map
from syncd.records import MARKER_HEADER, Address, Draft, MailMessage
from syncd.sanitize import clean_address, clean_text
from syncd.timeutil import EARLIEST, LATEST, OutOfRange, checked_utc

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
# RFC 5322 msg-id without its angle brackets: dot-atom-text "@" (dot-atom-text / no-fold-literal),
# with the obsolete forms' leniency about where dots go. Nothing else is stored or written back.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~.-"
_VALID_MSGID = re.compile(rf"[{_ATEXT}]+@(?:[{_ATEXT}]+|\[[!-Z^-~]*\])")
MAX_MSGID = 500
TEXT_LIMIT = 500  # subjects, names and list headers longer than this are cut


class UnusableMessage(ValueError):
    """The header block has nothing we can key or date the message by."""


def decode_text(value: object, limit: int | None = TEXT_LIMIT) -> str:
    """Decode RFC 2047 encoded words and clean the result (:func:`syncd.sanitize.clean_text`);
    never raise on bad charsets or stray bytes."""
    if value is None:
        return ""
    text = str(value)
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except (LookupError, ValueError, UnicodeError, AssertionError):
            pass
    return clean_text(text, limit)


_SIMPLE_MAILBOX = re.compile(r"\s*(?:([^<>@,]*?)\s*<([^<>\s@]+@[^<>\s@]+)>|([^<>\s@]+@[^<>\s@,]+))\s*")
_NEEDS_FULL_PARSER = re.compile(r'["(:;\\]')


def _mailbox(name: str, addr: str) -> Address | None:
    """One (display name, address) pair as a record's Address; None when the address is junk."""
    addr = clean_address(addr)
    if not addr:
        return None  # "undisclosed-recipients:;", other shells with no mailbox, 300-character junk
    return Address(email=addr, name=decode_text(name).strip('"').strip())


# Parsed addresses, remembered: a mailbox's exact text (`Name <a@b>`, one part of a simple
# value) and whole values that need the full parser. Mail to and from the same people repeats
# the same text all the time; decoding and cleaning it again cost more than the rest of a
# record. Bounded: cleared when full, and long texts are never kept.
_PARTS: dict[str, Address | None | bool] = {}  # False: the part needs the full parser
_VALUES: dict[str, tuple[Address, ...]] = {}
_CACHE_LIMIT = 20_000
_CACHED_LENGTH = 400


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(key) <= _CACHED_LENGTH:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = value


def _simple_part(part: str) -> Address | None | bool:
    """The Address of one comma-separated part of a simple value, None for an empty part or
    a junk address, False when the part is not a simple mailbox."""
    if not part.strip():
        return None
    m = _SIMPLE_MAILBOX.fullmatch(part)
    if m is None:
        return False
    return _mailbox(m.group(1) or "", m.group(2) or m.group(3))


def _value_addresses(value: str) -> tuple[Address, ...]:
    """The mailboxes of one address header value (the same as ``getaddresses``, then cleaned)."""
    if not _NEEDS_FULL_PARSER.search(value):
        out: list[Address] = []
        parts = _PARTS
        for part in value.split(","):
            got = parts.get(part, True)
            if got is True:
                got = _simple_part(part)
                _remember(parts, part, got)
            if got is False:
                break
            if got is not None:
                out.append(got)  # type: ignore[arg-type]
        else:
            return tuple(out)
    found = _VALUES.get(value)
    if found is None:
        boxes = (_mailbox(name, addr) for name, addr in getaddresses([value]))
        found = tuple(a for a in boxes if a is not None)
        _remember(_VALUES, value, found)
    return found


def parse_addresses(values: Iterable[str]) -> tuple[Address, ...]:
    """Mailboxes from address header values; groups are flattened, empty groups vanish."""
    out: tuple[Address, ...] = ()
    for value in values:
        if value:
            out += _value_addresses(str(value))
    return out


def stdlib_addresses(values: Iterable[str]) -> tuple[Address, ...]:
    """parse_addresses through the email package's parser alone, nothing remembered: the
    reference for its fast path and its caches."""
    boxes = (_mailbox(name, addr) for value in values if value for name, addr in getaddresses([str(value)]))
    return tuple(a for a in boxes if a is not None)


def valid_message_id(value: str) -> bool:
    """True for an RFC 5322 msg-id (without ``<>``) that is safe to store and to write back."""
    return len(value) <= MAX_MSGID and _VALID_MSGID.fullmatch(value) is not None


def parse_message_ids(value: str | None) -> tuple[str, ...]:
    """The valid message ids in a Message-ID / In-Reply-To / References value; others are dropped."""
    if not value:
        return ()
    found = _MSGID_RE.findall(str(value))
    if not found and "@" in str(value):
        found = [str(value).strip().strip("<>")]
    return tuple(f for f in found if valid_message_id(f))


# The form nearly every mailer writes (RFC 5322 section 3.3): "Mon, 2 Nov 2026 10:00:00 +0100".
# The year's first digit is not 0: the stdlib takes a year below 100 for a two-digit one.
_COMMON_DATE = re.compile(r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?"
                          r"(\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [1-9]\d{3}) "
                          r"([01]\d|2[0-3]):([0-5]\d):([0-5]\d) ([+-])(\d\d)(\d\d)")
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_DAYS: dict[str, datetime | None] = {}  # "2 Nov 2026" -> its midnight in UTC (None: no such day)


def _day(text: str) -> datetime | None:
    found = _DAYS.get(text, False)
    if found is False:
        d, mon, y = text.split()
        try:
            found = datetime(int(y), _MONTHS[mon], int(d), tzinfo=timezone.utc)
        except ValueError:  # 31 Feb
            found = None
        if len(_DAYS) >= 10_000:
            _DAYS.clear()
        _DAYS[text] = found
    return found  # type: ignore[return-value]


def parse_date(value: str | None) -> datetime | None:
    """The instant of a Date value, in UTC; None when there is none or it is out of range."""
    if not value:
        return None
    m = _COMMON_DATE.fullmatch(value) if isinstance(value, str) else None
    if m is not None:
        day, hh, mm, ss, sign, zh, zm = m.groups()
        offset = int(zh) * 3600 + int(zm) * 60
        midnight = _day(day)
        # an offset of a day or more is refused by the stdlib's timezone(): its answer stands
        if midnight is not None and offset < 86400:
            seconds = int(hh) * 3600 + int(mm) * 60 + int(ss) + (-offset if sign == "+" else offset)
            try:
                dt = midnight + timedelta(seconds=seconds)
            except OverflowError:
                pass  # year 9999 plus a day: the stdlib decides
            else:
                return dt if EARLIEST <= dt < LATEST else None
    return stdlib_date(value)


def stdlib_date(value: str | None) -> datetime | None:
    """parse_date through the email package alone: the reference for its fast path."""
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    try:
        return checked_utc(dt)  # "-0000" or no zone: RFC 5322 says treat as UTC
    except OutOfRange:
        return None


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
    fallback_date: datetime | Callable[[], datetime | None] | None = None,
    thread_id: str = "",
    is_draft: bool = False,
) -> MailMessage:
    """Build a record from (header name, value) pairs. Raises UnusableMessage."""
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        text = value if type(value) is str else "" if value is None else str(value)
        got = fields.get(key := name.lower())
        if got is None:
            fields[key] = [text]
        else:
            got.append(text)
    return _message(fields, source_id=source_id, folder=folder, fallback_date=fallback_date, thread_id=thread_id,
                    is_draft=is_draft)


def _message(fields: dict[str, list[str]], *, source_id: str, folder: str,
             fallback_date: datetime | Callable[[], datetime | None] | None, thread_id: str = "",
             is_draft: bool = False) -> MailMessage:
    """The record of the fields of one message: lower-cased name -> its values in order."""

    def first(name: str) -> str | None:
        got = fields.get(name)
        return got[0] if got else None

    get, none = fields.get, ()
    senders = parse_addresses(get("from", none))
    date = parse_date(first("date")) or _received_date(get("received", none)) or _checked(
        fallback_date() if callable(fallback_date) else fallback_date)  # a callable: computed only when needed
    to = parse_addresses(get("to", none))
    cc = parse_addresses(get("cc", none))
    subject = decode_text(first("subject"))
    ids = parse_message_ids(first("message-id"))
    if date is None:
        if first("date"):
            raise UnusableMessage(f"Date header {clean_text(first('date'), 60)!r} is not a date "
                                  "between 1900 and 2199")
        raise UnusableMessage("no usable Date header")
    if not senders and not to and not cc:
        raise UnusableMessage("no sender and no recipients")
    message_id = ids[0] if ids else synthetic_message_id(
        senders[0].email if senders else "", date.isoformat(), subject,
        ",".join(a.email for a in to + cc),
    )
    return MailMessage(
        message_id=message_id,
        source_id=source_id,
        folder=_folder_name(folder),
        date=date,
        sender=senders[0] if senders else None,
        to=to,
        cc=cc,
        bcc=parse_addresses(get("bcc", none)),
        subject=subject,
        in_reply_to=parse_message_ids(first("in-reply-to")),
        references=parse_message_ids(first("references"))[-20:],
        list_headers={n: decode_text(fields[n][0]) for n in LIST_HEADER_NAMES if n in fields}
        if fields.keys() & _LIST_HEADER_SET else {},
        thread_id=thread_id,
        # Not inferred from our marker: a sent draft keeps it (Gmail does), and it is sent mail.
        is_draft=is_draft,
    )


_LIST_HEADER_SET = frozenset(LIST_HEADER_NAMES)


@lru_cache(maxsize=256)  # one folder's name is cleaned for every message read from it
def _folder_name(folder: str) -> str:
    return clean_text(folder, TEXT_LIMIT)


def _checked(dt: datetime | None) -> datetime | None:
    try:
        return checked_utc(dt) if dt is not None else None
    except OutOfRange:
        return None


def message_from_bytes(
    raw: bytes, *, source_id: str, folder: str,
    fallback_date: datetime | Callable[[], datetime | None] | None = None,
) -> MailMessage:
    """Build a record from a raw header block (or a whole message: the body is not read)."""
    fields = read_field_map(raw, _READ)
    if fields is None:  # not plain ASCII and plainly laid out: the stdlib parser decides
        return message_from_pairs(stdlib_fields(raw), source_id=source_id, folder=folder, fallback_date=fallback_date)
    return _message(fields, source_id=source_id, folder=folder, fallback_date=fallback_date)


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


class UnsafeDraft(ValueError):
    """A draft that cannot be written without changing who it goes to or what it says;
    ``str()`` is a one-line reason."""


DRAFT_NAME_LIMIT = 64  # a display name in a draft header; longer ones are cut (cosmetic only)
_MARKER = re.compile(r"[A-Za-z0-9._-]{1,200}")


def checked_draft(draft: Draft) -> Draft:
    """``draft`` with every header value made safe: addresses checked (raises UnsafeDraft),
    names and subject cleaned, threading ids that are not msg-ids dropped.

    Shared by :func:`render_draft` and connectors that hand a provider structured fields.
    """
    if not draft.to:
        raise UnsafeDraft("the draft has no recipient")
    if not valid_message_id(draft.message_id):
        raise UnsafeDraft(f"the draft's Message-ID {clean_text(draft.message_id, 80)!r} is not a valid msg-id")
    if not _MARKER.fullmatch(draft.marker):
        raise UnsafeDraft(f"the draft marker {clean_text(draft.marker, 80)!r} is not a plain token")
    refs = tuple(r for r in draft.references if valid_message_id(r))
    return Draft(
        marker=draft.marker,
        message_id=draft.message_id,
        sender=_checked_address(draft.sender, "sender"),
        to=tuple(_checked_address(a, "recipient") for a in draft.to),
        subject=_header_text(draft.subject, TEXT_LIMIT),
        body=draft.body,
        in_reply_to=draft.in_reply_to if valid_message_id(draft.in_reply_to) else "",
        references=refs,
        thread_id=draft.thread_id,
        created_at=draft.created_at,
    )


def _header_text(value: str, limit: int) -> str:
    # "=?" would let a parser take literal text for an RFC 2047 encoded word and decode
    # address syntax out of it (the email package does so when it refolds a header)
    return clean_text(value, limit).replace("=?", "= ?")


def _checked_address(address: Address, role: str) -> Address:
    """The address as an ASCII addr-spec (IDNA domain), or UnsafeDraft."""
    text = address.email.strip()
    local, at, domain = text.rpartition("@")
    try:
        if not at or not local or not domain:
            raise ValueError("no local part or domain")
        if not domain.isascii():
            domain = domain.encode("idna").decode("ascii")
        spec = f"{local}@{domain}"
        if headerregistry.Address(addr_spec=spec).addr_spec != spec:
            raise ValueError("not a plain addr-spec")
    except (ValueError, IndexError, UnicodeError, HeaderParseError) as err:  # the email package's ways to say no
        raise UnsafeDraft(f"{role} {clean_text(text, 80)!r} is not an address a draft can be written to "
                          f"({clean_text(err, 80) or type(err).__name__})") from None
    return Address(email=spec, name=_header_text(address.name, DRAFT_NAME_LIMIT))


def render_draft(draft: Draft) -> bytes:
    """The RFC 5322 form of a draft: plain text, UTF-8, with our marker header.

    Headers are built from structured values (``email.headerregistry.Address``), and the
    result is parsed back with both of the email package's policies: it must name exactly
    the intended recipients and carry exactly our header fields. The email package folds
    some display names wrongly (a long quoted name loses its quotes, a comma after a
    non-ASCII name is encoded away); when that happens the names are left out, and if even
    bare addresses do not survive, the draft is refused with UnsafeDraft.
    """
    safe = checked_draft(draft)
    problem = ""
    for with_names in (True, False):
        try:
            raw = _render(safe, with_names=with_names)
        except (ValueError, TypeError, HeaderParseError) as err:
            problem = f"it cannot be rendered ({clean_text(err, 80) or type(err).__name__})"
            continue
        problem = _mismatch(safe, raw) or ""
        if not problem:
            return raw
    raise UnsafeDraft(f"the draft does not read back as written: {problem}")


def _render(draft: Draft, *, with_names: bool) -> bytes:
    def mailbox(a: Address) -> headerregistry.Address:
        return headerregistry.Address(display_name=a.name if with_names else "", addr_spec=a.email)

    msg = EmailMessage()
    msg["From"] = mailbox(draft.sender)
    msg["To"] = [mailbox(a) for a in draft.to]
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


_DRAFT_FIELDS = {"from", "to", "subject", "date", "message-id", "in-reply-to", "references", MARKER_HEADER.lower(),
                 "mime-version", "content-type", "content-transfer-encoding"}


def _mismatch(draft: Draft, raw: bytes) -> str | None:
    """What differs between ``draft`` and how mail parsers read ``raw`` (None: nothing)."""
    want = [a.email.lower() for a in draft.to]
    head = raw.split(b"\n\n", 1)[0] + b"\n\n"
    modern = BytesParser(policy=default_policy).parsebytes(head)
    legacy = BytesHeaderParser(policy=compat32).parsebytes(head)
    fields = {k.lower() for k in legacy.keys()}
    if fields - _DRAFT_FIELDS or len(legacy.keys()) != len(fields):
        return "unexpected header fields"
    try:
        modern_to = [a.addr_spec.lower() for a in modern["To"].addresses]
        modern_from = [a.addr_spec.lower() for a in modern["From"].addresses]
    except Exception:  # noqa: BLE001 - the email package fails in odd ways on its own odd output
        return "the recipients cannot be parsed"
    legacy_to = [a.lower() for _, a in getaddresses(legacy.get_all("To", []))]
    if modern_to != want or legacy_to != want:
        return "the recipients differ"
    if modern_from != [draft.sender.email.lower()]:
        return "the sender differs"
    if parse_message_ids(legacy["Message-ID"]) != (draft.message_id,) or legacy[MARKER_HEADER] != draft.marker:
        return "the Message-ID or marker differs"
    return None
