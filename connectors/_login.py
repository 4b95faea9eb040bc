"""What the kinds that log in with a user name and a secret (IMAP, CalDAV) share in their
settings: exactly one source for the secret, never the secret itself, and what to tell the
user when it is refused. Imports no provider library: reading the config stays fast."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, model_validator


def is_loopback(host: str) -> bool:
    """A host name or address of this machine, where an unencrypted connection is harmless."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1)
    # Exactly one secret source. The password itself never goes into the config file.
    password_command: str | None = None  # e.g. "pass show mail/work"
    keyring_service: str | None = None  # keyring set SERVICE USERNAME
    oauth2_token_command: str | None = None  # prints an OAuth2 access (bearer) token
    # A team member's account: the password is stored encrypted in the team database and handed
    # over in memory by the worker that syncs it (syncd.team.secret).
    team_secret: bool = False

    @model_validator(mode="after")
    def _one_secret_source(self) -> Login:
        sources = [s for s in (self.password_command, self.keyring_service, self.oauth2_token_command,
                               self.team_secret) if s]
        if len(sources) != 1:
            raise ValueError("set exactly one of password_command, keyring_service or oauth2_token_command")
        return self

    def secret_fix(self, account: str) -> str:
        """The step that repairs a refused or unreadable secret, shown by `syncd status`."""
        if self.team_secret:
            return (f"store the right password with: syncd accounts add ... --member M --secret-stdin "
                    f"(account {account!r})")
        if self.oauth2_token_command:
            return f"check oauth2_token_command of account {account!r}: it must print a valid access token"
        if self.password_command:
            return f"check password_command of account {account!r} (and the password it prints)"
        return f"store the right password with: keyring set {self.keyring_service} {self.username} (account {account!r})"
