"""Package layout that pyproject.toml cannot express on its own.

* ``connectors/`` (top of the repository, one package per provider) installs as
  ``syncd.connectors``: nothing but ``syncd`` lands at the top of site-packages.
* ``config/`` (the example config and draft templates) ships as ``syncd.defaults``.
"""

from setuptools import find_packages, setup

connector_packages = ["syncd.connectors" + p[len("connectors"):]
                      for p in find_packages(include=["connectors", "connectors.*"])]

setup(
    packages=find_packages(include=["syncd", "syncd.*"]) + connector_packages
    + ["syncd.defaults", "syncd.defaults.templates"],
    package_dir={"syncd.connectors": "connectors", "syncd.defaults": "config",
                 "syncd.defaults.templates": "config/templates"},
    package_data={
        "syncd.defaults": ["*.toml"],
        "syncd.defaults.templates": ["*.txt"],
        "syncd.migrations": ["script.py.mako"],
    },
)
