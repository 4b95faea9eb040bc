"""Builds Maildir trees and .ics folders on disk, as mbsync / offlineimap / vdirsyncer would."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from tests.conformance.samples import EventSpec, spec_to_ics

_seq = itertools.count(1)


class MailTree:
    def __init__(self, root: Path, layout: str = "verbatim") -> None:
        self.root = root
        self.layout = layout  # "verbatim" (Sent/cur) or "plusplus" (.Sent/cur, root = INBOX)
        root.mkdir(parents=True, exist_ok=True)

    def folder_path(self, name: str) -> Path:
        if self.layout == "plusplus":
            path = self.root if name == "INBOX" else self.root / ("." + name.replace("/", "."))
        else:
            path = self.root / name
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        return path

    def put(self, folder: str, raw: bytes, *, new: bool = False) -> Path:
        """Deliver like an MDA: write into tmp/, then rename into new/ or cur/."""
        base = self.folder_path(folder)
        name = f"{next(_seq)}.{os.getpid()}.syncdtest"
        tmp = base / "tmp" / name
        tmp.write_bytes(raw)
        dest = base / "new" / name if new else base / "cur" / f"{name}:2,S"
        os.rename(tmp, dest)
        return dest

    def sent(self, raw: bytes) -> Path:
        return self.put("Sent", raw)

    def inbox(self, raw: bytes) -> Path:
        return self.put("INBOX", raw)


class IcsFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path_for(self, uid: str) -> Path:
        return self.root / (uid.replace("@", "_").replace("/", "_") + ".ics")

    def put(self, spec: EventSpec) -> Path:
        path = self.path_for(spec.uid)
        existed = path.exists()
        path.write_text(spec_to_ics(spec), encoding="utf-8")
        if existed:  # make sure the change is visible even within one mtime tick
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        return path

    def put_text(self, name: str, text: str | bytes) -> Path:
        path = self.root / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    def delete(self, uid: str) -> None:
        self.path_for(uid).unlink()
