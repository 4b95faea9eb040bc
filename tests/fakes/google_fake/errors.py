"""Google's JSON error bodies (https://cloud.google.com/apis/design/errors, v1 "errors" list kept)."""

from __future__ import annotations

import json
from typing import Any

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                410: "GONE", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
DOMAINS = {"rateLimitExceeded": "usageLimits", "userRateLimitExceeded": "usageLimits",
           "authError": "global", "fullSyncRequired": "calendar"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or {404: "notFound", 500: "backendError", 503: "backendError"}.get(status, "")
        self.headers = headers or {}

    def body(self) -> bytes:
        error: dict[str, Any] = {"code": self.status, "message": self.message,
                                 "errors": [{"message": self.message, "domain": DOMAINS.get(self.reason, "global"),
                                             "reason": self.reason}],
                                 "status": STATUS_NAMES.get(self.status, "UNKNOWN")}
        return json.dumps({"error": error}).encode()
