"""Settings of a CalDAV account (``kind = "caldav"``). Imports no CalDAV library."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The server, your principal, or your calendar home: calendars are discovered from it.
    url: str = Field(min_length=1)
    username: str = Field(min_length=1)
    # Exactly one password source (the password itself never goes into the config file).
    password_command: str | None = None
    keyring_service: str | None = None
    oauth2_token_command: str | None = None  # prints a bearer token (e.g. Google's CalDAV)
    # Read only these calendars (display names or the last part of their URL); all if empty.
    calendars: list[str] = Field(default_factory=list)
    # Calendar URLs to read as they are, without discovery (servers with odd discovery).
    calendar_urls: list[str] = Field(default_factory=list)
    ca_file: Path | None = None  # trust a private CA / self-signed server certificate
    timeout: float = Field(default=60.0, gt=0)
    # RFC 6578 sync-collection makes a sync with nothing new one request per calendar. Set
    # false for a server whose implementation is broken: each sync then re-reads the window
    # and compares ETags (still correct, more data).
    use_sync_token: bool = True

    @model_validator(mode="after")
    def _check(self) -> Settings:
        sources = [s for s in (self.password_command, self.keyring_service, self.oauth2_token_command) if s]
        if len(sources) != 1:
            raise ValueError("set exactly one of password_command, keyring_service or oauth2_token_command")
        for url in [self.url, *self.calendar_urls]:
            parts = urlsplit(url)
            if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname or "")):
                continue
            raise ValueError(f"{url!r}: CalDAV URLs must start with https:// (http:// only for a server "
                             "on this machine: it would send the password unencrypted)")
        return self


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
