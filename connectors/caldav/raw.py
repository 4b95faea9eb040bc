"""Reading a calendar's objects raw, as stored, through the caldav library.

The server is never asked to expand recurrences or to filter by time: a time-range
calendar-query makes the server expand every rule itself, and a hostile invite (a 920-byte
RRULE bomb, INTERVAL=0, a MINUTELY rule) hangs or swells servers such as Radicale, and our
sync with them. Instead: list hrefs and ETags (PROPFIND Depth 1, RFC 4918) or ask what changed
since a sync-token (sync-collection, RFC 6578), then fetch bodies with calendar-multiget
(RFC 4791 §7.9) in batches of a bounded number of hrefs. syncd's own parser expands them,
within the window and under its budgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

from caldav.elements import dav
from caldav.elements.base import ValuedBaseElement
from caldav.lib import error
from caldav.lib.namespace import ns

# Hrefs per calendar-multiget: one response holds at most this many bodies, each at most
# MAX_OBJECT_BYTES when the server tells sizes (PROPFIND), so memory per request is bounded.
MULTIGET_CHUNK = 50


class GetContentLength(ValuedBaseElement):
    """DAV:getcontentlength (RFC 4918 §15.4), which caldav.elements does not define."""

    tag: ClassVar[str] = ns("D", "getcontentlength")


class InvalidToken(Exception):
    """The server no longer knows the sync-token: read the calendar in full."""


def key(url: object) -> str:
    """An item's stable name: its URL path, unquoted (servers differ in what they escape)."""
    return unquote(urlsplit(str(url)).path)


@dataclass
class Listed:
    etag: str
    size: int | None  # bytes, when the server said


@dataclass
class Fetched:
    key: str
    data: bytes | str
    etag: str


def listing(cal: Any) -> dict[str, Listed]:
    """Every object of the calendar: href -> ETag and size, from one PROPFIND Depth 1."""
    props = [dav.GetEtag(), GetContentLength()]
    response = cal.get_properties(props, depth=1, parse_response_xml=False)
    own = key(cal.url).rstrip("/")
    out: dict[str, Listed] = {}
    for href, values in response.expand_simple_props(props).items():
        name = key(href)
        if name.rstrip("/") == own or name.endswith("/"):
            continue  # the calendar itself, or a sub-collection
        out[name] = Listed(str(values.get(dav.GetEtag.tag) or ""), _size(values.get(GetContentLength.tag)))
    return out


def changes(cal: Any, token: str) -> tuple[dict[str, str], set[str], str | None]:
    """What changed since ``token``: changed href -> ETag, deleted hrefs, the new token."""
    try:
        result = cal.get_objects_by_sync_token(sync_token=token, load_objects=False, disable_fallback=True)
    except error.DAVError as err:
        # RFC 6578 §3.2: 403 with DAV:valid-sync-token; some servers say 412 or 400
        if dav.ValidSyncToken.tag in err.preconditions or err.status in (400, 403, 409, 410, 412):
            raise InvalidToken() from None
        raise
    deleted = {key(u) for u in result.deleted_urls}
    changed = {key(o.url): _etag(o) for o in result if key(o.url) not in deleted}
    return changed, deleted, str(result.sync_token) if result.sync_token else None


def token(cal: Any) -> str | None:
    """The calendar's current sync-token (RFC 6578 §4), or None when it has none."""
    value = cal.get_property(dav.SyncToken())
    return str(value) if value else None


def fetch(cal: Any, keys: list[str]) -> list[Fetched]:
    """The bodies of ``keys`` (at most MULTIGET_CHUNK) from one calendar-multiget. An href the
    server no longer has (deleted meanwhile) is left out."""
    assert len(keys) <= MULTIGET_CHUNK, "one multiget holds a bounded number of hrefs"
    got: list[Fetched] = []
    for obj in cal.multiget([cal.url.join(quote(k, safe="/@:+,;=!$&'()*~")) for k in keys]):
        try:
            data = obj.data
        except Exception:  # noqa: BLE001 - caldav decodes lazily: one unreadable body is one item
            data = b""
        if data is not None:
            got.append(Fetched(key(obj.url), data, _etag(obj)))
    return got


def _etag(obj: Any) -> str:
    props = getattr(obj, "props", None) or {}
    return str(props.get(dav.GetEtag.tag, "") or "")


def _size(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None
