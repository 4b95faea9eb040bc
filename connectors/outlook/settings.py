"""Settings of an ``outlook`` account (Microsoft 365 / Outlook.com through Microsoft Graph).

No provider library is imported here: reading the config must stay fast.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, description="Application (client) id of your own Entra ID app registration")
    tenant: str = Field("common", min_length=1, description='Directory (tenant) id or domain; "common" for any account, '
                        '"organizations" for work/school only, "consumers" for Outlook.com only')
    mail_folders: list[str] = Field(
        default_factory=lambda: ["sentitems", "inbox"],
        description="Mail folders to read, by well-known name (sentitems, inbox) or folder id",
    )
    calendar: bool = Field(True, description="Read the primary calendar's meetings")
    window_past_days: int | None = Field(None, ge=1, le=3650, description="Overrides the core's calendar window (past)")
    window_future_days: int | None = Field(None, ge=1, le=730, description="Overrides the core's calendar window (future)")
    max_concurrency: int = Field(4, ge=1, le=4, description="Concurrent Graph requests per mailbox (Outlook allows 4)")
    page_size: int = Field(500, ge=1, le=999, description="Prefer: odata.maxpagesize for delta and list queries")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for one HTTP response")
    max_retries: int = Field(6, ge=0, le=20, description="Retries of a throttled/failed request before giving up for this run")
    retry_base_delay: float = Field(1.0, ge=0, description="First back-off delay in seconds (doubles, with jitter)")
    retry_max_delay: float = Field(64.0, ge=0, description="Cap of one back-off delay (and of an honoured Retry-After)")
    # For testing against a local fake of the identity platform and Graph; leave unset in real use.
    authority: str | None = Field(None, description="For testing against a local fake: https URL of the authority")
    graph_endpoint: str = Field("https://graph.microsoft.com/v1.0",
                                description="For testing against a local fake: the Graph base URL")
    ca_file: str | None = Field(None, description="For testing against a local fake: CA bundle (PEM) to trust")

    @field_validator("authority", "graph_endpoint")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be an https:// URL (msal refuses plain http)")
        return value.rstrip("/") if value else value

    @field_validator("mail_folders")
    @classmethod
    def _folders(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or any(not v.strip() or "/" in v for v in value):
            raise ValueError("folder names must be unique, non-empty and contain no '/'")
        return value
