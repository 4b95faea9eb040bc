"""Addresses that are not people: rooms, mailing lists, groups and calendar placeholders.

The rules live in one data file shipped with syncd (``config/nonpeople.toml``, installed as
``syncd/defaults/nonpeople.toml``), extended by the ``[nonpeople]`` section of the user's
config, which has the same shape. A ``certain`` rule keeps an address from ever becoming a
contact; a ``likely`` rule is only a hint, which ``syncd prune`` shows with the command that
ignores the address. Non-people that are learned rather than listed (mailing lists from the
List-Id and List-Post of received mail, rooms a calendar marks as such) are handled by ingest.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from syncd import paths
from syncd.config import Config, ConfigError, NonPeopleRules, NonPersonKind, NonPersonRule, as_data, make

RULES_FILE = "nonpeople.toml"
_CACHE_LIMIT = 200_000  # remembered verdicts per NonPeople; cleared beyond (names and addresses recur)

_PHRASE = {"room": "looks like a room", "list": "looks like a mailing list", "group": "looks like a group address",
           "placeholder": "is a calendar placeholder"}


@dataclass(frozen=True)
class Verdict:
    kind: NonPersonKind
    certain: bool
    why: str

    @property
    def phrase(self) -> str:
        """'looks like a room: the name says it is a meeting room'."""
        return f"{_PHRASE[self.kind]}: {self.why}" if self.why else _PHRASE[self.kind]


class _Rule:
    """One rule, compiled: exact addresses, domains (suffix or prefix), and two regexes."""

    def __init__(self, rule: NonPersonRule, certain: bool) -> None:
        self.verdict = Verdict(rule.kind, certain, rule.why)
        self.addresses = frozenset(rule.addresses)
        self.suffixes = tuple(d.removeprefix("*.") for d in rule.domains if not d.endswith(".*"))
        self.exact_domains = frozenset(self.suffixes)
        self.dot_suffixes = tuple("." + s for s in self.suffixes)  # subdomains
        self.prefixes = tuple(d[:-1] for d in rule.domains if d.endswith(".*"))  # "lists.*" -> "lists."
        self.local = re.compile("|".join(f"(?:{p})" for p in rule.local_parts), re.I) if rule.local_parts else None
        self.name = re.compile("|".join(f"(?:{p})" for p in rule.names), re.I) if rule.names else None

    def matches(self, address: str, local: str, domain: str) -> bool:
        """Whether the rule holds for ``address``, split once for all rules into local part and domain."""
        return (address in self.addresses
                or domain in self.exact_domains or domain.endswith(self.dot_suffixes)
                or domain.startswith(self.prefixes)
                or (self.local is not None and self.local.fullmatch(local) is not None))

    def by_name(self, name: str) -> bool:
        return self.name is not None and self.name.search(name) is not None


class NonPeople:
    """Judges addresses (and display names) against the rules; answers are remembered."""

    def __init__(self, rules: NonPeopleRules) -> None:
        self.rules = rules
        compiled = [_Rule(r, True) for r in rules.certain] + [_Rule(r, False) for r in rules.likely]
        self._by_address = [r for r in compiled if r.addresses or r.suffixes or r.prefixes or r.local]
        self._by_name = [r for r in compiled if r.name]
        self._addresses: dict[str, Verdict | None] = {}
        self._names: dict[str, Verdict | None] = {}

    @property
    def fingerprint(self) -> str:
        """Changes whenever the rules do (a change means: judge the known contacts again)."""
        return hashlib.sha1(_json(self.rules).encode()).hexdigest()

    def verdict(self, address: str, name: str = "") -> Verdict | None:
        """The first matching rule's verdict, certain rules first; None for a person.

        ``address`` is a normalised address (syncd.addresses.normalise)."""
        address, name = address[:320], name[:255]  # what the store keeps; bounds the work and the caches
        try:
            found = self._addresses[address]
        except KeyError:
            local, _, domain = address.rpartition("@")
            # certain rules come first in the list, so the first match is the strongest
            found = next((r.verdict for r in self._by_address if r.matches(address, local, domain)), None)
            if len(self._addresses) >= _CACHE_LIMIT:
                self._addresses.clear()
            self._addresses[address] = found
        if found is not None and found.certain:
            return found
        named = self._remember(self._names, name, lambda r: r.by_name(name), self._by_name) if name else None
        if named is not None and (named.certain or found is None):
            return named
        return found

    def certain(self, address: str, name: str = "") -> Verdict | None:
        """The verdict if it is certain: this address never becomes a contact."""
        v = self.verdict(address, name)
        return v if v is not None and v.certain else None

    @staticmethod
    def _remember(cache: dict[str, Verdict | None], key: str, test: Callable[[_Rule], bool],
                  rules: list[_Rule]) -> Verdict | None:
        if key in cache:
            return cache[key]
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        # certain rules come first in the list, so the first match is the strongest
        found = cache[key] = next((r.verdict for r in rules if test(r)), None)
        return found


def _json(rules: NonPeopleRules) -> str:
    # compact, in field order: the fingerprint stored with the judged contacts is unchanged
    return json.dumps(as_data(rules), separators=(",", ":"), ensure_ascii=False)


@lru_cache(maxsize=1)
def shipped_rules() -> NonPeopleRules:
    """The rules of the data file shipped with syncd."""
    path = paths.defaults_dir() / RULES_FILE
    try:
        # ours, and checked by a test against the config's types: made, not checked again
        return make(NonPeopleRules, tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, TypeError, KeyError, ValueError) as err:  # a broken installation
        raise ConfigError(f"{path}: the shipped non-people rules cannot be read ({err}); reinstall syncd") from None


def for_config(config: Config) -> NonPeople:
    """The shipped rules plus the config's [nonpeople] rules."""
    return _for_rules(_json(config.nonpeople))


@lru_cache(maxsize=8)
def _for_rules(user_json: str) -> NonPeople:
    user = make(NonPeopleRules, json.loads(user_json))
    base = shipped_rules()
    return NonPeople(NonPeopleRules(certain=[*user.certain, *base.certain], likely=[*user.likely, *base.likely]))
