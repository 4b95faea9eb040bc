"""Gmail streams and calendar streams of one Google account, behind one grant and one token file.

It delegates: mail streams and drafts to :mod:`connectors.gmail.connector`, calendar streams to
:mod:`connectors.gcal.connector`, both built on the same :class:`GoogleSession`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from syncd.connectors._google.auth import authorize as google_authorize
from syncd.connectors._google.auth import calendar_scopes, gmail_scopes
from syncd.connectors._google.session import GoogleSession
from syncd.connectors.base import Batch, ConnectorEnv, Stream
from syncd.connectors.base import Connector as BaseConnector
from syncd.connectors.gcal import connector as gcal
from syncd.connectors.gcal.settings import Settings as GcalSettings
from syncd.connectors.gmail import connector as gmail
from syncd.connectors.gmail.settings import Settings as GmailSettings
from syncd.connectors.google.settings import Settings
from syncd.records import Draft


def scopes(settings: Settings) -> list[str]:
    return gmail_scopes(settings.metadata_only) + calendar_scopes()


def authorize(name: str, settings: Settings, env: ConnectorEnv, *, no_browser: bool = False) -> None:
    """`syncd accounts add google` / `syncd accounts reauth NAME`: one consent for mail and calendar."""
    google_authorize(name, settings.client_secrets, scopes(settings), env.state_dir,
                     no_browser=no_browser, port=settings.oauth_port)


class Connector(BaseConnector):
    kind = "google"
    writes_drafts = True

    def __init__(self, name: str, settings: Settings, env: ConnectorEnv) -> None:
        super().__init__(name, settings, env)
        session = GoogleSession(name, settings, env, scopes(settings))
        values = settings.model_dump()
        self.mail = gmail.Connector(name, GmailSettings(**{k: values[k] for k in GmailSettings.model_fields}),
                                    env, session)
        self.calendar = gcal.Connector(name, GcalSettings(**{k: values[k] for k in GcalSettings.model_fields}),
                                       env, session)

    def streams(self) -> list[Stream]:
        return self.mail.streams() + self.calendar.streams()

    def pull(self, stream: str, cursor: str | None) -> Iterator[Batch]:
        part = self.calendar if stream.startswith(gcal.STREAM_PREFIX) else self.mail
        return part.pull(stream, cursor)

    def own_addresses(self) -> list[str]:
        return self.mail.own_addresses()

    def write_draft(self, draft: Draft) -> str:
        return self.mail.write_draft(draft)

    def find_drafts(self, markers: Collection[str]) -> dict[str, str]:
        return self.mail.find_drafts(markers)

    def close(self) -> None:
        self.calendar.close()
        self.mail.close()
