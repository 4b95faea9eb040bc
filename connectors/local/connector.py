"""The local connector: a Maildir tree and a folder of .ics files."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

from syncd.connectors import base
from syncd.connectors.local import maildir
from syncd.connectors.local.settings import Settings
from syncd.headers import render_draft
from syncd.records import Draft


class Connector(base.Connector):
    kind = "local"
    writes_drafts = True

    def __init__(self, name: str, settings: Settings, env: base.ConnectorEnv) -> None:
        super().__init__(name, settings, env)
        self.maildir = Path(settings.maildir).expanduser() if settings.maildir else None
        self.calendar = Path(settings.calendar).expanduser() if settings.calendar else None
        self.writes_drafts = self.maildir is not None  # type: ignore[misc]

    def _root(self, path: Path | None, key: str) -> Path:
        if path is None:
            raise base.SourceError(f"account {self.name!r} has no {key} set")
        if not path.is_dir():
            raise base.SourceError(f"account {self.name!r}: {key} = {str(path)!r} is not a folder "
                                   "(check the path in your config)")
        return path

    def streams(self) -> list[base.Stream]:
        out: list[base.Stream] = []
        if self.maildir is not None:
            root = self._root(self.maildir, "maildir")
            excluded = {n.lower() for n in (*self.settings.exclude_folders, self.settings.drafts_folder)}
            out += [base.Stream(f"mail:{f.name}", "mail") for f in maildir.discover(root)
                    if f.name.lower() not in excluded]
        if self.calendar is not None:
            root = self._root(self.calendar, "calendar")
            out.append(base.Stream(f"calendar:{root.name}", "calendar"))
        return out

    def pull(self, stream: str, cursor: str | None) -> Iterator[base.Batch]:
        kind, _, name = stream.partition(":")
        if kind == "mail":
            root = self._root(self.maildir, "maildir")
            folder = next((f for f in maildir.discover(root) if f.name == name), None)
            if folder is None:
                # A folder that vanished is reported, never taken as "everything was deleted".
                raise base.SourceError(f"Maildir folder {name!r} is gone from {root}")
            for messages, skipped, new_cursor, reset in maildir.read_folder(folder, cursor, self.settings.batch_size):
                yield base.Batch(items=list(messages), cursor=new_cursor, skipped=skipped, reset=reset)
        elif kind == "calendar":
            # imported here: iCalendar parsing is a sixth of a mail-only first sync's start-up
            from syncd.connectors.local import icsdir

            root = self._root(self.calendar, "calendar")
            for b in icsdir.read_calendar(root, name, cursor, now=self.env.now, past=self.env.window_past,
                                          future=self.env.window_future, batch_size=self.settings.batch_size,
                                          default_tz=self.env.tz):
                yield base.Batch(items=list(b.meetings), cursor=b.cursor, skipped=b.skipped, reset=b.reset,
                                 gone=b.gone)
        else:
            raise base.SourceError(f"unknown stream {stream!r}")

    def _drafts(self) -> Path:
        return maildir.drafts_path(self._root(self.maildir, "maildir"), self.settings.drafts_folder)

    def write_draft(self, draft: Draft) -> str:
        if self.maildir is None:
            raise base.DraftsUnsupported(f"account {self.name!r} has no maildir for drafts")
        return maildir.write_draft(self._drafts(), render_draft(draft))

    def find_drafts(self, markers: Collection[str]) -> dict[str, str]:
        if self.maildir is None:
            raise base.DraftsUnsupported(f"account {self.name!r} has no maildir for drafts")
        return maildir.find_markers(self._drafts(), set(markers))
