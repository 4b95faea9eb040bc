"""Settings of a CalDAV account (``kind = "caldav"``). Imports no CalDAV library."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from syncd.connectors._login import Login, is_loopback


class Settings(Login):
    # The server, your principal, or your calendar home: calendars are discovered from it.
    url: str = Field(min_length=1)
    # username and exactly one secret source (password_command, keyring_service, or
    # oauth2_token_command for a bearer token, e.g. Google's CalDAV): see connectors/_login.py
    # Read only these calendars (display names or the last part of their URL); all if empty.
    calendars: list[str] = Field(default_factory=list)
    # Calendar URLs to read as they are, without discovery (servers with odd discovery).
    calendar_urls: list[str] = Field(default_factory=list)
    ca_file: Path | None = None  # trust a private CA / self-signed server certificate
    # Seconds a request may wait for the server (connect, and each read). Bounded: a server
    # stuck on a hostile object must not hold the sync for long; 30 s is ample for raw reads.
    timeout: float = Field(default=30.0, gt=0, le=300)
    # RFC 6578 sync-collection makes a sync with nothing new one request per calendar. Set
    # false for a server whose implementation is broken: each sync then re-reads the window
    # and compares ETags (still correct, more data).
    use_sync_token: bool = True

    @model_validator(mode="after")
    def _check(self) -> Settings:
        for url in [self.url, *self.calendar_urls]:
            parts = urlsplit(url)
            if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or "")):
                continue
            raise ValueError(f"{url!r}: CalDAV URLs must start with https:// (http:// only for a server "
                             "on this machine: it would send the password unencrypted)")
        return self

