"""The CalDAV connector: meetings of every discovered calendar, in the sync window.

One stream per calendar. Objects are read raw (connectors/caldav/raw.py says why: a server
asked to expand or filter by time hangs on a hostile invite) and expanded here by syncd's
bounded parser, within the window (``now - window_past`` .. ``now + window_future``).

The first sync takes the calendar's RFC 6578 sync-token, lists every object (PROPFIND Depth 1:
href, ETag, size) and fetches them with calendar-multiget in batches. Later syncs ask
sync-collection what changed since the token (one REPORT; with nothing new that is all) and
fetch the changed objects. Without sync-token support (or with ``use_sync_token = false``)
a later sync lists the calendar again and fetches what has a new ETag.

The window moves with time, so when its end has moved (at most once a day: the end is
rounded up to midnight UTC) a later sync also re-reads the objects that may have meetings
there (recurring ones, and those that start after the old end) for the new slice only.

Deleted items are reported in ``Batch.gone`` by the (uid, occurrence) keys we delivered
for them; the cursor keeps those keys for future occurrences only, so it stays small.
An object larger than MAX_ICS_BYTES is a counted skip, not fetched when its size is known.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import caldav
from caldav.lib import error

from syncd.connectors.base import AuthError, Batch, ConnectorEnv, SourceError, Stream, TemporaryError
from syncd.connectors.base import Connector as BaseConnector
from syncd.connectors.caldav import raw
from syncd.connectors.caldav.cursor import CalendarCursor, Item
from syncd.connectors.caldav.raw import InvalidToken, key as _key
from syncd.connectors.caldav.settings import Settings
from syncd.ical import MAX_ICS_BYTES, parse_ics
from syncd.records import Meeting, Skip
from syncd.secrets import SecretError, password_from_command, resolve_password
from syncd.timeutil import LATEST, window

log = logging.getLogger(__name__)

__all__ = ["CalendarCursor", "Connector", "Item", "authorize"]

# The dates of DTSTART lines, read without parsing: does an object start after a given day?
_DTSTART = re.compile(r"^DTSTART[^:\r\n]*:(\d{8})", re.MULTILINE | re.IGNORECASE)


def _ceil_day(dt: datetime) -> datetime:
    day = dt.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return day if day == dt else day + timedelta(days=1)


class Connector(BaseConnector):
    kind = "caldav"

    def __init__(self, name: str, settings: Settings, env: ConnectorEnv) -> None:
        super().__init__(name, settings, env)
        self.settings: Settings = settings
        self._client: caldav.DAVClient | None = None
        self._calendars: dict[str, Any] | None = None

    # --- connection and discovery --------------------------------------------------------

    def _dav(self) -> caldav.DAVClient:
        if self._client is None:
            s = self.settings
            verify: bool | str = str(s.ca_file) if s.ca_file else True
            try:
                if s.oauth2_token_command:
                    from caldav.requests import HTTPBearerAuth

                    auth = HTTPBearerAuth(password_from_command(s.oauth2_token_command))
                    self._client = caldav.DAVClient(url=s.url, auth=auth, ssl_verify_cert=verify, timeout=s.timeout)
                else:
                    password = resolve_password(account=self.name, username=s.username,
                                                password_command=s.password_command,
                                                keyring_service=s.keyring_service)
                    self._client = caldav.DAVClient(url=s.url, username=s.username, password=password,
                                                    ssl_verify_cert=verify, timeout=s.timeout)
            except SecretError as err:
                raise AuthError(f"account {self.name!r}: {err}", fix=self.settings.secret_fix(self.name)) from None
        return self._client

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn caldav/HTTP failures into the contract's errors, worded for the user."""
        try:
            yield
        except (AuthError, SourceError, TemporaryError, InvalidToken):
            raise
        except error.AuthorizationError as err:
            if err.status == 403 or "forbidden" in str(err.reason).lower():
                raise SourceError(f"CalDAV server forbids {doing} for user {self.settings.username!r}") from None
            raise AuthError(f"CalDAV server {self.settings.url} refused the password for user "
                            f"{self.settings.username!r}", fix=self.settings.secret_fix(self.name)) from None
        except error.NotFoundError:
            raise SourceError(f"CalDAV: {doing}: not found on the server; check url / calendar_urls") from None
        except error.DAVError as err:
            if err.status is not None and (err.status >= 500 or err.status == 429):
                raise TemporaryError(f"CalDAV server error while {doing} (HTTP {err.status})", retry_after=60) from None
            raise SourceError(f"CalDAV: {doing} failed: {err.reason}") from None
        except OSError as err:  # niquests/requests connection errors, timeouts, TLS
            text = str(err)
            if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
                raise SourceError(f"the TLS certificate of {self.settings.url} is not trusted; if the server "
                                  "uses a private CA or a self-signed certificate, set ca_file") from None
            raise TemporaryError(f"CalDAV server {self.settings.url} unreachable while {doing} "
                                 f"({type(err).__name__})", retry_after=60) from None

    def _discover(self) -> dict[str, Any]:
        if self._calendars is not None:
            return self._calendars
        client = self._dav()
        with self._errors("discovering calendars"):
            if self.settings.calendar_urls:
                found = [client.calendar(url=u) for u in self.settings.calendar_urls]
            else:
                found = client.principal().calendars()
            named: dict[str, Any] = {}
            for cal in found:
                cal_id = _key(cal.url).rstrip("/").rsplit("/", 1)[-1]
                label = (cal.get_display_name() or "").strip() or cal_id
                wanted = self.settings.calendars
                if wanted and label not in wanted and cal_id not in wanted:
                    continue
                if label in named:  # two calendars with one display name: tell them apart by id
                    label = f"{label} ({cal_id})"
                named[label] = cal
        if self.settings.calendars and not named:
            raise SourceError(f"account {self.name!r}: none of the calendars {self.settings.calendars} exist")
        self._calendars = named
        return named

    def streams(self) -> list[Stream]:
        return [Stream(f"calendar:{label}", "calendar") for label in self._discover()]

    # --- reading -------------------------------------------------------------------------

    def pull(self, stream: str, cursor: str | None) -> Iterator[Batch]:
        label = stream[len("calendar:"):] if stream.startswith("calendar:") else None
        calendars = self._discover()
        if label not in calendars:
            raise SourceError(f"account {self.name!r}: calendar {label!r} no longer exists")
        cal = calendars[label]
        state = CalendarCursor.load(cursor) if cursor is not None else None
        reset = cursor is not None and state is None  # damaged, or of the time-range version 1
        now = self.env.now
        start, end = window(now, self.env.window_past, self.env.window_future)
        end = min(_ceil_day(end), LATEST)
        if state is not None:
            try:
                yield from self._incremental(cal, label, state, start, end)
                return
            except InvalidToken:
                log.info("CalDAV %s %s: sync-token no longer valid, reading the calendar again", self.name, label)
                reset = True
        yield from self._full(cal, label, start, end, reset)

    def _full(self, cal: Any, label: str, start: datetime, end: datetime, reset: bool) -> Iterator[Batch]:
        with self._errors(f"reading calendar {label!r}"):
            token = raw.token(cal) if self.settings.use_sync_token else None  # before the listing:
            listed = raw.listing(cal)  # a change during the read is seen again next time
        items: dict[str, Item] = {}
        skipped: list[Skip] = []
        wanted: list[str] = []
        for k, entry in listed.items():
            items[k] = Item(etag=entry.etag)
            if entry.size is not None and entry.size > MAX_ICS_BYTES:
                skipped.append(_too_big(k, entry.size, fetched=False))
            else:
                wanted.append(k)
        chunks = [wanted[i:i + raw.MULTIGET_CHUNK] for i in range(0, len(wanted), raw.MULTIGET_CHUNK)] or [[]]
        for n, chunk in enumerate(chunks):
            meetings: list[Meeting] = []
            for got in self._fetch(cal, label, chunk):
                found, skips, later = self._parse(got.data, got.key, label, start, end)
                meetings += found
                skipped += skips
                items[got.key] = Item(self._future_keys(found), got.etag or items.get(got.key, Item()).etag, later)
            last = n == len(chunks) - 1
            # Only the last batch knows every item: earlier ones resume from scratch (harmless).
            yield Batch(meetings, cursor=CalendarCursor(token, end, items).dump() if last else None,
                        skipped=skipped, reset=reset and n == 0)
            skipped = []

    def _incremental(self, cal: Any, label: str, state: CalendarCursor, start: datetime,
                     end: datetime) -> Iterator[Batch]:
        meetings: list[Meeting] = []
        skipped: list[Skip] = []
        gone: list[tuple[str, str]] = []
        items = dict(state.items)
        with self._errors(f"syncing calendar {label!r}"):
            if state.token is not None and self.settings.use_sync_token:
                changed, deleted, token = raw.changes(cal, state.token)
                sizes: dict[str, int | None] = {}
            else:
                token = None
                listed = raw.listing(cal)
                deleted = {k for k in state.items if k not in listed}
                changed = {k: e.etag for k, e in listed.items() if k not in state.items or state.items[k].etag != e.etag}
                sizes = {k: listed[k].size for k in changed}
        for k in deleted:
            gone += items.pop(k, Item()).keys
        wanted: list[str] = []
        for k, etag in changed.items():
            size = sizes.get(k)
            if size is not None and size > MAX_ICS_BYTES:
                skipped.append(_too_big(k, size, fetched=False))
                gone += items.get(k, Item()).keys
                items[k] = Item(etag=etag)
            else:
                wanted.append(k)
        moved = end > state.end  # the window moved on: re-read what may have meetings in the new slice
        wanted += [k for k, it in items.items() if moved and it.later and k not in changed]
        for first in range(0, len(wanted), raw.MULTIGET_CHUNK):
            if meetings or skipped:  # a batch per multiget, not the whole change set in memory;
                yield Batch(meetings, cursor=None, skipped=skipped)  # a restart re-reads them
                meetings, skipped = [], []
            for got in self._fetch(cal, label, wanted[first:first + raw.MULTIGET_CHUNK]):
                if got.key in changed:
                    found, skips, later = self._parse(got.data, got.key, label, start, end)
                    new_keys = self._future_keys(found)
                    old = items.get(got.key, Item())
                    gone += [k for k in old.keys if k not in set(new_keys)]  # moved, shortened series
                    items[got.key] = Item(new_keys, got.etag or changed[got.key], later)
                else:
                    found, skips, later = self._parse(got.data, got.key, label, state.end, end)
                    entry = items.setdefault(got.key, Item(etag=got.etag))
                    entry.keys = list(dict.fromkeys(entry.keys + self._future_keys(found)))
                    entry.later = later
                meetings += found
                skipped += skips
        now = self.env.now
        for entry in items.values():  # forget keys of what is now past: the cursor stays small
            entry.keys = [k for k in entry.keys if k[1] == "" or _parse_dt(k[1]) >= now - timedelta(days=1)]
        if not wanted and not gone and not skipped and token == state.token and end == state.end:
            return  # nothing new: one REPORT was all it cost
        yield Batch(meetings, cursor=CalendarCursor(token, max(end, state.end), items).dump(),
                    skipped=skipped, gone=list(dict.fromkeys(gone)))

    def _fetch(self, cal: Any, label: str, keys: list[str]) -> list[raw.Fetched]:
        if not keys:
            return []
        with self._errors(f"reading calendar {label!r}"):
            return raw.fetch(cal, keys)

    def _parse(self, data: bytes | str, key: str, label: str, start: datetime,
               end: datetime) -> tuple[list[Meeting], list[Skip], bool]:
        """The object's meetings in start..end, its skips, and whether it may have meetings
        after ``end`` (then it is read again when the window moves)."""
        if not data:
            return [], [Skip(key, "empty calendar object")], False
        if len(data) > MAX_ICS_BYTES:
            return [], [_too_big(key, len(data))], False
        parsed = parse_ics(data, source_id=key, calendar=label, window_start=start, window_end=end,
                           default_tz=self.env.tz)
        return parsed.meetings, parsed.skipped, parsed.recurring or _starts_after(data, end)

    def _future_keys(self, meetings: list[Meeting]) -> list[tuple[str, str]]:
        cutoff = self.env.now - timedelta(days=1)
        return list(dict.fromkeys((m.uid, m.occurrence) for m in meetings if m.occurrence == "" or m.end >= cutoff))

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # closing the HTTP session: nothing useful to report
                pass
            self._client = None


def _too_big(key: str, size: int, fetched: bool = True) -> Skip:
    """An object over the size bound; ``fetched`` false when its listed size spared the download."""
    return Skip(key, f"calendar object larger than {MAX_ICS_BYTES} bytes ({size} bytes)"
                + ("" if fetched else ": not fetched"))


def _starts_after(data: bytes | str, end: datetime) -> bool:
    """Whether some DTSTART of the object falls on or after the day before ``end`` (a day of
    margin for time zones): a single event planned beyond the window enters it later."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    day = (end - timedelta(days=1)).strftime("%Y%m%d")
    return any(found >= day for found in _DTSTART.findall(text))


def _parse_dt(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text)
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.max.replace(tzinfo=timezone.utc)


def authorize(name: str, settings: Settings, env: ConnectorEnv, *, no_browser: bool = False) -> None:
    """Check the account before it is saved (``syncd accounts add caldav``) or after a password
    change: log in and find at least one calendar."""
    with Connector(name, settings, env) as conn:
        if not conn.streams():
            raise SourceError(f"account {name!r}: no calendars found at {settings.url}; set url to your "
                              "principal or calendar home, or list calendar_urls")
