"""Only here to ship config/ (the example config and draft templates) inside the package as
``syncd.defaults``; everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["syncd", "syncd.*", "connectors", "connectors.*"]) + ["syncd.defaults"],
    package_dir={"syncd.defaults": "config"},
    package_data={
        "syncd.defaults": ["*.toml", "templates/*"],
        "syncd": ["migrations/*.py", "migrations/script.py.mako", "migrations/versions/*.py"],
    },
)
