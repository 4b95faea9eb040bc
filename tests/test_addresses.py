"""Address normalisation: one spelling per mailbox, so one person is one contact."""

import pytest

from syncd.addresses import first_name_from, normalise, organisation_name
from syncd.headers import parse_addresses


@pytest.mark.parametrize("raw, expected", [
    ("Grace@Navy.Example", "grace@navy.example"),
    ("<grace@navy.example>", "grace@navy.example"),
    ("mailto:grace@navy.example", "grace@navy.example"),
    ("alan.turing@gmail.com", "alanturing@gmail.com"),
    ("Alan.Turing+enigma@googlemail.com", "alanturing@gmail.com"),
    ("first.last+tag@example.org", "first.last+tag@example.org"),  # only Gmail ignores dots and tags
    ("not an address", ""),
    ("two@at@signs.example", ""),
    ("nodomain@", ""),
    ("user@localhost", ""),
])
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_display_names_and_encoded_words_are_decoded() -> None:
    got = parse_addresses(['=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@firma.example>, "Hopper, Grace" <grace@navy.example>'])
    assert [(a.name, a.email) for a in got] == [("Jörg Müller", "joerg@firma.example"),
                                                ("Hopper, Grace", "grace@navy.example")]


def test_group_syntax_is_flattened_and_empty_groups_vanish() -> None:
    got = parse_addresses(["undisclosed-recipients:;", "Team: a@x.example, B <b@y.example>;", "c@z.example"])
    assert [a.email for a in got] == ["a@x.example", "b@y.example", "c@z.example"]


@pytest.mark.parametrize("name, address, expected", [
    ("Grace Hopper", "grace@navy.example", "Grace"),
    ("Hopper, Grace", "g@navy.example", "Grace"),
    ("", "linus.torvalds@kernel.example", "Linus"),
    ("", "j@x.example", ""),
    ("grace@navy.example", "grace@navy.example", "Grace"),
])
def test_first_name_guess(name: str, address: str, expected: str) -> None:
    assert first_name_from(name, address) == expected


@pytest.mark.parametrize("domain, name", [
    ("navy.example", "Navy"),
    ("mail.acme-corp.co.uk", "Acme Corp"),  # co.uk is a public suffix: the company is the label before it
    ("mail.ibm.de", "IBM"),  # not "Mail"
    ("corp.sap.fr", "SAP"),  # not "Corp"
    ("mit.edu", "MIT"),
    ("nasa.gov", "NASA"),
    ("news.bbc.co.uk", "BBC"),
    ("lovelace-labs.example", "Lovelace Labs"),
    ("research.university.ac.jp", "University"),
    ("Mail.Kernel.ORG.", "Kernel"),
])
def test_organisation_names_come_from_the_public_suffix_list(domain: str, name: str) -> None:
    assert organisation_name(domain) == name


def test_the_fast_path_agrees_with_the_full_rfc5322_parser() -> None:
    from syncd.headers import _NEEDS_FULL_PARSER, parse_addresses, stdlib_addresses

    names = ["", "Grace Hopper", "=?utf-8?q?J=C3=B6rg?=", "Dr. No", "O'Brien", "A.B."]
    addrs = ["grace@navy.example", "first.last+tag@sub.example.org", "x_y@z.example"]
    for n in names:
        for a in addrs:
            for value in (f"{n} <{a}>" if n else a, f"{n} <{a}>, other@x.example" if n else f"{a},  other@x.example"):
                assert parse_addresses([value]) == stdlib_addresses([value]), value
    # quoting, comments and groups always take the full parser
    for value in ('"Hopper, Grace" <g@n.example>', "g@n.example (Grace)", "Team: a@b.example;"):
        assert _NEEDS_FULL_PARSER.search(value) is not None
