"""Teams: many members in one PostgreSQL database, synced by any number of workers.

Each member's data lives in a schema of its own (``syncd_m_<id>``) with the single-user tables,
so ingest, warmth, the planner, the ledger and the read views run unchanged for a member. What
the team shares is in the schema ``syncd_team`` (syncd.team.schema): members, their accounts,
encrypted secrets, the work queue and its leases, the workers, and the directory, the only
thing the team view reads. docs/team.md has the design and its limits.
"""
