"""What every connector's streams must do, whatever they carry: the part both suites share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from syncd.connectors.base import Connector, StreamKind
from tests.conformance.samples import pull_streams


class StreamHarness(ABC):
    @abstractmethod
    def connector(self) -> Connector:
        """A new connector for the account (a new process would build the same)."""

    @abstractmethod
    def request_count(self) -> int:
        """What the connector has cost its provider so far: commands or HTTP requests (for a
        local folder: files opened). The constant-cost check stands on it, so every harness
        must count."""


class StreamConformance:
    """The suites' shared tests; a suite names its ``kind`` and how to ``seed`` a few items."""

    kind: ClassVar[StreamKind]

    def seed(self, harness: StreamHarness) -> None:
        raise NotImplementedError

    def test_nothing_new_sync_yields_nothing_at_constant_cost(self, harness: StreamHarness) -> None:
        self.seed(harness)
        with harness.connector() as conn:
            _, cursors = pull_streams(conn, {}, self.kind)
        with harness.connector() as conn:
            streams = [s for s in conn.streams() if s.kind == self.kind]
            before = harness.request_count()
            batches, again = pull_streams(conn, cursors, self.kind)
            after = harness.request_count()
        assert [item for b in batches for item in b.items] == []
        assert all(again[s.name] is not None for s in streams)
        # constant per stream, whatever the mailbox or calendar holds (invariant 4)
        assert after - before <= 3 * len(streams) + 2
