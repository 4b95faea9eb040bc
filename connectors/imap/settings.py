"""Settings of an IMAP account (``kind = "imap"``). Imports no IMAP library: config loading
stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from syncd.connectors._login import Login, is_loopback

Security = Literal["ssl", "starttls", "plain"]


class Settings(Login):
    host: str = Field(min_length=1)
    # "ssl": implicit TLS (port 993); "starttls": upgrade on port 143; "plain": no TLS at all,
    # allowed only for a server on this machine (Proton Bridge, a local Dovecot).
    security: Security = "ssl"
    port: int | None = Field(default=None, ge=1, le=65535)
    # Certificates are always verified; name a PEM file here to trust a private CA or a
    # self-signed server certificate.
    ca_file: Path | None = None
    # username and exactly one secret source (password_command, keyring_service, or
    # oauth2_token_command for an XOAUTH2 login): see connectors/_login.py
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
        if self.security == "plain" and not is_loopback(self.host):
            raise ValueError(f"security = \"plain\" sends the password unencrypted and is only allowed for a "
                             f"server on this machine, not {self.host!r}; use \"ssl\" or \"starttls\"")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.security == "ssl" else 143)
