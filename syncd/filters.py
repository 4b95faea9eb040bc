"""What is not a person, and what is not a conversation.

Machine-made mail never makes an interaction, and bulk and list mail only when it answers you
(syncd.settle); addresses that belong to machines (no-reply, mailer-daemon, notifications)
never become contacts. Rooms, lists, groups and placeholders are in syncd.nonpeople.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from syncd.addresses import domain_of, normalise
from syncd.records import MailMessage

_AUTOMATED_LOCAL = re.compile(
    r"""^(
        no[-_.]?reply | do[-_.]?not[-_.]?reply | donotreply | noreply[-_.].* | .*[-_.]no[-_.]?reply
      | mailer[-_.]daemon | postmaster | bounces?(\+.*)? | .*[-_.]bounces?(\+.*)?
      | notifications? | notify | .*[-_.]notifications? | alerts? | automated | auto[-_.]?confirm
      | calendar[-_.]notification | calendar-server | billing | invoices? | receipts?
      | newsletters? | news | marketing | unsubscribe | digest | updates
    )$""",
    re.VERBOSE,
)
_AUTOMATED_DOMAIN_PREFIXES = ("bounce.", "bounces.", "email.", "mail.notifications.", "notifications.")
_BULK_PRECEDENCE = {"bulk", "list", "junk"}


def automated_address(address: str) -> bool:
    """True for addresses that belong to machines, not people (no-reply@, mailer-daemon@, ...)."""
    local, _, domain = address.partition("@")
    if _AUTOMATED_LOCAL.match(local):
        return True
    return domain.startswith(_AUTOMATED_DOMAIN_PREFIXES)


def list_reason(msg: MailMessage) -> str | None:
    """Why this copy looks like it came through a mailing list or a bulk sender, or None.

    A list's copy of a message carries these even when the message is a reply to you (the
    list was in Cc), so this alone does not make a message noise (see syncd.settle)."""
    h = msg.list_headers
    if h.get("list-id"):
        return "mailing list (List-Id)"
    if h.get("list-unsubscribe"):
        return "bulk (List-Unsubscribe)"
    if h.get("precedence", "").strip().lower() in _BULK_PRECEDENCE:
        return f"bulk (Precedence: {h['precedence'].strip().lower()})"
    return None


def automated_reason(msg: MailMessage) -> str | None:
    """Why this copy is machine-made (auto-replies, notifications), or None."""
    h = msg.list_headers
    auto = h.get("auto-submitted", "").strip().lower()
    if auto and auto != "no":
        return f"automated (Auto-Submitted: {auto.split(';')[0]})"
    if h.get("x-auto-response-suppress", "").strip().lower() in ("all", "oof"):
        return "automated (X-Auto-Response-Suppress)"
    return None


def bulk_reason(msg: MailMessage) -> str | None:
    """Why this message is bulk or automated mail, or None for a person-to-person message."""
    return list_reason(msg) or automated_reason(msg)


def list_addresses(msg: MailMessage) -> list[tuple[str, str]]:
    """Mailing-list addresses this message reveals: List-Post mailto, List-Id's address form, and
    the recipients that carry the list's name at the list's site (the aliases people write to:
    List-Id <axp-hardware.lists.alphalinux.org>, To: axp-hardware@talisman.alphalinux.org).

    Returns (normalised address, list id).
    """
    h = msg.list_headers
    list_id = h.get("list-id", "")
    found: list[tuple[str, str]] = []
    for m in re.finditer(r"<mailto:([^>?]+)", h.get("list-post", ""), re.I):
        addr = normalise(m.group(1))
        if addr:
            found.append((addr, list_id))
    # List-Id: "Dev list <dev.lists.example.org>" is the list dev@lists.example.org by convention.
    m = re.search(r"<([^<>@\s]+)>", list_id) or re.fullmatch(r"\s*([^<>@\s]+)\s*", list_id)
    if m and "." in m.group(1):
        ident = m.group(1).strip().lower()
        local, _, domain = ident.partition(".")
        if local and "." in domain:
            found.append((f"{local}@{domain}", list_id))
            site = _site(domain)
            for a in (*msg.to, *msg.cc):
                addr = normalise(a.email)
                name, _, where = addr.partition("@")
                if name == local and _site(where) == site:
                    found.append((addr, list_id))
    return found


def _site(domain: str) -> str:
    """The registered domain, roughly: lists.alphalinux.org and talisman.alphalinux.org are one
    site; so are lists.example.co.uk and example.co.uk (a short label before a country code)."""
    labels = domain.split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2 else 2
    return ".".join(labels[-keep:])


@dataclass
class IgnoreRules:
    """The user's silences: exact addresses, whole domains, and shell-style patterns."""

    addresses: set[str] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    patterns: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, rules: Iterable[tuple[str, str]]) -> IgnoreRules:
        out = cls()
        for kind, value in rules:
            value = value.strip().lower()
            if kind == "address":
                out.addresses.add(normalise(value) or value)
            elif kind == "domain":
                out.domains.add(value.lstrip("@"))
            elif kind == "pattern":
                out.patterns.append(value)
        return out

    def matches(self, address: str) -> bool:
        if address in self.addresses:
            return True
        domain = domain_of(address)
        if domain in self.domains or any(domain.endswith("." + d) for d in self.domains):
            return True
        return any(fnmatch.fnmatchcase(address, p) for p in self.patterns)
