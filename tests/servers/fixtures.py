"""pytest fixtures for the private servers: import them into a test module to use them."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import unavailable
from tests.servers.dovecot import DOVECOT, Dovecot
from tests.servers.radicale import Radicale


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    if not (os.path.exists(DOVECOT) and shutil.which("openssl")):
        unavailable("Dovecot (package dovecot-imapd) and openssl are needed for the IMAP tests")
    with Dovecot() as server:
        yield server


@pytest.fixture(scope="module")
def radicale() -> Iterator[Radicale]:
    if importlib.util.find_spec("radicale") is None:
        unavailable("Radicale (pip install radicale, in the test extra) is needed for the CalDAV tests")
    with Radicale() as server:
        yield server
