"""A contract fake of the Gmail v1 and Calendar v3 APIs and Google's OAuth endpoints.

Served over HTTP on 127.0.0.1 for the real google-api-python-client; see :mod:`.server`."""

from tests.fakes.google_fake.server import GoogleFake, Logged

__all__ = ["GoogleFake", "Logged"]
