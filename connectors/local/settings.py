from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_EXCLUDED = [
    "Drafts", "Trash", "Junk", "Spam", "Junk E-mail", "Deleted Items", "Deleted Messages",
    "[Gmail]/Trash", "[Gmail]/Spam", "[Gmail]/Drafts", "[Gmail]/All Mail", "Outbox", "Templates",
]


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    maildir: str | None = Field(None, description="root of a Maildir tree (Sent, INBOX, nested folders)")
    calendar: str | None = Field(None, description="folder of .ics files, searched recursively")
    drafts_folder: str = Field("Drafts", description="Maildir folder that receives drafts")
    exclude_folders: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDED))
    batch_size: int = Field(5000, ge=1, le=100_000)

    @field_validator("drafts_folder")
    @classmethod
    def _inside(cls, value: str) -> str:
        parts = value.split("/")
        if not value or len(value) > 255 or any(p in ("", ".", "..") or "\\" in p for p in parts) \
                or any(not c.isprintable() for c in value):
            raise ValueError("must name a folder inside the Maildir, like 'Drafts' or 'Work/Drafts' "
                             "(no '..', no leading '/')")
        return value

    @model_validator(mode="after")
    def _something(self) -> Settings:
        if not self.maildir and not self.calendar:
            raise ValueError("set maildir, calendar, or both")
        return self
