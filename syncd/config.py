"""The TOML configuration: its shape, its defaults, and errors a person can act on.

Every table refuses unknown keys (a typo must not silently fall back to a default), and
every error names the file, the key, the bad value and what is allowed.

The shape is plain frozen dataclasses: their bounds (field metadata) and checks
(``__post_init__``) run whenever one is made. pydantic checks the types of a file's values,
and only the first time syncd sees that exact file (:mod:`syncd.configcache` remembers the
result): defining pydantic models and loading pydantic cost a read command a quarter of its
time (issue 11).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from datetime import time
from functools import cache
from pathlib import Path
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd import paths

if TYPE_CHECKING:
    from pydantic import ValidationError

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
T = TypeVar("T")


class ConfigError(Exception):
    """The configuration cannot be used; ``str()`` is the message for the user."""


class FieldProblem(ValueError):
    """A value a check refused: which key, the value, and why (for the message)."""

    def __init__(self, key: str, value: object, why: str) -> None:
        super().__init__(why)
        self.key, self.value, self.why = key, value, why


class TableProblems(ValueError):
    """Every problem of one table, found together (so that one message names them all)."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.key}: {p.why}" for p in problems))
        self.problems = problems


def num(default: float, *, ge: float | None = None, gt: float | None = None, le: float | None = None) -> Any:
    """A number field with its bounds (checked by _Strict.__post_init__; under a key of its own,
    which pydantic leaves alone, so that a bound is reported with the table's other problems)."""
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le)) if v is not None}
    return field(default=default, metadata={"bounds": bounds})


def many() -> Any:
    return field(default_factory=list)


_RULES = {"ge": ("greater than or equal to", lambda v, b: v >= b), "gt": ("greater than", lambda v, b: v > b),
          "le": ("less than or equal to", lambda v, b: v <= b)}


@dataclass(frozen=True)
class _Strict:
    # Read by pydantic when it checks a file against these dataclasses: unknown keys are errors.
    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    def __post_init__(self) -> None:
        problems = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            for rule, bound in f.metadata.get("bounds", {}).items():
                words, holds = _RULES[rule]
                if isinstance(value, int | float) and not holds(value, bound):
                    problems.append(FieldProblem(f.name, value, f"should be {words} {bound:g}"))
        problems.extend(self.check())
        if problems:
            raise TableProblems(problems)

    def check(self) -> Iterator[FieldProblem]:
        """Checks and normalisations of one table (they must be idempotent: they run again
        when a remembered config is made anew)."""
        return iter(())

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)  # normalising a frozen instance while it is made


def _emails(key: str, values: list[str]) -> Iterator[FieldProblem]:
    for v in values:
        if "@" not in v or v.strip() != v or " " in v:
            yield FieldProblem(key, v, "is not an email address")


def _domains(values: list[str]) -> list[str]:
    return [v.strip().lower().lstrip("@") for v in values]


@dataclass(frozen=True)
class Me(_Strict):
    name: str = ""
    addresses: list[str] = many()  # your own addresses
    aliases: list[str] = many()  # other addresses you send from
    internal_domains: list[str] = many()  # colleagues' domains

    def check(self) -> Iterator[FieldProblem]:
        yield from _emails("addresses", self.addresses)
        yield from _emails("aliases", self.aliases)
        self._set("internal_domains", _domains(self.internal_domains))


@dataclass(frozen=True)
class Weights(_Strict):
    meeting: float = num(2.0, ge=0)  # a 1:1 meeting (as much as a mail and its answer)
    sent_to: float = num(1.0, ge=0)  # a mail you sent them (To)
    sent_cc: float = num(0.4, ge=0)  # a mail you sent them in Cc
    received: float = num(1.0, ge=0)  # a reply or mail from them


@dataclass(frozen=True)
class TierThresholds(_Strict):
    inner: float = num(70, ge=0, le=100)
    warm: float = num(40, ge=0, le=100)
    cooling: float = num(15, ge=0, le=100)
    cold: float = num(3, ge=0, le=100)

    def check(self) -> Iterator[FieldProblem]:
        if not self.inner >= self.warm >= self.cooling >= self.cold:
            yield FieldProblem("", dataclasses.asdict(self), "thresholds must satisfy inner >= warm >= cooling >= cold")


@dataclass(frozen=True)
class Warmth(_Strict):
    half_life_days: float = num(30, gt=0)  # how fast a new relationship cools
    tenure_bonus_per_year: float = num(0.75, ge=0)  # half-life grows by this share per year known
    max_half_life_days: float = num(180, gt=0)
    saturation: float = num(6.0, gt=0)  # activity at which the score reaches 63
    one_way_factor: float = num(0.25, ge=0, le=1)  # score share kept when they never answer
    weights: Weights = field(default_factory=Weights)
    tiers: TierThresholds = field(default_factory=TierThresholds)


@dataclass(frozen=True)
class Cadence(_Strict):
    """Days between check-ins, by the tier a contact stood at when you last interacted; 0 = none."""

    inner: int = num(21, ge=0)
    warm: int = num(45, ge=0)
    cooling: int = num(90, ge=0)
    cold: int = num(0, ge=0)
    dormant: int = num(0, ge=0)


@dataclass(frozen=True)
class Target(_Strict):
    name: str
    domains: list[str] = many()
    people: list[str] = many()
    cadence_days: int = num(0, ge=0)  # check-in cadence for people there; 0 = by tier

    def check(self) -> Iterator[FieldProblem]:
        self._set("domains", [v.lower().lstrip("@") for v in self.domains])
        return iter(())


@dataclass(frozen=True)
class Ignore(_Strict):
    addresses: list[str] = many()
    domains: list[str] = many()
    patterns: list[str] = many()  # shell-style, e.g. '*-bounces@*'


NonPersonKind = Literal["room", "list", "group", "placeholder"]


@dataclass(frozen=True)
class NonPersonRule(_Strict):
    """One rule of syncd/nonpeople.toml or of the config's [nonpeople] (same shape)."""

    kind: NonPersonKind
    why: str = ""  # shown by `syncd prune` and `syncd contact`
    addresses: list[str] = many()  # exact addresses
    domains: list[str] = many()  # a domain and its subdomains; 'lists.*' = domains beginning 'lists.'
    local_parts: list[str] = many()  # regular expressions, whole local part
    names: list[str] = many()  # regular expressions found in the display name

    def check(self) -> Iterator[FieldProblem]:
        self._set("addresses", _domains(self.addresses))
        self._set("domains", _domains(self.domains))
        for key in ("local_parts", "names"):
            for v in getattr(self, key):
                try:
                    re.compile(v)
                except re.error as err:
                    yield FieldProblem(key, v, f"is not a regular expression ({err})")


@dataclass(frozen=True)
class NonPeopleRules(_Strict):
    """Addresses that are not people. ``certain``: never a contact; ``likely``: flagged by prune."""

    certain: list[NonPersonRule] = many()
    likely: list[NonPersonRule] = many()


@dataclass(frozen=True)
class Followups(_Strict):
    enabled: bool = True
    delay_hours: float = num(1, ge=0)  # after a meeting ends, when the draft is written
    overdue_hours: float = num(24, gt=0)  # after a meeting ends, when it counts as overdue
    expire_days: float = num(7, gt=0)  # an unwritten follow-up older than this expires
    checkins: bool = True
    daily_cap: int = num(3, ge=0)  # drafts written per day at most
    working_days: list[str] = field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    working_hours: str = "09:00-18:00"  # HH:MM-HH:MM, local time; 24:00 allowed
    max_recipients: int = num(6, ge=1)  # meetings with more outside people get no follow-up
    include_internal: bool = False
    drafts_account: str = ""  # account that receives drafts; default: the one you last wrote from
    templates_dir: str = ""  # folder with your own followup.txt / checkin.txt

    def check(self) -> Iterator[FieldProblem]:
        days = [v.lower()[:3] for v in self.working_days]
        for given, day in zip(self.working_days, days):
            if day not in _DAYS:
                yield FieldProblem("working_days", given, f"is not a day; use {', '.join(_DAYS)}")
        self._set("working_days", days)
        try:
            working_hours_span(self.working_hours)
        except ValueError as err:
            yield FieldProblem("working_hours", self.working_hours, str(err))


def working_hours_span(value: str) -> tuple[time, time | None]:
    """Parse "09:00-18:00"; an end of 24:00 is returned as None (end of day)."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if not m:
        raise ValueError(f"{value!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = map(int, m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{value!r} is not a valid time span")
    start, end = time(h1, m1), (None if h2 == 24 else time(h2, m2))
    if end is not None and end <= start:
        raise ValueError(f"{value!r}: the end must come after the start")
    return start, end


@dataclass(frozen=True)
class SyncSettings(_Strict):
    window_past_days: int = num(365, ge=1, le=3650)  # calendars: how far back the first sync reads
    window_future_days: int = num(30, ge=1, le=730)  # calendars: how far ahead
    interval_minutes: float = num(5, gt=0)  # daemon: time between syncs of an account


@dataclass(frozen=True)
class AccountConfig(_Strict):
    """An [[accounts]] table: name, kind, enabled, and the kind's own settings (``raw_settings``,
    checked by the connector: syncd.connectors.settings_model)."""

    name: str
    kind: str
    enabled: bool = True
    raw_settings: dict[str, Any] = field(default_factory=dict)

    OWN_KEYS: ClassVar[frozenset[str]] = frozenset({"name", "kind", "enabled"})

    def check(self) -> Iterator[FieldProblem]:
        if not _ACCOUNT_NAME.fullmatch(self.name):
            yield FieldProblem("name", self.name, "should be letters, digits, '_', '.' or '-' (at most 64), "
                                                  "starting with a letter or digit")


@dataclass(frozen=True)
class Config(_Strict):
    database_url: str = ""
    timezone: str = ""
    me: Me = field(default_factory=Me)
    accounts: list[AccountConfig] = many()
    warmth: Warmth = field(default_factory=Warmth)
    cadence: Cadence = field(default_factory=Cadence)
    targets: list[Target] = many()
    ignore: Ignore = field(default_factory=Ignore)
    nonpeople: NonPeopleRules = field(default_factory=NonPeopleRules)
    followups: Followups = field(default_factory=Followups)
    sync: SyncSettings = field(default_factory=SyncSettings)

    # filled in by load_config, not by the file
    path: Path | None = None
    # a team member's accounts keep their tokens apart from another member's of the same name
    state_namespace: str = ""
    # each account's settings as its connector checked them (made when first asked for)
    account_settings: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    NOT_IN_FILE: ClassVar[frozenset[str]] = frozenset({"path", "state_namespace", "account_settings"})

    def check(self) -> Iterator[FieldProblem]:
        if self.timezone:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                yield FieldProblem("timezone", self.timezone, "is not a time zone name such as 'Europe/Berlin'")
        seen: set[str] = set()
        for acc in self.accounts:
            if acc.name in seen:
                yield FieldProblem("", acc.name, f"two accounts are named {acc.name!r}; names must be unique")
            seen.add(acc.name)

    @property
    def db_url(self) -> str:
        return self.database_url or paths.default_database_url()

    @property
    def tz(self) -> ZoneInfo:
        if self.timezone:
            return ZoneInfo(self.timezone)
        return _local_zone()

    def settings_for(self, account: str) -> Any:
        """The account's settings, checked by its connector's model."""
        if account not in self.account_settings:
            acc = self.account(account)
            self.account_settings[account] = _account_settings(self.path, self.accounts.index(acc), acc)
        return self.account_settings[account]

    def account(self, name: str) -> AccountConfig:
        for acc in self.accounts:
            if acc.name == name:
                return acc
        raise ConfigError(f"no account named {name!r} in {self.path}; accounts: "
                          + (", ".join(a.name for a in self.accounts) or "none"))

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes``; account settings already checked are kept when the accounts are."""
        settings = self.account_settings if "accounts" not in changes else {}
        return dataclasses.replace(self, **{"account_settings": dict(settings), **changes})


def as_data(value: Any) -> Any:
    """A config dataclass (or a list of them) as plain dicts and lists, for JSON and hashing."""
    if dataclasses.is_dataclass(value):
        return {f.name: as_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [as_data(v) for v in value]
    if isinstance(value, dict):
        return {k: as_data(v) for k, v in value.items()}
    return value


def _local_zone() -> ZoneInfo:
    tz = os.environ.get("TZ", "").lstrip(":")
    for candidate in (tz, _etc_localtime()):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _etc_localtime() -> str:
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return ""
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """--config beats $SYNCD_CONFIG beats the XDG default."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("SYNCD_CONFIG")
    if env:
        return Path(env).expanduser()
    return paths.default_config_path()


def load_config(path: Path) -> Config:
    """Read and validate ``path``. Raises ConfigError with an actionable message.

    A file syncd has checked before (the same bytes, the same shape of config) is not checked
    again: see syncd.configcache."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file. Create one with: syncd init") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read it ({err})") from None
    from syncd import configcache

    remembered = configcache.recall(path, raw, shape_key())
    if remembered is not None:
        try:
            return make(Config, remembered).replace(path=path)
        except (TypeError, KeyError, ValueError):
            pass  # remembered by another version of syncd: check the file again
    config = parse_config(text, path)
    configcache.remember(path, raw, shape_key(), {f.name: as_data(getattr(config, f.name))
                                                  for f in dataclasses.fields(config) if f.name not in Config.NOT_IN_FILE})
    return config


def parse_config(text: str, path: Path) -> Config:
    import tomllib  # not needed when the file is remembered

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return config_from_data(data, path)


def config_from_data(data: dict[str, Any], path: Path | None) -> Config:
    """A config from its tables as parsed (a TOML file, or a team member's rows: syncd.team),
    every value checked, and every account's settings by its connector."""
    unknown = sorted(set(data) & Config.NOT_IN_FILE)
    if unknown:
        raise ConfigError(f"{path}: invalid configuration\n  {unknown[0]}: unknown key (a typo?); allowed here: "
                          + ", ".join(_allowed_keys(Config, ())))
    config = validate(Config, _accounts_apart(data), path).replace(path=path)
    for i, acc in enumerate(config.accounts):
        config.account_settings[acc.name] = _account_settings(path, i, acc)
    return config


def _accounts_apart(data: dict[str, Any]) -> dict[str, Any]:
    """Each [[accounts]] table's own keys, its connector's settings under ``raw_settings``."""
    accounts = data.get("accounts")
    if not isinstance(accounts, list):
        return data
    split = [{**{k: v for k, v in a.items() if k in AccountConfig.OWN_KEYS},
              "raw_settings": {k: v for k, v in a.items() if k not in AccountConfig.OWN_KEYS}}
             if isinstance(a, dict) else a for a in accounts]
    return {**data, "accounts": split}


def validate(cls: type[T], data: Any, path: Path | None = None) -> T:
    """``data`` checked against ``cls``: every type by pydantic, then every bound and check."""
    from pydantic import ValidationError

    try:
        return _adapter(cls).validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as err:
        raise ConfigError(_explain(path, err, cls)) from None


@cache
def _adapter(cls: type) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


def make(cls: type[T], data: Any) -> T:
    """An instance of ``cls`` from data already checked (remembered, or shipped with syncd):
    nested tables become their dataclasses; bounds and checks run, types are trusted."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: a table was expected")
    kwargs = {}
    for name, (nested, in_list) in _nested_fields(cls).items():
        if name not in data:
            continue
        value = data[name]
        if nested is not None:
            value = [make(nested, v) for v in value] if in_list else make(nested, value)
        kwargs[name] = value
    if set(data) - set(kwargs):
        raise KeyError(f"{cls.__name__}: {sorted(set(data) - set(kwargs))}")
    return cls(**kwargs)


@cache
def _nested_fields(cls: type) -> dict[str, tuple[type | None, bool]]:
    """Each field of a config dataclass: the config dataclass it holds (or a list of), if any."""
    out: dict[str, tuple[type | None, bool]] = {}
    for f in dataclasses.fields(cls):
        kind = str(f.type)
        in_list = kind.startswith("list[")
        inner = kind[5:-1] if in_list else kind
        nested = globals().get(inner)
        out[f.name] = (nested if isinstance(nested, type) and dataclasses.is_dataclass(nested) else None, in_list)
    return out


@cache
def shape_key() -> str:
    """Changes whenever the shape of the config does: its tables, fields, types and bounds."""
    import hashlib

    seen: list[str] = []

    def walk(cls: type) -> None:
        for f in dataclasses.fields(cls):
            seen.append(f"{cls.__name__}.{f.name}:{f.type}:{dict(f.metadata)}")
            nested = _nested_fields(cls)[f.name][0]
            if nested is not None:
                walk(nested)

    walk(Config)
    return hashlib.sha256("\n".join(seen).encode()).hexdigest()[:16]


def _account_settings(path: Path | None, index: int, acc: AccountConfig) -> Any:
    from pydantic import ValidationError

    from syncd import connectors

    where = f"accounts[{index}] ({acc.name})"
    try:
        model = connectors.settings_model(acc.kind)
    except KeyError:
        kinds = ", ".join(connectors.known_kinds())
        raise ConfigError(f"{path}: {where}.kind = {acc.kind!r} is not a known kind; allowed: {kinds}") from None
    try:
        return model.model_validate(acc.raw_settings)
    except ValidationError as err:
        raise ConfigError(_explain(path, err, model, prefix=where)) from None


def _explain(path: Path | None, err: ValidationError, model: type, prefix: str = "") -> str:
    lines = [f"{path}: invalid configuration"]

    def where(loc: tuple[Any, ...]) -> str:
        key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
        return f"{prefix}.{key}" if prefix and key else (prefix or key or "(top level)")

    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p != "raw_settings")  # an account's settings are its own keys
        problem = (e.get("ctx") or {}).get("error")
        if isinstance(problem, TableProblems):
            for p in problem.problems:
                if p.key:
                    lines.append(f"  {where((*loc, p.key))} = {repr(p.value)[:80]}: {p.why}")
                else:  # a rule of the whole table
                    lines.append(f"  {p.why}" if not loc else f"  {where(loc)}: {p.why}")
        elif e["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            allowed = _allowed_keys(model, loc[:-1])
            lines.append(f"  {where(loc)}: unknown key (a typo?); allowed here: {', '.join(allowed)}")
        elif e["type"] in ("missing", "missing_argument"):
            lines.append(f"  {where(loc)}: required but missing")
        else:
            value = e.get("input")
            shown = repr(value) if not isinstance(value, dict) else "{...}"
            lines.append(f"  {where(loc)} = {shown[:80]}: {e['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def _allowed_keys(model: type, loc: tuple[Any, ...]) -> list[str]:
    """The keys a table at ``loc`` takes (config dataclasses and connectors' pydantic models)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if dataclasses.is_dataclass(current):
            current = _nested_fields(current).get(str(part), (None, False))[0]
            if current is None:
                return []
        else:
            return []
    if dataclasses.is_dataclass(current):
        names = [f.name for f in dataclasses.fields(current)]
        if current is AccountConfig:
            names.remove("raw_settings")
        return sorted(n for n in names if n not in Config.NOT_IN_FILE or current is not Config)
    fields = getattr(current, "model_fields", {})
    return sorted(k for k, f in fields.items() if not f.exclude)


def example_config_text() -> str:
    return (paths.defaults_dir() / "syncd.example.toml").read_text(encoding="utf-8")
