"""Alembic, driven from code: the schema is brought to HEAD_REVISION when the store opens.

HEAD_REVISION lets a command that only reads (``syncd status``) see that nothing needs doing
without importing Alembic; a test keeps it equal to the newest migration.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection

HEAD_REVISION = "0006"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(connection: Connection | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


def script_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
