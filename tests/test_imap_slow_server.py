"""IMAP against slow servers: progress counts, a timeout never doubles the server's work.

A first sync of a big folder on a cold server (its header cache empty, nothing in memory) is
slow in two ways: answers that take long but keep arriving, and commands the server works
on in silence. The relay in front of Dovecot plays both (tests/servers/dovecot.py).
"""

from __future__ import annotations

import re

import pytest

from tests.conformance.mail import messages
from tests.servers.dovecot import Dovecot, sample_messages
from tests.servers.fixtures import dovecot  # noqa: F401 - a fixture
from tests.test_imap_connector import ImapHarness, harness, proxy  # noqa: F401 - fixtures

pytestmark = pytest.mark.dovecot


def _fetches(harness: ImapHarness) -> list[tuple[int, str]]:
    return [(conn, line) for conn, line in harness.proxy.events if line.startswith("UID FETCH")]


@pytest.mark.slow
def test_an_answer_that_keeps_arriving_is_never_cut_off(harness: ImapHarness, dovecot: Dovecot) -> None:
    dovecot.seed(harness.user, "Sent", sample_messages(300))
    harness.proxy.trickle = (2048, 0.02)  # ~100 KB/s: the FETCH answer takes far longer than the timeout
    with harness.connector(read_inbox=False, timeout=0.4, retries=0) as conn:
        batches = list(conn.pull("mail:Sent", None))
    assert len(messages(batches)) == 300
    assert [c for c in harness.proxy.commands_since(0) if c == "LOGIN"] == ["LOGIN"]  # never reconnected


@pytest.mark.slow
def test_a_fetch_that_times_out_is_never_in_flight_twice(harness: ImapHarness, dovecot: Dovecot) -> None:
    dovecot.seed(harness.user, "Sent", sample_messages(700))
    harness.proxy.silence_after = "UID FETCH"  # the server works on the first FETCH in silence
    with harness.connector(read_inbox=False, timeout=0.3, retry_delay=0.05) as conn:
        batches = list(conn.pull("mail:Sent", None))
    ids = [m.message_id for m in messages(batches)]
    assert len(ids) == len(set(ids)) == 700

    events = harness.proxy.events
    (first_conn, first), (second_conn, second) = _fetches(harness)[:2]
    assert first_conn != second_conn
    # the silent connection was hung up before the FETCH was asked again elsewhere
    assert events.index((first_conn, "closed")) < events.index((second_conn, second))
    # and the server, maybe still busy with the first, is asked for less the second time
    first_set, second_set = (re.match(r"UID FETCH (\S+)", line).group(1) for line in (first, second))  # type: ignore[union-attr]
    assert second_set != first_set and second_set.split(":")[0] == first_set.split(":")[0]
