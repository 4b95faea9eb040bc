"""The CalDAV connector: meetings of every discovered calendar, in the sync window.

One stream per calendar. The first sync remembers the calendar's RFC 6578 sync-token, then
reads the window (``now - window_past`` .. ``now + window_future``) with one time-range
calendar-query. Later syncs ask sync-collection what changed since the token (one REPORT;
with nothing new that is all) and load the changed items with one calendar-multiget.

The window moves with time, so a later sync also reads the slice between the end it
expanded last time and the new end (one time-range query, at most once a day because the
end is rounded up to midnight UTC): a recurring series whose file never changes still
yields its new occurrences, and an event far ahead enters the window when it comes near.

Deleted items are reported in ``Batch.gone`` by the (uid, occurrence) keys we delivered
for them; the cursor keeps those keys for future occurrences only, so it stays small.

Without sync-token support (or with ``use_sync_token = false``) every sync re-reads the
window and compares ETags: more data, the same requests, the same records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

import caldav
from caldav.elements import dav
from caldav.lib import error

from syncd.connectors.base import AuthError, Batch, ConnectorEnv, SourceError, Stream, TemporaryError
from syncd.connectors.base import cursor_document, cursor_text
from syncd.connectors.base import Connector as BaseConnector
from syncd.connectors.caldav.settings import Settings
from syncd.ical import parse_ics
from syncd.records import Meeting, Skip
from syncd.secrets import SecretError, password_from_command, resolve_password

log = logging.getLogger(__name__)

OBJECTS_PER_BATCH = 500
MULTIGET_CHUNK = 200


def _key(url: object) -> str:
    """An item's stable name: its URL path, unquoted (servers differ in what they escape)."""
    return unquote(urlsplit(str(url)).path)


def _ceil_day(dt: datetime) -> datetime:
    day = dt.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return day if day == dt else day + timedelta(days=1)


@dataclass
class Item:
    keys: list[tuple[str, str]] = field(default_factory=list)  # delivered (uid, occurrence), future only
    etag: str = ""


@dataclass
class CalendarCursor:
    token: str | None  # RFC 6578 sync-token; None: compare ETags instead
    end: datetime  # the window has been read up to here
    items: dict[str, Item]

    def dump(self) -> str:
        return cursor_text({
            "v": 1, "token": self.token, "end": self.end.isoformat(),
            "items": {k: [[list(key) for key in it.keys], it.etag] for k, it in self.items.items()},
        })

    @staticmethod
    def load(text: str) -> CalendarCursor | None:
        data = cursor_document(text)
        if data is None:
            return None
        try:
            end = datetime.fromisoformat(data["end"])
            if end.tzinfo is None:
                return None
            items = {str(k): Item([(str(u), str(o)) for u, o in v[0]], str(v[1])) for k, v in data["items"].items()}
            token = data.get("token")
            return CalendarCursor(str(token) if token is not None else None, end, items)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError):
            return None


class _InvalidToken(Exception):
    pass


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
        except (AuthError, SourceError, TemporaryError, _InvalidToken):
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
        reset = cursor is not None and state is None
        now = self.env.now
        start, end = now - self.env.window_past, _ceil_day(now + self.env.window_future)
        if state is not None:
            try:
                yield from self._incremental(cal, label, state, start, end)
                return
            except _InvalidToken:
                log.info("CalDAV %s %s: sync-token no longer valid, reading the window again", self.name, label)
                reset = True
        yield from self._full(cal, label, start, end, reset)

    def _full(self, cal: Any, label: str, start: datetime, end: datetime, reset: bool) -> Iterator[Batch]:
        with self._errors(f"reading calendar {label!r}"):
            token = self._token(cal)  # before the read: a change during it is seen again next time
            objects = cal.search(start=start, end=end, event=True)
        items: dict[str, Item] = {}
        if not objects:
            yield Batch([], cursor=CalendarCursor(token, end, items).dump(), reset=reset)
            return
        for first in range(0, len(objects), OBJECTS_PER_BATCH):
            chunk = objects[first:first + OBJECTS_PER_BATCH]
            meetings: list[Meeting] = []
            skipped: list[Skip] = []
            for obj in chunk:
                key = _key(obj.url)
                got, skips = self._parse(obj, key, label, start, end)
                meetings += got
                skipped += skips
                items[key] = Item(self._future_keys(got), _etag(obj))
            last = first + OBJECTS_PER_BATCH >= len(objects)
            # Only the last batch knows every item: earlier ones resume from scratch (harmless).
            yield Batch(meetings, cursor=CalendarCursor(token, end, items).dump() if last else None,
                        skipped=skipped, reset=reset and first == 0)

    def _incremental(self, cal: Any, label: str, state: CalendarCursor, start: datetime,
                     end: datetime) -> Iterator[Batch]:
        meetings: list[Meeting] = []
        skipped: list[Skip] = []
        gone: list[tuple[str, str]] = []
        items = dict(state.items)
        with self._errors(f"syncing calendar {label!r}"):
            if state.token is not None and self.settings.use_sync_token:
                changed_urls, deleted, token = self._changes(cal, state.token)
                loaded = self._multiget(cal, changed_urls) if changed_urls else []
            else:
                token = None
                window = {_key(o.url): o for o in cal.search(start=start, end=end, event=True)}
                deleted = {k for k in state.items if k not in window}
                loaded = [o for k, o in window.items() if k not in state.items or state.items[k].etag != _etag(o)]
            for key in deleted:
                gone += items.pop(key, Item()).keys
            changed: set[str] = set()
            for obj in loaded:
                key = _key(obj.url)
                changed.add(key)
                got, skips = self._parse(obj, key, label, start, end)
                meetings += got
                skipped += skips
                new_keys = self._future_keys(got)
                old = items.get(key, Item())
                gone += [k for k in old.keys if k not in set(new_keys)]  # moved, shortened series
                items[key] = Item(new_keys, _etag(obj))
            if end > state.end:  # the window moved on: read just the new slice
                for obj in cal.search(start=state.end, end=end, event=True):
                    key = _key(obj.url)
                    if key in changed:
                        continue
                    got, skips = self._parse(obj, key, label, state.end, end)
                    meetings += got
                    skipped += skips
                    entry = items.setdefault(key, Item(etag=_etag(obj)))
                    entry.keys = list(dict.fromkeys(entry.keys + self._future_keys(got)))
        now = self.env.now
        for entry in items.values():  # forget keys of what is now past: the cursor stays small
            entry.keys = [k for k in entry.keys if k[1] == "" or _parse_dt(k[1]) >= now - timedelta(days=1)]
        if not meetings and not skipped and not gone and token == state.token and end == state.end:
            return  # nothing new: one REPORT was all it cost
        yield Batch(meetings, cursor=CalendarCursor(token, max(end, state.end), items).dump(),
                    skipped=skipped, gone=list(dict.fromkeys(gone)))

    def _token(self, cal: Any) -> str | None:
        if not self.settings.use_sync_token:
            return None
        token = cal.get_property(dav.SyncToken())
        return str(token) if token else None

    def _changes(self, cal: Any, token: str) -> tuple[list[Any], set[str], str | None]:
        try:
            result = cal.get_objects_by_sync_token(sync_token=token, load_objects=False, disable_fallback=True)
        except error.DAVError as err:
            # RFC 6578 §3.2: 403 with DAV:valid-sync-token; some servers say 412 or 400
            if dav.ValidSyncToken.tag in err.preconditions or err.status in (400, 403, 409, 410, 412):
                raise _InvalidToken() from None
            raise
        deleted = {_key(u) for u in result.deleted_urls}
        changed = [o.url for o in result if _key(o.url) not in deleted]
        return changed, deleted, str(result.sync_token) if result.sync_token else None

    def _multiget(self, cal: Any, urls: list[Any]) -> list[Any]:
        out: list[Any] = []
        for first in range(0, len(urls), MULTIGET_CHUNK):
            out += [o for o in cal.multiget(urls[first:first + MULTIGET_CHUNK]) if o.data]
        return out

    def _parse(self, obj: Any, key: str, label: str, start: datetime, end: datetime) -> tuple[list[Meeting], list[Skip]]:
        try:
            data = obj.data
        except Exception as err:  # caldav decodes lazily; a body it cannot read is one item lost
            return [], [Skip(key, f"unreadable calendar object ({type(err).__name__})")]
        if not data:
            return [], [Skip(key, "empty calendar object")]
        parsed = parse_ics(data, source_id=key, calendar=label, window_start=start, window_end=end)
        return parsed.meetings, parsed.skipped

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


def _etag(obj: Any) -> str:
    props = getattr(obj, "props", None) or {}
    return str(props.get(dav.GetEtag.tag, "") or "")


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
