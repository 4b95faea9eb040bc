"""One account's Google grant, shared by the API clients built on it (Gmail, Calendar)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from google.oauth2.credentials import Credentials

from syncd.connectors._google.api import GoogleApi, build_service
from syncd.connectors._google.auth import TokenStore
from syncd.connectors._google.keys import GoogleCommon
from syncd.connectors._google.quota import RateLimiter
from syncd.connectors._retry import RetryPolicy
from syncd.connectors.base import ConnectorEnv


class GoogleSession:
    """Loads the token file on first use (so building a connector costs nothing)."""

    def __init__(self, name: str, settings: GoogleCommon, env: ConnectorEnv, scopes: list[str]) -> None:
        self.name = name
        self.settings = settings
        self.scopes = scopes
        self.tokens = TokenStore(env.state_dir, name)

    @cached_property
    def creds(self) -> Credentials:
        creds = self.tokens.load(self.scopes)
        if self.settings.endpoint:
            # google-auth always loads Google's own token endpoint from the file; a local
            # fake serves it at ENDPOINT/token
            creds = creds.with_token_uri(self.settings.endpoint + "token")
        return creds

    def api(self, api: str, version: str, *, label: str, budget_per_minute: float, burst: float) -> GoogleApi:
        service: Any = build_service(api, version, self.creds, endpoint=self.settings.endpoint,
                                     timeout=self.settings.timeout)
        return GoogleApi(service, label=label, account=self.name, creds=self.creds, tokens=self.tokens,
                         limiter=RateLimiter(budget_per_minute, burst=burst),
                         retry=RetryPolicy(max_retries=self.settings.max_retries,
                                           base_delay=self.settings.retry_base_seconds))

    def close(self) -> None:
        if "creds" in self.__dict__:
            self.tokens.save_if_refreshed(self.creds)
