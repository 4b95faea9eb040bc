"""Edits of the config file that keep what the person wrote: comments, order, layout.

tomlkit reads the file into a document that remembers its formatting; syncd changes only the
values it must, checks the result with the same validation `syncd` applies on every start,
and replaces the file atomically (a crash leaves the old file or the new one, never half).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from syncd.config import Config, ConfigError, example_config_text, parse_config


def initial_text(name: str, addresses: list[str], internal_domains: list[str],
                 accounts: list[dict[str, Any]]) -> str:
    """The commented example config with the person's own [me] and accounts."""
    doc = tomlkit.parse(example_config_text())
    doc["me"]["name"] = name  # type: ignore[index]
    doc["me"]["addresses"] = addresses  # type: ignore[index]
    doc["me"]["internal_domains"] = internal_domains  # type: ignore[index]
    del doc["accounts"]  # the example's placeholder account; its comments stay above it
    text = tomlkit.dumps(doc)
    for account in accounts:
        text = add_account(text, account)
    return text


def add_account(text: str, values: dict[str, Any]) -> str:
    """``text`` with one more [[accounts]] table, after the others."""
    doc = tomlkit.parse(text)
    table = tomlkit.table()
    for key, value in values.items():
        table[key] = value
    table.trivia.indent = "\n"  # a blank line before its header
    accounts = doc.get("accounts")
    if accounts is None:
        doc.append("accounts", tomlkit.aot())
        accounts = doc["accounts"]
    if not isinstance(accounts, AoT):
        raise ConfigError("'accounts' in the config file is not a list of [[accounts]] tables")
    accounts.append(table)
    return tomlkit.dumps(doc)


def _account_index(doc: Any, name: str) -> int:
    accounts = doc.get("accounts") or []
    for n, table in enumerate(accounts):
        if isinstance(table, Table) and table.get("name") == name:
            return n
    known = ", ".join(str(t.get("name")) for t in accounts if isinstance(t, Table)) or "none"
    raise ConfigError(f"no account named {name!r} in the config file; accounts: {known}")


def remove_account(text: str, name: str) -> str:
    doc = tomlkit.parse(text)
    del doc["accounts"][_account_index(doc, name)]  # type: ignore[union-attr]
    if not doc["accounts"]:
        del doc["accounts"]
    return tomlkit.dumps(doc)


def set_enabled(text: str, name: str, enabled: bool) -> str:
    doc = tomlkit.parse(text)
    table = doc["accounts"][_account_index(doc, name)]  # type: ignore[index]
    if enabled:
        table.pop("enabled", None)  # the default: nothing to write
    else:
        table["enabled"] = False
    return tomlkit.dumps(doc)


def save(path: Path, text: str) -> Config:
    """Check ``text`` as a config, then write it to ``path`` in one step (mode 0600 when new,
    the file's own mode otherwise). Returns the parsed config; raises ConfigError untouched."""
    config = parse_config(text, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return config
