"""Settings of an IMAP account (``kind = "imap"``). Imports no IMAP library: config loading
stays fast."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Security = Literal["ssl", "starttls", "plain"]


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    username: str = Field(min_length=1)
    # "ssl": implicit TLS (port 993); "starttls": upgrade on port 143; "plain": no TLS at all,
    # allowed only for a server on this machine (Proton Bridge, a local Dovecot).
    security: Security = "ssl"
    port: int | None = Field(default=None, ge=1, le=65535)
    # Certificates are always verified; name a PEM file here to trust a private CA or a
    # self-signed server certificate.
    ca_file: Path | None = None
    # Exactly one password source. The password itself never goes into this file.
    password_command: str | None = None  # e.g. "pass show mail/work"
    keyring_service: str | None = None  # keyring set SERVICE USERNAME
    oauth2_token_command: str | None = None  # prints an OAuth2 access token: XOAUTH2 login
    # Folders: found by SPECIAL-USE flags, then by the usual names; set them to override.
    sent_folder: str | None = None
    drafts_folder: str | None = None
    read_inbox: bool = True  # replies to you (reciprocity) and mailing lists are learnt here
    extra_folders: list[str] = Field(default_factory=list)  # e.g. an archive where Sent mail is filed
    timeout: float = Field(default=60.0, gt=0)  # seconds per network operation
    retries: int = Field(default=3, ge=0, le=10)  # reconnects after a dropped connection
    retry_delay: float = Field(default=2.0, ge=0)  # seconds before the first reconnect; doubles, with jitter

    @model_validator(mode="after")
    def _check(self) -> Settings:
        sources = [s for s in (self.password_command, self.keyring_service, self.oauth2_token_command) if s]
        if len(sources) != 1:
            raise ValueError("set exactly one of password_command, keyring_service or oauth2_token_command")
        if self.security == "plain" and not is_loopback(self.host):
            raise ValueError(f"security = \"plain\" sends the password unencrypted and is only allowed for a "
                             f"server on this machine, not {self.host!r}; use \"ssl\" or \"starttls\"")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.security == "ssl" else 143)
