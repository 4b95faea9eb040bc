"""Opening a store whose schema is current costs one SELECT: no migration machinery is loaded.

Alembic (with Mako and Pygments behind it) adds a third of a second to every command; only
a database that really needs a migration may pay for it. Checked in a fresh interpreter,
since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.store import open_store
from tests.conftest import REPO

HEAVY = ("alembic", "mako", "pygments")


def _modules_loaded_by_opening(url: str) -> list[str]:
    code = (f"import sys, json; from syncd.store import open_store; open_store({url!r}).close(); "
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_a_current_store_opens_without_importing_alembic(db_url: str) -> None:
    open_store(db_url).close()  # created and migrated here
    assert _modules_loaded_by_opening(db_url) == []


@pytest.mark.slow
def test_a_new_store_is_made_without_importing_alembic(tmp_path: Path) -> None:
    # a first sync's database: the schema at once, stamped with the head revision
    assert _modules_loaded_by_opening(f"sqlite:///{tmp_path / 'new.db'}") == []


@pytest.mark.slow
def test_a_store_that_needs_its_migrations_does_load_alembic(tmp_path: Path) -> None:
    # the other side of the same check: it sees Alembic when Alembic is needed
    from syncd.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = open_store(url, migrate=False)
    with old.begin() as conn:
        upgrade(conn, "0006")
    old.close()
    assert "alembic" in _modules_loaded_by_opening(url)
