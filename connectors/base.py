"""The connector contract: the one interface every provider implements.

A connector speaks one provider's protocol and nothing else. It turns provider data into the
core's plain records (:mod:`syncd.records`) and plain :class:`~syncd.records.Draft` s into
provider drafts. It never touches the database, never scores, never decides.

The sync engine drives it like this::

    for stream in connector.streams():
        for batch in connector.pull(stream.name, stored_cursor):
            store batch.items and batch.cursor in ONE transaction

so a connector must yield batches in an order where each batch's cursor is safe to resume
from: everything before it is in that batch or an earlier one (design invariant 1). An
expired or invalid cursor is the connector's to handle: start over from ``None`` and mark
the first batch ``reset=True`` (invariant 3); re-delivering records is harmless because the
core keys everything (invariant 2). A pull with nothing new should cost O(1) provider
requests and yield no batch, or one empty batch carrying a refreshed cursor (invariant 4).

Each connector kind lives in a package ``connectors/<kind>/`` with two modules:

* ``settings.py``: ``Settings``, a pydantic model of the account's keys (``extra="forbid"``),
  importing no provider library, so that reading the config stays fast.
* ``connector.py``: ``Connector``, a subclass of :class:`Connector` below; provider libraries
  are imported here. Optionally ``authorize(name, settings, env, *, no_browser=False)``
  for kinds that need an interactive login (``syncd accounts add``).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal

from syncd.records import Draft, MailMessage, Meeting, Skip

StreamKind = Literal["mail", "calendar"]


@dataclass(frozen=True, slots=True)
class Stream:
    """One cursor's worth of provider data: a mail folder/label, or one calendar."""

    name: str  # stable: it keys the stored cursor, e.g. "mail:Sent", "calendar:primary"
    kind: StreamKind


@dataclass(slots=True)
class Batch:
    items: list[MailMessage | Meeting]
    cursor: str | None  # opaque to the core; resuming from it continues after these items
    skipped: list[Skip] = field(default_factory=list)
    reset: bool = False  # this batch begins a full resync (the stored cursor was invalid)
    # Calendar connectors list here the (uid, occurrence) keys that disappeared from the
    # provider (deleted events), so future meetings stop showing; history is never deleted.
    gone: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ConnectorEnv:
    """What the core hands every connector: where to keep state, and the sync window."""

    state_dir: Path  # private (0700) folder for this account's tokens and caches
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    window_past: timedelta = timedelta(days=365)  # calendars: how far back a first sync reads
    window_future: timedelta = timedelta(days=30)  # calendars: how far ahead


# --- errors: the core handles four kinds, each differently ---------------------------------


class ConnectorError(Exception):
    """Base class. ``str(err)`` is shown to the user, so say what happened and what to do."""


class AuthError(ConnectorError):
    """Credentials were refused or revoked: stop this account until the user acts."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix  # the command or step that repairs it, shown by `syncd status`


class TemporaryError(ConnectorError):
    """Network trouble, throttling, a server error: retry later (after ``retry_after`` s)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceError(ConnectorError):
    """The account's settings point at something unusable (missing folder, bad URL)."""


class DraftsUnsupported(ConnectorError):
    """This connector has no mailbox to write drafts into (a calendar-only account)."""


# --- the contract ----------------------------------------------------------------------------


class Connector(ABC):
    kind: ClassVar[str]
    writes_drafts: ClassVar[bool] = False

    def __init__(self, name: str, settings: Any, env: ConnectorEnv) -> None:
        self.name = name
        self.settings = settings
        self.env = env

    @abstractmethod
    def streams(self) -> list[Stream]:
        """The streams this account offers now (may contact the provider to discover them)."""

    @abstractmethod
    def pull(self, stream: str, cursor: str | None) -> Iterator[Batch]:
        """Records of ``stream`` since ``cursor`` (all of them when ``cursor`` is None)."""

    def write_draft(self, draft: Draft) -> str:
        """Put ``draft`` into the Drafts folder; return the provider's id for it."""
        raise DraftsUnsupported(f"{self.kind} accounts have no mailbox for drafts")

    def find_drafts(self, markers: Collection[str]) -> dict[str, str]:
        """Of ``markers``, those whose draft is still in the mailbox: marker -> provider id.

        Used to reconcile the ledger: after a crash (intent recorded, write unknown) and to
        notice drafts the user deleted or sent. Should cost O(1) requests, not one per marker.
        """
        raise DraftsUnsupported(f"{self.kind} accounts have no mailbox for drafts")

    def close(self) -> None:
        """Release connections. Called once; the connector is not used afterwards."""

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cursor_text(document: dict[str, Any]) -> str:
    """A cursor document as the text the core stores: compact JSON, keys in a stable order."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def cursor_document(text: str | None, version: int | None = 1) -> dict[str, Any] | None:
    """The JSON object a connector stored as its cursor, or None when there is none or it cannot
    be read (damaged, or written by another version: ``"v"`` must equal ``version`` unless that
    is None). None for a cursor that was given means: start over with a full resync."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or (version is not None and data.get("v") != version):
        return None
    return data
