"""Address normalisation: one spelling per mailbox, so one person is one contact."""

from __future__ import annotations

import re
from functools import lru_cache

# Providers where dots in the local part are ignored and googlemail.com is gmail.com.
_GMAIL = {"gmail.com", "googlemail.com"}

# Free-mail domains: a person there does not belong to an organisation of that name.
FREEMAIL = frozenset(
    """
    gmail.com googlemail.com outlook.com hotmail.com hotmail.co.uk hotmail.fr hotmail.de live.com
    live.co.uk msn.com yahoo.com yahoo.co.uk yahoo.fr yahoo.de ymail.com rocketmail.com aol.com
    icloud.com me.com mac.com proton.me protonmail.com pm.me gmx.de gmx.net gmx.com gmx.at
    web.de t-online.de freenet.de posteo.de posteo.net mailbox.org fastmail.com fastmail.fm
    hey.com zoho.com yandex.ru yandex.com mail.ru mail.com qq.com 163.com 126.com naver.com
    orange.fr free.fr laposte.net wanadoo.fr libero.it virgilio.it tutanota.com tuta.io
    comcast.net verizon.net att.net bigpond.com btinternet.com sky.com seznam.cz wp.pl o2.pl
    """.split()
)

_LOCAL_NOISE = re.compile(r"\+.*$")


def _parts(address: str) -> tuple[str, str] | str:
    """(local part, domain) of an address, lower-cased; or, for something that is not an
    address, why not (one short phrase)."""
    addr = address.strip().strip("<>").strip().lower()
    if addr.startswith("mailto:"):
        addr = addr[7:]
    if addr.count("@") != 1:
        return "no @" if "@" not in addr else "more than one @"
    if " " in addr:
        return "a space inside"
    local, domain = addr.split("@")
    domain = domain.rstrip(".")
    if not local:
        return "nothing before the @"
    if not domain:
        return "no domain"
    if "." not in domain:
        return "no dot in the domain"
    return local, domain


@lru_cache(maxsize=65536)  # the same few thousand addresses recur in every batch
def normalise(address: str) -> str:
    """Canonical form of an address: lower case, no angle brackets, Gmail dots and +tags folded.

    Returns "" for something that is not an address (:func:`unusable_reason` says why).
    """
    parts = _parts(address)
    if isinstance(parts, str):
        return ""
    local, domain = parts
    if domain in _GMAIL:
        local = _LOCAL_NOISE.sub("", local).replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def unusable_reason(address: str) -> str | None:
    """Why :func:`normalise` rejects ``address`` ("no dot in the domain", ...), or None."""
    parts = _parts(address)
    return parts if isinstance(parts, str) else None


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def first_name_from(display_name: str, address: str) -> str:
    """A best guess at how to greet someone: the display name's first word, else the local part."""
    name = display_name.strip().strip('"').strip()
    if "," in name:  # "Hopper, Grace"
        name = name.split(",", 1)[1].strip()
    if name and "@" not in name:
        first = name.split()[0]
        if first.isalpha() or "-" in first:
            return first[:1].upper() + first[1:]
    local = address.partition("@")[0]
    first = re.split(r"[._\-+0-9]", local)[0]
    return first.capitalize() if len(first) > 1 else ""


# Longer names that are acronyms too; names of two or three letters are taken for acronyms anyway.
ACRONYMS = frozenset("""
    nasa cern ieee nato unesco unicef ohchr unhcr embl esmo fifa uefa ncbi nist noaa darpa
    inria csiro cnrs anssi bafin ebay nyse cnbc msnbc espn bmw
""".split())


@lru_cache(maxsize=1)
def _public_suffixes():  # type: ignore[no-untyped-def]
    """The Public Suffix List as the publicsuffixlist package bundles it: read once, no network."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def registrable_domain(domain: str) -> str:
    """The part of ``domain`` a company registers: 'mail.ibm.de' -> 'ibm.de', 'a.b.co.uk' -> 'b.co.uk'."""
    domain = domain.strip().lower().rstrip(".")
    return _public_suffixes().privatesuffix(domain) or domain


def organisation_name(domain: str) -> str:
    """A readable name from the registrable part of a domain: 'mail.ibm.de' -> 'IBM',
    'corp.sap.fr' -> 'SAP', 'mail.acme-corp.co.uk' -> 'Acme Corp', 'nasa.gov' -> 'NASA'."""
    label = registrable_domain(domain).split(".")[0]
    return " ".join(_word(w) for w in re.split(r"[-_]", label) if w)


def _word(word: str) -> str:
    return word.upper() if len(word) <= 3 or word in ACRONYMS else word.capitalize()
