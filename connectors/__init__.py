"""Provider connectors, one package per kind, all behind :mod:`connectors.base`.

Kinds are found by name: ``connectors/<kind>/settings.py`` holds the account settings model
and ``connectors/<kind>/connector.py`` the implementation. Nothing here imports a provider
library; that happens only when an account of that kind is opened.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any


@cache
def known_kinds() -> tuple[str, ...]:
    here = Path(__file__).parent
    return tuple(
        sorted(
            info.name
            for info in pkgutil.iter_modules([str(here)])
            if info.ispkg and (here / info.name / "settings.py").exists()
        )
    )


def settings_model(kind: str) -> Any:
    """The pydantic model for an account of ``kind`` (KeyError for an unknown kind)."""
    if kind not in known_kinds():
        raise KeyError(kind)
    return importlib.import_module(f"syncd.connectors.{kind}.settings").Settings


def connector_module(kind: str) -> ModuleType:
    if kind not in known_kinds():
        raise KeyError(kind)
    return importlib.import_module(f"syncd.connectors.{kind}.connector")


def connector_class(kind: str) -> Any:
    return connector_module(kind).Connector
