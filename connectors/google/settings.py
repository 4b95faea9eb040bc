"""Settings of a ``kind = "google"`` account: the gmail and gcal keys together.

Imports no Google library."""

from __future__ import annotations

from syncd.connectors._google.keys import CalendarKeys, GmailKeys, GoogleCommon


class Settings(GmailKeys, CalendarKeys, GoogleCommon):
    """Every key of the gmail and gcal kinds (see docs/google.md)."""
