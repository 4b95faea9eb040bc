"""Graph message JSON to :class:`MailMessage`.

What we ask Graph for (``$select``), and why:

* every folder: internetMessageId (the cross-account key), from, to/cc/bcc recipients,
  sentDateTime / receivedDateTime, subject, conversationId (Graph's thread id);
* the inbox also: internetMessageHeaders. Received mail is where mailing lists and automated
  senders show up, and the headers carry List-Id, List-Unsubscribe, Precedence,
  Auto-Submitted, In-Reply-To and References. Mail the user sent needs none of that (it is
  not bulk mail, and conversationId threads it), and Graph returns no transport headers
  for Sent Items anyway, so selecting them there would only cost bandwidth.

Delta rows come in three shapes: a full item, a deletion (``@removed``: ignored, history is
never deleted), and a property-change notice that carries only ``id`` and what changed
(e.g. ``isRead``): ignored too, we already have that message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syncd.headers import (LIST_HEADER_NAMES, TEXT_LIMIT, UnusableMessage, decode_text, parse_message_ids,
                           synthetic_message_id)
from syncd.records import Address, MailMessage
from syncd.sanitize import clean_address, clean_text
from syncd.timeutil import checked_utc

BASE_SELECT = ("internetMessageId", "from", "toRecipients", "ccRecipients", "bccRecipients", "sentDateTime",
               "receivedDateTime", "subject", "conversationId")
HEADERS_SELECT = BASE_SELECT + ("internetMessageHeaders",)
_DATES = {"sentDateTime", "receivedDateTime"}


def select_for(folder: str) -> tuple[str, ...]:
    return HEADERS_SELECT if folder.lower() == "inbox" else BASE_SELECT


def is_change_notice(item: dict[str, Any]) -> bool:
    """A deletion or a bare property change: nothing for us to record.

    Graph sends changed messages with only the changed properties at times (reported for
    isRead toggles); a row without either date property is such a notice, not a message.
    """
    return "@removed" in item or not (_DATES & item.keys())


def parse_graph_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return checked_utc(datetime.fromisoformat(value))
    except ValueError:  # not a date, or out of range: "9999-12-31T23:59:59-12:00"
        return None


def graph_address(value: Any) -> Address | None:
    """``{"emailAddress": {"name": ..., "address": ...}}`` to an Address (None if unusable)."""
    if not isinstance(value, dict):
        return None
    inner = value.get("emailAddress")
    if not isinstance(inner, dict):
        return None
    email = clean_address(inner.get("address")) if isinstance(inner.get("address"), str) else ""
    if not email:
        return None
    name = inner.get("name")
    name = decode_text(name) if isinstance(name, str) else ""
    return Address(email=email, name="" if name.lower() == email.lower() else name)


def graph_addresses(value: Any) -> tuple[Address, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(a for a in (graph_address(v) for v in value) if a is not None)


def message_from_graph(item: dict[str, Any], folder: str) -> MailMessage:
    """Build the record for one full delta row. Raises UnusableMessage."""
    date = parse_graph_datetime(item.get("sentDateTime")) or parse_graph_datetime(item.get("receivedDateTime"))
    if date is None:
        raise UnusableMessage("no usable sentDateTime/receivedDateTime")
    sender = graph_address(item.get("from"))
    to = graph_addresses(item.get("toRecipients"))
    cc = graph_addresses(item.get("ccRecipients"))
    if sender is None and not to and not cc:
        raise UnusableMessage("no sender and no recipients")
    subject = item.get("subject") if isinstance(item.get("subject"), str) else ""
    headers: dict[str, str] = {}
    raw_headers = item.get("internetMessageHeaders")
    if isinstance(raw_headers, list):
        for h in raw_headers:
            if isinstance(h, dict) and isinstance(h.get("name"), str) and isinstance(h.get("value"), str):
                headers.setdefault(h["name"].lower(), h["value"])
    ids = parse_message_ids(item.get("internetMessageId") if isinstance(item.get("internetMessageId"), str) else None)
    message_id = ids[0] if ids else synthetic_message_id(
        sender.email if sender else "", date.isoformat(), subject, ",".join(a.email for a in to + cc))
    conversation = item.get("conversationId")
    return MailMessage(
        message_id=message_id[:500],
        source_id=str(item.get("id", "")),
        folder=clean_text(folder, TEXT_LIMIT),
        date=date,
        sender=sender,
        to=to,
        cc=cc,
        bcc=graph_addresses(item.get("bccRecipients")),
        subject=clean_text(subject, TEXT_LIMIT),
        in_reply_to=parse_message_ids(headers.get("in-reply-to")),
        references=parse_message_ids(headers.get("references"))[-20:],
        list_headers={n: decode_text(headers[n])[:500] for n in LIST_HEADER_NAMES if n in headers},
        thread_id=conversation if isinstance(conversation, str) else "",
        # Not inferred from our marker header: a sent draft keeps it, and it is sent mail.
        is_draft=item.get("isDraft") is True,
    )
