"""Settings keys shared by the gmail, gcal and google kinds. Imports no Google library."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class GoogleCommon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The OAuth client ("Desktop app") JSON downloaded from the Google Cloud console. Only
    # `syncd accounts add/reauth` reads it; syncing uses the token file in the state dir.
    client_secrets: Path | None = None
    # Fixed loopback port for the consent redirect (0 = any free port). Fix it when the
    # browser runs on another machine and you forward the port over SSH.
    oauth_port: int = Field(default=0, ge=0, le=65535)
    # For testing against a local fake of the Google APIs: the root URL that replaces
    # https://gmail.googleapis.com/ and https://www.googleapis.com/ (and ENDPOINT/token
    # replaces Google's OAuth token endpoint). Leave unset.
    endpoint: str | None = None
    timeout: float = Field(default=60.0, gt=0)  # seconds per HTTP request
    max_retries: int = Field(default=6, ge=0, le=20)  # for 429, 403 rate limits, 5xx, network
    retry_base_seconds: float = Field(default=1.0, gt=0, le=60)  # first backoff delay

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_a_root_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("endpoint must be an http:// or https:// URL")
        return value.rstrip("/") + "/"


class GmailKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Gmail label ids read as mail streams: what you send, and what you receive (replies).
    labels: list[str] = Field(default_factory=lambda: ["SENT", "INBOX"], min_length=1)
    # Ask for gmail.metadata instead of gmail.readonly: Google then never lets syncd see a
    # body, but users.settings.sendAs is not readable either, so aliases must be listed
    # in [me] addresses by hand. syncd itself never uses `q=` searches, which
    # gmail.metadata forbids.
    metadata_only: bool = False
    quota_units_per_minute: int = Field(default=15_000, ge=100)  # Gmail's per-user budget
    batch_size: int = Field(default=50, ge=1, le=50)  # Google: more than 50 per batch is throttled


class CalendarKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calendars: list[str] = Field(default_factory=lambda: ["primary"], min_length=1)
    calendar_requests_per_minute: int = Field(default=600, ge=10)  # Calendar's per-user quota
