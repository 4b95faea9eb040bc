"""Where a new user's mail and calendars already are: what `syncd init` offers as accounts.

Looked at, never changed: Maildir trees under ~/Mail, ~/.mail and ~/Maildir (as mbsync,
offlineimap and getmail leave them), mbsync's ~/.mbsyncrc (its IMAP accounts and where it
stores them), and vdirsyncer's config (its calendar folders and CalDAV servers). Every file
is read with a size cap and parsed leniently: a config we do not understand offers nothing.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 1 << 20
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")
PLACEHOLDER_TLDS = ("example", "invalid", "test", "localhost", "local")


@dataclass
class Offer:
    """An account syncd could read, and where the idea came from."""

    label: str  # for the person: "Maildir ~/Mail/work (mbsync)"
    settings: dict[str, Any]  # kind and the kind's settings, as the [[accounts]] table takes them
    source: str = ""
    notes: list[str] = field(default_factory=list)


def is_placeholder(address: str) -> bool:
    """An address from an example, not a real mailbox: example.com, *.example, *.invalid, ..."""
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    return (not domain or domain in PLACEHOLDER_DOMAINS or domain.rpartition(".")[2] in PLACEHOLDER_TLDS
            or "." not in domain)


def is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def maildir_root(path: Path, depth: int = 3) -> bool:
    """Does ``path`` hold Maildir folders (itself, or within ``depth`` levels)?"""
    if is_maildir(path):
        return True
    if depth == 0:
        return False
    try:
        children = sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())[:200]
    except OSError:
        return False
    return any(maildir_root(child, depth - 1) for child in children if child.name not in ("cur", "new", "tmp"))


def maildir_roots(home: Path) -> list[Path]:
    """Account trees: each folder of ~/Mail (~/.mail) that holds Maildirs, or ~/Maildir itself."""
    found = []
    for base in (home / "Mail", home / ".mail"):
        if not base.is_dir():
            continue
        if is_maildir(base / "INBOX") or is_maildir(base / "cur"):
            found.append(base)  # the whole tree is one account
            continue
        try:
            children = sorted(p for p in base.iterdir() if p.is_dir())[:50]
        except OSError:
            continue
        found += [p for p in children if maildir_root(p, 2)]
    if maildir_root(home / "Maildir", 1):
        found.append(home / "Maildir")
    return found


def _read(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def mbsync_accounts(home: Path) -> list[Offer]:
    """IMAP accounts in ~/.mbsyncrc, with the Maildir each one is stored in."""
    text = _read(home / ".mbsyncrc")
    if text is None:
        return []
    sections: list[tuple[str, str, dict[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        value = value.strip()
        if key in ("IMAPAccount", "MaildirStore", "IMAPStore", "Channel", "Group"):
            sections.append((key, value, {}))
        elif sections:
            sections[-1][2][key] = value
    stores = {name: opts for kind, name, opts in sections if kind == "MaildirStore"}
    offers = []
    for kind, name, opts in sections:
        if kind != "IMAPAccount" or "Host" not in opts:
            continue
        settings: dict[str, Any] = {"kind": "imap", "host": opts["Host"], "username": opts.get("User", "")}
        if opts.get("PassCmd"):
            settings["password_command"] = _unquote(opts["PassCmd"])
        if opts.get("SSLType", "").upper() == "STARTTLS":
            settings["security"] = "starttls"
        if opts.get("Port", "").isdigit():
            settings["port"] = int(opts["Port"])
        offers.append(Offer(f"IMAP {settings['username'] or '?'} at {opts['Host']} (from ~/.mbsyncrc)",
                            settings, source=f"mbsync account {name}"))
    for name, opts in stores.items():
        if opts.get("Path"):
            root = _expand(_unquote(opts["Path"]), home)
        elif opts.get("Inbox"):
            root = _expand(_unquote(opts["Inbox"]), home).parent
        else:
            continue
        offers.append(Offer(f"Maildir {_short(root, home)} (mbsync store {name})",
                            {"kind": "local", "maildir": str(root)}, source=f"mbsync store {name}"))
    return offers


def _expand(path: str, home: Path) -> Path:
    """'~/Mail/work/' in the home folder being looked at."""
    if path == "~" or path.startswith("~/"):
        return home / path[2:]
    return Path(os.path.expanduser(path))


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    if value.startswith("+"):  # mbsync: '+' runs the command with a terminal
        return value[1:].strip()
    return value


def vdirsyncer_storages(home: Path) -> list[Offer]:
    """Calendar folders and CalDAV servers in vdirsyncer's config."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    candidates = [Path(xdg) / "vdirsyncer" / "config"] if xdg else []
    candidates += [home / ".config" / "vdirsyncer" / "config", home / ".vdirsyncer" / "config"]
    text = next((t for t in (_read(p) for p in candidates) if t is not None), None)
    if text is None:
        return []
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    offers = []
    for section in parser.sections():
        if not section.startswith("storage "):
            continue
        opts = {k: _json(v) for k, v in parser.items(section)}
        kind = opts.get("type")
        if kind == "filesystem" and str(opts.get("fileext", "")).lower() == ".ics" and opts.get("path"):
            path = _expand(str(opts["path"]), home)
            offers.append(Offer(f"calendar folder {_short(path, home)} (vdirsyncer {section[8:]})",
                                {"kind": "local", "calendar": str(path)}, source=section))
        elif kind == "caldav" and isinstance(opts.get("url"), str) and isinstance(opts.get("username"), str):
            settings: dict[str, Any] = {"kind": "caldav", "url": opts["url"], "username": opts["username"]}
            fetch = opts.get("password.fetch")
            if isinstance(fetch, list) and len(fetch) >= 2 and fetch[0] == "command":
                settings["password_command"] = shlex.join(str(x) for x in fetch[1:])
            offers.append(Offer(f"CalDAV {opts['username']} at {opts['url']} (vdirsyncer {section[8:]})",
                                settings, source=section))
    return offers


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _short(path: Path, home: Path) -> str:
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def offers(home: Path | None = None) -> list[Offer]:
    """Everything found, the readiest first: local Maildirs (paired with a calendar folder when
    there is one), then IMAP and CalDAV servers."""
    home = home or Path.home()
    calendars = [o for o in vdirsyncer_storages(home) if o.settings["kind"] == "local"]
    servers = [o for o in vdirsyncer_storages(home) if o.settings["kind"] != "local"]
    mbsync = mbsync_accounts(home)
    roots: list[Path] = []
    for path in [Path(o.settings["maildir"]) for o in mbsync if o.settings["kind"] == "local"] + maildir_roots(home):
        if path not in roots and maildir_root(path, 2):
            roots.append(path)
    out = []
    for n, root in enumerate(roots):
        settings: dict[str, Any] = {"kind": "local", "maildir": str(root)}
        label = f"Maildir {_short(root, home)}"
        if n < len(calendars):  # offer the calendars alongside, in the order found
            settings["calendar"] = calendars[n].settings["calendar"]
            label += f" with calendar {_short(Path(settings['calendar']), home)}"
        out.append(Offer(label, settings, source="maildir"))
    paired = min(len(roots), len(calendars))
    out += calendars[paired:]
    out += [o for o in mbsync if o.settings["kind"] == "imap"] + servers
    return out
