"""The TOML configuration: its shape, its defaults, and errors a person can act on.

Every table refuses unknown keys (a typo must not silently fall back to a default), and
every error names the file, the key, the bad value and what is allowed.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from syncd import paths
from syncd.tiers import Tier

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(Exception):
    """The configuration cannot be used; ``str()`` is the message for the user."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Me(_Strict):
    name: str = ""
    addresses: list[str] = Field(default_factory=list, description="your own addresses")
    aliases: list[str] = Field(default_factory=list, description="other addresses you send from")
    internal_domains: list[str] = Field(default_factory=list, description="colleagues' domains")

    @field_validator("addresses", "aliases")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        for v in values:
            if "@" not in v or v.strip() != v or " " in v:
                raise ValueError(f"{v!r} is not an email address")
        return values

    @field_validator("internal_domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        return [v.lower().lstrip("@") for v in values]


class Weights(_Strict):
    meeting: float = Field(2.0, ge=0, description="a 1:1 meeting (as much as a mail and its answer)")
    sent_to: float = Field(1.0, ge=0, description="a mail you sent them (To)")
    sent_cc: float = Field(0.4, ge=0, description="a mail you sent them in Cc")
    received: float = Field(1.0, ge=0, description="a reply or mail from them")


class TierThresholds(_Strict):
    inner: float = Field(70, ge=0, le=100)
    warm: float = Field(40, ge=0, le=100)
    cooling: float = Field(15, ge=0, le=100)
    cold: float = Field(3, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> TierThresholds:
        if not self.inner >= self.warm >= self.cooling >= self.cold:
            raise ValueError("thresholds must satisfy inner >= warm >= cooling >= cold")
        return self


class Warmth(_Strict):
    half_life_days: float = Field(30, gt=0, description="how fast a new relationship cools")
    tenure_bonus_per_year: float = Field(0.75, ge=0, description="half-life grows by this share per year known")
    max_half_life_days: float = Field(180, gt=0)
    saturation: float = Field(6.0, gt=0, description="activity at which the score reaches 63")
    one_way_factor: float = Field(0.25, ge=0, le=1, description="score share kept when they never answer")
    weights: Weights = Weights()
    tiers: TierThresholds = TierThresholds()


class Cadence(_Strict):
    """Days between check-ins, by the tier a contact stood at when you last interacted; 0 = none."""

    inner: int = Field(21, ge=0)
    warm: int = Field(45, ge=0)
    cooling: int = Field(90, ge=0)
    cold: int = Field(0, ge=0)
    dormant: int = Field(0, ge=0)


class Target(_Strict):
    name: str
    domains: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    cadence_days: int = Field(0, ge=0, description="check-in cadence for people there; 0 = by tier")

    @field_validator("domains")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        return [v.lower().lstrip("@") for v in values]


class Ignore(_Strict):
    addresses: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list, description="shell-style, e.g. '*-bounces@*'")


NonPersonKind = Literal["room", "list", "group", "placeholder"]


class NonPersonRule(_Strict):
    """One rule of syncd/nonpeople.toml or of the config's [nonpeople] (same shape)."""

    kind: NonPersonKind
    why: str = Field("", description="shown by `syncd prune` and `syncd contact`")
    addresses: list[str] = Field(default_factory=list, description="exact addresses")
    domains: list[str] = Field(default_factory=list,
                               description="a domain and its subdomains; 'lists.*' = domains beginning 'lists.'")
    local_parts: list[str] = Field(default_factory=list, description="regular expressions, whole local part")
    names: list[str] = Field(default_factory=list, description="regular expressions found in the display name")

    @field_validator("addresses", "domains")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        return [v.strip().lower().lstrip("@") for v in values]

    @field_validator("local_parts", "names")
    @classmethod
    def _regexes(cls, values: list[str]) -> list[str]:
        for v in values:
            try:
                re.compile(v)
            except re.error as err:
                raise ValueError(f"{v!r} is not a regular expression ({err})") from None
        return values


class NonPeopleRules(_Strict):
    """Addresses that are not people. ``certain``: never a contact; ``likely``: flagged by prune."""

    certain: list[NonPersonRule] = Field(default_factory=list)
    likely: list[NonPersonRule] = Field(default_factory=list)


class Followups(_Strict):
    enabled: bool = True
    delay_hours: float = Field(1, ge=0, description="after a meeting ends, when the draft is written")
    overdue_hours: float = Field(24, gt=0, description="after a meeting ends, when it counts as overdue")
    expire_days: float = Field(7, gt=0, description="an unwritten follow-up older than this expires")
    checkins: bool = True
    daily_cap: int = Field(3, ge=0, description="drafts written per day at most")
    working_days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    working_hours: str = Field("09:00-18:00", description="HH:MM-HH:MM, local time; 24:00 allowed")
    max_recipients: int = Field(6, ge=1, description="meetings with more outside people get no follow-up")
    include_internal: bool = False
    drafts_account: str = Field("", description="account that receives drafts; default: the one you last wrote from")
    templates_dir: str = Field("", description="folder with your own followup.txt / checkin.txt")

    @field_validator("working_days")
    @classmethod
    def _days(cls, values: list[str]) -> list[str]:
        out = [v.lower()[:3] for v in values]
        for v in out:
            if v not in _DAYS:
                raise ValueError(f"{v!r} is not a day; use {', '.join(_DAYS)}")
        return out

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        working_hours_span(value)
        return value


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


class SyncSettings(_Strict):
    window_past_days: int = Field(365, ge=1, le=3650, description="calendars: how far back the first sync reads")
    window_future_days: int = Field(30, ge=1, le=730, description="calendars: how far ahead")
    interval_minutes: float = Field(5, gt=0, description="daemon: time between syncs of an account")


class AccountConfig(BaseModel):
    """An [[accounts]] table: name, kind, enabled, and the kind's own settings."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: str
    enabled: bool = True

    @property
    def raw_settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Config(_Strict):
    database_url: str = ""
    timezone: str = ""
    me: Me = Me()
    accounts: list[AccountConfig] = Field(default_factory=list)
    warmth: Warmth = Warmth()
    cadence: Cadence = Cadence()
    targets: list[Target] = Field(default_factory=list)
    ignore: Ignore = Ignore()
    nonpeople: NonPeopleRules = NonPeopleRules()
    followups: Followups = Followups()
    sync: SyncSettings = SyncSettings()

    # filled in by load_config, not by the file
    path: Path | None = Field(default=None, exclude=True)
    # a team member's accounts keep their tokens apart from another member's of the same name
    state_namespace: str = Field(default="", exclude=True)
    account_settings: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{value!r} is not a time zone name such as 'Europe/Berlin'") from None
        return value

    @model_validator(mode="after")
    def _unique_accounts(self) -> Config:
        seen: set[str] = set()
        for acc in self.accounts:
            if acc.name in seen:
                raise ValueError(f"two accounts are named {acc.name!r}; names must be unique")
            seen.add(acc.name)
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or paths.default_database_url()

    @property
    def tz(self) -> ZoneInfo:
        if self.timezone:
            return ZoneInfo(self.timezone)
        return _local_zone()

    def settings_for(self, account: str) -> Any:
        return self.account_settings[account]

    def account(self, name: str) -> AccountConfig:
        for acc in self.accounts:
            if acc.name == name:
                return acc
        raise ConfigError(f"no account named {name!r} in {self.path}; accounts: "
                          + (", ".join(a.name for a in self.accounts) or "none"))


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
    """Read and validate ``path``. Raises ConfigError with an actionable message."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file. Create one with: syncd init") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read it ({err})") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return config_from_data(data, path)


def config_from_data(data: dict[str, Any], path: Path) -> Config:
    """A config from its tables as parsed (a TOML file, or a team member's rows: syncd.team)."""
    try:
        config = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_explain(path, err, Config)) from None
    settings = {acc.name: _account_settings(path, i, acc) for i, acc in enumerate(config.accounts)}
    return config.model_copy(update={"path": path, "account_settings": settings})


def _account_settings(path: Path, index: int, acc: AccountConfig) -> Any:
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


def _explain(path: Path, err: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    lines = [f"{path}: invalid configuration"]
    for e in err.errors():
        key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in e["loc"]).replace(".[", "[")
        key = f"{prefix}.{key}" if prefix and key else (prefix or key or "(top level)")
        value = e.get("input")
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, e["loc"][:-1])
            lines.append(f"  {key}: unknown key (a typo?); allowed here: {', '.join(allowed)}")
        elif e["type"] == "missing":
            lines.append(f"  {key}: required but missing")
        else:
            shown = repr(value) if not isinstance(value, dict) else "{...}"
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"  {key} = {shown[:80]}: {msg}")
    return "\n".join(lines)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part)) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        nested = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nested is None:
            return []
        current = nested
    return sorted(k for k, f in current.model_fields.items() if not f.exclude)


def example_config_text() -> str:
    return (paths.defaults_dir() / "syncd.example.toml").read_text(encoding="utf-8")
