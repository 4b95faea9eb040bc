"""Settings of a ``kind = "gcal"`` account (see docs/google.md). Imports no Google library."""

from __future__ import annotations

from syncd.connectors._google.keys import CalendarKeys, GoogleCommon


class Settings(CalendarKeys, GoogleCommon):
    """client_secrets, calendars, calendar_requests_per_minute, timeout, max_retries,
    retry_base_seconds, oauth_port, endpoint (tests only)."""
