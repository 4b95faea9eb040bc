"""Finding the Sent and Drafts folders: RFC 6154 SPECIAL-USE flags first, then the names
clients commonly use (English, Gmail's, and localised ones), then the user's settings win."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SENT_NAMES = (
    "Sent", "Sent Items", "Sent Messages", "Sent Mail", "Sent Mails", "Sent-Mail",
    "[Gmail]/Sent Mail", "[Google Mail]/Sent Mail",
    "Gesendet", "Gesendete Elemente", "Gesendete Objekte", "Gesendete Nachrichten",
    "Envoyés", "Éléments envoyés", "Messages envoyés", "Enviados", "Elementos enviados",
    "Posta inviata", "Inviata", "Inviati", "Verzonden", "Verzonden items", "Skickat",
    "Skickade objekt", "Sendt", "Sendte elementer", "Lähetetyt", "Wysłane", "Odeslané",
    "Enviadas", "Itens enviados", "Отправленные", "Надіслані", "送信済み", "已发送",
)
DRAFT_NAMES = (
    "Drafts", "Draft", "[Gmail]/Drafts", "[Google Mail]/Drafts",
    "Entwürfe", "Brouillons", "Borradores", "Bozze", "Concepten", "Utkast", "Kladder",
    "Luonnokset", "Kopie robocze", "Koncepty", "Rascunhos", "Черновики", "Чернетки", "下書き", "草稿",
)


class FolderNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Folder:
    name: str
    flags: frozenset[str]  # lower-case flag names without the backslash: "sent", "noselect"


@dataclass(frozen=True)
class Roles:
    sent: str | None
    drafts: str | None
    all: tuple[str, ...]


def parse_list(listing: Iterable[tuple[Sequence[bytes], bytes | None, str]]) -> list[Folder]:
    """imapclient ``list_folders()`` rows → Folder."""
    out = []
    for flags, _delimiter, name in listing:
        names = frozenset(f.decode("ascii", "replace").lstrip("\\").lower() for f in flags)
        out.append(Folder(name=str(name), flags=names))
    return out


def _by_flag(folders: list[Folder], flag: str) -> str | None:
    for f in folders:
        if flag in f.flags and "noselect" not in f.flags:
            return f.name
    return None


def _by_name(folders: list[Folder], names: Sequence[str]) -> str | None:
    """First folder whose name (or last path part, or name below INBOX) is a known name."""
    wanted = {n.casefold(): i for i, n in enumerate(names)}
    best: tuple[int, str] | None = None
    for f in folders:
        if "noselect" in f.flags:
            continue
        full = f.name.casefold()
        candidates = {full}
        for sep in ("/", "."):
            if full.startswith("inbox" + sep):
                candidates.add(full[6:])
        for cand in candidates:
            rank = wanted.get(cand)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, f.name)
    return best[1] if best else None


def discover(folders: list[Folder], *, sent: str | None = None, drafts: str | None = None) -> Roles:
    """Sent and Drafts by configured name, else SPECIAL-USE flag, else usual name."""
    names = tuple(f.name for f in folders)

    def pick(configured: str | None, flag: str, usual: Sequence[str]) -> str | None:
        if configured:
            if configured not in names:
                # IMAP names are case-sensitive except INBOX; be kind to a mis-cased setting
                match = [n for n in names if n.casefold() == configured.casefold()]
                if len(match) != 1:
                    raise FolderNotFound(configured)
                return match[0]
            return configured
        return _by_flag(folders, flag) or _by_name(folders, usual)

    return Roles(sent=pick(sent, "sent", SENT_NAMES), drafts=pick(drafts, "drafts", DRAFT_NAMES), all=names)
