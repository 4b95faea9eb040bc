"""`pip install .` ships everything syncd needs at run time, not just the Python modules."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # each builds a wheel


def test_the_wheel_carries_templates_example_config_and_migrations(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("syncd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("syncd/defaults/syncd.example.toml", "syncd/defaults/templates/followup.txt",
                     "syncd/defaults/templates/checkin.txt", "syncd/migrations/env.py",
                     "syncd/migrations/script.py.mako", "syncd/migrations/versions/0001_initial_schema.py",
                     "syncd/connectors/base.py", "syncd/connectors/local/settings.py"):
        assert required in names, required
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "syncd = syncd.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_wheel_installs_nothing_at_the_top_of_site_packages_but_syncd(tmp_path: Path) -> None:
    """A top-level `connectors` (or `config`, `tests`) would collide with other distributions."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("syncd-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"syncd"}
    top_level = next(n for n in names if n.endswith("top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["syncd"]
