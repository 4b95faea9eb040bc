"""Where syncd keeps things (XDG base directories), in one place."""

from __future__ import annotations

import os
import importlib.util
from pathlib import Path

APP = "syncd"


def _xdg(env: str, default: str) -> Path:
    value = os.environ.get(env)
    base = Path(value) if value and Path(value).is_absolute() else Path.home() / default
    return base / APP


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share")


def state_dir() -> Path:
    """Tokens, token caches, the daemon lock: private, 0700."""
    return _xdg("XDG_STATE_HOME", ".local/state")


def cache_dir() -> Path:
    """What can be made again from elsewhere (checked config files): private, 0700."""
    return _xdg("XDG_CACHE_HOME", ".cache")


def default_config_path() -> Path:
    return config_dir() / "config.toml"


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'syncd.db'}"


def private_dir(path: Path) -> Path:
    """Make ``path`` (parents as the system makes them) private to the user: 0700 whatever the umask."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def account_state_dir(account: str) -> Path:
    """Tokens and caches of one account; it and the state folders above it are private (0700)."""
    private_dir(state_dir())
    private_dir(state_dir() / "accounts")
    return private_dir(state_dir() / "accounts" / account)


def defaults_dir() -> Path:
    """The shipped config/ folder: example config and draft templates.

    Installed, it is the ``syncd.defaults`` package (see setup.py); from a source checkout
    it is the repository's config/ folder.
    """
    try:
        spec = importlib.util.find_spec("syncd.defaults")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "config"
