"""What syncd remembers of a config file it has checked: the checked values, keyed by the
file's exact bytes and the shape of the config, so that the next command reads them back
without checking the file again (the check costs a read command a quarter of its time).

One small JSON file per config file, in the private cache folder (0600 in a 0700 folder; the
config holds no secrets, but addresses and host names are nobody else's business). Anything
unexpected (no cache folder, a damaged entry, another file's bytes) is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from syncd import paths


def _entry(config_path: Path) -> Path:
    where = hashlib.sha256(str(config_path.absolute()).encode()).hexdigest()[:24]
    return paths.cache_dir() / "config" / f"{where}.json"


def _key(raw: bytes, shape: str) -> str:
    return f"{shape}:{hashlib.sha256(raw).hexdigest()}"


def recall(config_path: Path, raw: bytes, shape: str) -> dict[str, Any] | None:
    """The checked values of the file whose bytes are ``raw``, if remembered for this shape."""
    try:
        stored = json.loads(_entry(config_path).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != _key(raw, shape) or not isinstance(stored.get("data"), dict):
        return None
    return stored["data"]  # type: ignore[no-any-return]


def remember(config_path: Path, raw: bytes, shape: str, data: dict[str, Any]) -> None:
    """Keep ``data`` (checked values) for the file whose bytes are ``raw``; best effort."""
    entry = _entry(config_path)
    try:
        body = json.dumps({"key": _key(raw, shape), "data": data}, allow_nan=False).encode()
    except (TypeError, ValueError):
        return  # a value JSON cannot hold exactly (a TOML date in an account's settings): check each time
    try:
        paths.private_dir(paths.cache_dir())
        paths.private_dir(entry.parent)
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(tmp, entry)  # readers see the old entry or the new one, never half of one
    except OSError:
        pass
