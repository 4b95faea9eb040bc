"""The commands of `syncd`, each registered on the group when its module is imported.

A command runs with only its own module imported (`syncd status` does not pay for the
modules of `init`, `run` or `merge`): the group asks :func:`load` for a name it does not
know yet, and for all of them when it lists them (help, completion). A test keeps
MODULES equal to what the modules register.
"""

from __future__ import annotations

import importlib

# command name -> the module (in this package) that registers it
MODULES = {
    "status": "views", "contacts": "views", "contact": "views", "followups": "views", "targets": "views",
    "prune": "curate", "ignore": "curate", "merge": "curate", "unmerge": "curate", "note": "curate",
    "cadence": "curate",
    "run": "daemon", "service": "daemon", "brief": "daemon",
    "init": "setup", "demo": "setup", "accounts": "setup",
    "sync": "syncing",
    "members": "team", "team": "team",
}


def load(name: str | None = None) -> None:
    """Register the command ``name`` (every command when None); an unknown name is left to click."""
    for module in sorted(set(MODULES.values())) if name is None else [MODULES.get(name)]:
        if module:
            importlib.import_module(f"{__name__}.{module}")
