"""One conformance suite per record kind, run against every connector (vdirsyncer-style).

A connector's test module subclasses :class:`MailConformance` / :class:`CalendarConformance`
(both built on :mod:`.streams`, what every stream must do) and provides a ``harness`` fixture:
a small object that can put data into the real server (or contract fake) behind the
connector, the way the provider itself would, and count what the connector asked of it.
"""
