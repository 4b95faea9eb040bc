"""`pip install .` ships everything syncd needs at run time, not just the Python modules."""

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_the_wheel_carries_templates_example_config_and_migrations(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("syncd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("syncd/defaults/syncd.example.toml", "syncd/defaults/templates/followup.txt",
                     "syncd/defaults/templates/checkin.txt", "syncd/migrations/env.py",
                     "syncd/migrations/script.py.mako", "syncd/migrations/versions/0001_initial_schema.py",
                     "connectors/base.py", "connectors/local/settings.py"):
        assert required in names, required
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "syncd = syncd.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
