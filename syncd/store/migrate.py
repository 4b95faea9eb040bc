"""Alembic, driven from code: the schema is made, or brought to HEAD_REVISION, when the store opens.

HEAD_REVISION lets a command that only reads (``syncd status``) see that nothing needs doing
without importing Alembic; a test keeps it equal to the newest migration.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection

HEAD_REVISION = "0009"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Every schema revision syncd has ever had (the migration files are named after them): a database
# at one of these is syncd's, even from before it carried syncd's mark.
KNOWN_REVISIONS = frozenset(p.name.partition("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def alembic_config(connection: Connection | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


def create(connection: Connection) -> None:
    """A new database: the declared schema at once, stamped with the newest revision (Alembic's
    recipe; running every migration from the first would rebuild SQLite tables for nothing).
    A test keeps this equal to what the migrations build.

    The stamp is Alembic's version table written here, as Alembic writes it: importing Alembic
    (and the template engine it loads) costs a first sync more than making the schema."""
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, insert

    from syncd.store.schema import metadata

    metadata.create_all(connection)
    version = Table("alembic_version", MetaData(), Column("version_num", String(32), nullable=False),
                    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))
    version.create(connection)
    connection.execute(insert(version).values(version_num=HEAD_REVISION))


def script_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
