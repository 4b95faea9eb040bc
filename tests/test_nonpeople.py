"""The non-people rules: the shipped data file, your additions, and what is only a hint."""

from __future__ import annotations

import pytest

from syncd.config import Config, validate
from syncd.nonpeople import for_config

RULES = for_config(Config())


@pytest.mark.parametrize("address, name, kind", [
    ("unknownorganizer@calendar.google.com", "", "placeholder"),
    ("c_1234@group.calendar.google.com", "", "placeholder"),
    ("r-17@resource.calendar.google.com", "", "room"),
    ("oslo@corp.example", "Oslo Meeting room (8)", "room"),
    ("r412@corp.example", "Room 4.12", "room"),
    ("mr-berlin@corp.example", "Besprechungsraum Berlin", "room"),
    ("linux-media@vger.kernel.org", "", "list"),
    ("python-dev@lists.python.org", "", "list"),
    ("kernel-dev@googlegroups.com", "", "list"),
    ("allusers-berlin@corp.example", "DL All Users Berlin", "group"),
    ("everyone@corp.example", "", "group"),
])
def test_what_is_certainly_not_a_person(address: str, name: str, kind: str) -> None:
    verdict = RULES.certain(address, name)
    assert verdict is not None and verdict.kind == kind and verdict.why


@pytest.mark.parametrize("address, name, kind", [
    ("room-4@corp.example", "", "room"),
    ("python-users@python.example", "", "list"),
    ("axp-list@redhat.com", "", "list"),
    ("team@startup.example", "", "group"),
    ("dl-sales@corp.example", "", "group"),
])
def test_what_only_looks_like_it_is_a_hint(address: str, name: str, kind: str) -> None:
    verdict = RULES.verdict(address, name)
    assert verdict is not None and verdict.kind == kind and not verdict.certain
    assert RULES.certain(address, name) is None


@pytest.mark.parametrize("address, name", [
    ("grace@navy.example", "Grace Hopper"), ("john.l@corp.example", ""), ("roomba@robots.example", "Roomba Support"),
    ("hroom@corp.example", "Harry Room"), ("dev@corp.example", "Dev Patel"),
])
def test_people_are_people(address: str, name: str) -> None:
    assert RULES.verdict(address, name) is None


def test_your_rules_come_first_and_change_the_fingerprint() -> None:
    mine = for_config(validate(Config, {"nonpeople": {"certain": [
        {"kind": "room", "why": "our rooms are planets", "names": ["^(?:mercury|venus|mars)$"]}]}}))
    verdict = mine.certain("mars@corp.example", "Mars")
    assert verdict is not None and verdict.why == "our rooms are planets"
    assert RULES.verdict("mars@corp.example", "Mars") is None
    assert mine.fingerprint != RULES.fingerprint
