"""Only here to ship config/ (the example config and draft templates) inside the package as
``syncd.defaults``; everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["syncd", "syncd.*", "connectors", "connectors.*"])
    + ["syncd.defaults", "syncd.defaults.templates"],
    package_dir={"syncd.defaults": "config", "syncd.defaults.templates": "config/templates"},
    package_data={
        "syncd.defaults": ["*.toml"],
        "syncd.defaults.templates": ["*.txt"],
        "syncd.migrations": ["script.py.mako"],
    },
)
