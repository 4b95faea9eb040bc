"""What is not a person and what is not a conversation."""

from datetime import datetime, timezone

import pytest

from syncd.filters import IgnoreRules, automated_address, bulk_reason, list_addresses
from syncd.records import Address, MailMessage


def mail(**headers: str) -> MailMessage:
    return MailMessage(message_id="x@y", source_id="1", folder="INBOX", date=datetime.now(timezone.utc),
                       sender=Address("a@b.example"), list_headers=headers)


@pytest.mark.parametrize("headers, expected", [
    ({"list-id": "<dev.lists.example.org>"}, "mailing list"),
    ({"list-unsubscribe": "<mailto:u@x>"}, "bulk"),
    ({"precedence": "Bulk"}, "bulk"),
    ({"precedence": "junk"}, "bulk"),
    ({"auto-submitted": "auto-replied"}, "automated"),
    ({"auto-submitted": "no"}, None),
    ({}, None),
])
def test_bulk_and_automated_mail(headers: dict[str, str], expected: str | None) -> None:
    reason = bulk_reason(mail(**headers))
    assert (reason is None) if expected is None else (expected in reason)  # type: ignore[operator]


@pytest.mark.parametrize("address", ["no-reply@x.example", "noreply@github.com", "do-not-reply@bank.example",
                                     "mailer-daemon@mx.example", "notifications@github.com",
                                     "dev-bounces+ada=x.org@lists.x.org", "calendar-notification@google.com"])
def test_machine_addresses(address: str) -> None:
    assert automated_address(address)


@pytest.mark.parametrize("address", ["grace@navy.example", "noreen@x.example", "newsroom@paper.example"])
def test_people_are_not_machines(address: str) -> None:
    assert not automated_address(address)


def test_list_addresses_are_learned_from_list_post_and_list_id() -> None:
    got = list_addresses(mail(**{"list-post": "<mailto:python-dev@python.org>",
                                 "list-id": "Python development <python-dev.python.org>"}))
    assert {a for a, _ in got} == {"python-dev@python.org"}


def test_ignore_rules_match_addresses_domains_subdomains_and_patterns() -> None:
    rules = IgnoreRules.build([("address", "Boss@Corp.example"), ("domain", "spam.example"),
                               ("pattern", "*@notifications.*")])
    assert rules.matches("boss@corp.example")
    assert rules.matches("x@spam.example") and rules.matches("x@eu.spam.example")
    assert rules.matches("me@notifications.example.com")
    assert not rules.matches("friend@corp.example")


def test_the_aliases_people_write_a_list_to_are_learned_from_its_copies() -> None:
    """Mailman's List-Id names lists.alphalinux.org; people wrote to the site's other names."""
    msg = mail(**{"list-id": "Alpha hardware <axp-hardware.lists.alphalinux.org>"})
    msg.to = (Address("axp-hardware@talisman.alphalinux.org"), Address("axp-list@redhat.com"))
    msg.cc = (Address("axp-hardware@alphalinux.org"), Address("axp-hardware@elsewhere.example"),
              Address("rdp@talisman.alphalinux.org"))
    assert {a for a, _ in list_addresses(msg)} == {"axp-hardware@lists.alphalinux.org", "axp-hardware@alphalinux.org",
                                                   "axp-hardware@talisman.alphalinux.org"}
    uk = mail(**{"list-id": "<dev.lists.example.co.uk>"})
    uk.to = (Address("dev@example.co.uk"), Address("dev@another.co.uk"))
    assert {a for a, _ in list_addresses(uk)} == {"dev@lists.example.co.uk", "dev@example.co.uk"}
