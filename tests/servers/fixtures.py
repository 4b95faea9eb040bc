"""pytest fixtures for the private servers: import them into a test module to use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.dovecot import Dovecot
from tests.servers.radicale import Radicale


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server


@pytest.fixture(scope="module")
def radicale() -> Iterator[Radicale]:
    with Radicale() as server:
        yield server
