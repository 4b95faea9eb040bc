"""pytest fixtures for the Google contract fake: import them into a test module to use them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.google_fake.harness import GcalFakeHarness, GmailFakeHarness
from tests.fakes.google_fake.server import GoogleFake


@pytest.fixture
def fake() -> Iterator[GoogleFake]:
    with GoogleFake() as server:
        yield server


@pytest.fixture(name="harness")
def gmail_harness(fake: GoogleFake, tmp_path: Path) -> GmailFakeHarness:
    """A Gmail account on the fake, authorized."""
    return GmailFakeHarness(fake, tmp_path / "state")


@pytest.fixture(name="harness")
def gcal_harness(fake: GoogleFake, tmp_path: Path) -> GcalFakeHarness:
    """A Google Calendar account on the fake, authorized."""
    return GcalFakeHarness(fake, tmp_path / "state")
