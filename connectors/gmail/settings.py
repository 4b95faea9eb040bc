"""Settings of a ``kind = "gmail"`` account (see docs/google.md). Imports no Google library."""

from __future__ import annotations

from syncd.connectors._google.keys import GmailKeys, GoogleCommon


class Settings(GmailKeys, GoogleCommon):
    """client_secrets, labels, metadata_only, quota_units_per_minute, batch_size, timeout,
    max_retries, retry_base_seconds, oauth_port, endpoint (tests only)."""
