"""What the CLI prints: safe lines that fit the terminal, tables, and the one JSON contract.

Every string on the way to the terminal passes :func:`syncd.terminal.clean`; table cells are
plain text (rich never reads markup in them, so a subject ``[bold]`` prints as written). Off a
terminal the output is plain text at $COLUMNS (default 80) columns; $NO_COLOR is honoured.
rich is imported only by the commands that draw a table or a progress display.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import click

from syncd.terminal import clean, json_safe
from syncd.timeutil import span_text

JSON_VERSION = 1


def width() -> int:
    """The terminal's width; $COLUMNS, else 80, when the output is not a terminal."""
    return max(40, shutil.get_terminal_size((80, 24)).columns)


def say(text: str = "", *, err: bool = False, indent: int = 0) -> None:
    """One paragraph, cleaned, wrapped to the terminal (continuation lines indented by 2 more).
    Errors on stderr stay one line each: whole sentences for logs, scripts and searches."""
    line = clean(text)
    pad = " " * indent
    if err or len(pad) + len(line) <= width():
        click.echo(pad + line, err=err)
        return
    click.echo(textwrap.fill(line, width(), initial_indent=pad, subsequent_indent=pad + "  ",
                             break_on_hyphens=False), err=err)


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 meeting', '2 meetings', '1 person', '3 people'."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def timestamp(dt: datetime | None) -> str | None:
    """The JSON form of an instant: ISO 8601 to the second, with its offset (UTC)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def emit_json(**sections: Any) -> None:
    """The contract of every --json: one object, ``"version": 1``, named lists inside."""
    data = {"version": JSON_VERSION, **sections}
    click.echo(json_safe(json.dumps(data, indent=2, ensure_ascii=False, default=_default)))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp(value)
    return str(value)


def ago(iso: str | None, now: datetime) -> str:
    """'3 d ago', '5 h ago', 'in 2 h', 'never'."""
    if not iso:
        return "never"
    seconds = (now - datetime.fromisoformat(iso)).total_seconds()
    if seconds < 0:
        return "in " + span_text(-seconds)
    return span_text(seconds) + " ago"


def more(shown: int, total: int, hint: str = "--all") -> None:
    """'12 more: --all' under a list that was cut."""
    if total > shown:
        say(f"{total - shown:,} more: {hint}")


# --- tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    header: str
    justify: Literal["left", "right"] = "left"
    min_width: int | None = None  # never narrower (numbers, dates)
    ratio: int | None = None  # share of the leftover width; columns with a ratio shrink first
    style: str | None = None


def num(header: str) -> Col:
    return Col(header, "right", min_width=len(header))


def console(err: bool = False) -> Any:
    """A rich Console on stdout (or stderr) that prints text as text: no markup, no emoji, no
    guessing at highlights. Colour only on a terminal, and never with $NO_COLOR."""
    import os

    from rich.console import Console

    plain = {"color_system": None} if os.environ.get("NO_COLOR") else {}  # no colour and no bold either
    return Console(stderr=err, highlight=False, markup=False, emoji=False, width=None if _is_tty(err) else width(),
                   **plain)


def _is_tty(err: bool) -> bool:
    import sys

    stream = sys.stderr if err else sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


@dataclass(frozen=True)
class Styled:
    """A table cell in a style (colour only on a colour terminal; NO_COLOR and pipes get plain text)."""

    text: str
    style: str | None = None


def styled(text: str, style: str | None) -> Styled:
    return Styled(clean(text), style)


def table(rows: Iterable[Sequence[Any]], cols: Sequence[Col], *, indent: int = 0) -> None:
    """Rows under a header, fitted to the terminal: the columns with a ratio give up width
    first, and a cell that does not fit ends in '…'. Numbers stay whole.

    On a terminal rich draws it (bold headers, colours); into a pipe or a file the same text is
    laid out here, without loading rich's console (a test holds the two to the same output)."""
    from rich.cells import cell_len

    body = [[v if isinstance(v, Styled) else Styled(_cell(v)) for v in row] for row in rows]
    natural = [max([cell_len(c.header)] + [cell_len(r[i].text) for r in body]) for i, c in enumerate(cols)]
    widths = _fit(natural, cols, width() - indent - 2 * (len(cols) - 1))
    pad = " " * indent
    lines, colour = (plain_lines(body, cols, widths, width()) if _plain_output() else None), False
    if lines is None:
        lines, colour = rich_lines(body, cols, widths)
    for line in lines:
        click.echo(pad + _TRAILING.sub(r"\1", line), color=colour)


def _plain_output() -> bool:
    """Not a terminal, and nothing asks rich to act as one: rich would print plain text too."""
    import os

    forced = any(os.environ.get(v) for v in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS"))
    return not forced and not _is_tty(False)


def rich_lines(body: list[list[Styled]], cols: Sequence[Col], widths: list[int]) -> tuple[list[str], bool]:
    """The table as rich draws it, and whether those lines hold colour codes."""
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold", expand=False)
    for c, w in zip(cols, widths, strict=True):
        grid.add_column(c.header, justify=c.justify, no_wrap=True, overflow="ellipsis", width=w, style=c.style)
    for row in body:
        grid.add_row(*[Text(cell.text, style=cell.style or "") for cell in row])
    out = console()
    with out.capture() as captured:
        out.print(grid, crop=True)
    return captured.get().splitlines(), out.color_system is not None  # rich decided: a terminal, no NO_COLOR


def plain_lines(body: list[list[Styled]], cols: Sequence[Col], widths: list[int], room: int) -> list[str] | None:
    """The table as plain text, as rich lays it out: a cell cut to its column's width ends in
    '…', pads to it by its justification, columns two spaces apart. None if the columns do not
    fit in ``room`` (rich narrows them then, by rules of its own: it draws that table)."""
    from rich.cells import cell_len, set_cell_size

    if sum(widths) + 2 * (len(widths) - 1) > room:
        return None

    def cell(text: str, w: int, justify: str) -> str:
        if justify == "right":
            text = text.rstrip()  # as rich's right justification does
        if cell_len(text) > w:
            text = set_cell_size(text, w - 1) + "…" if w > 0 else ""
        gap = " " * (w - cell_len(text))
        return gap + text if justify == "right" else text + gap

    last = len(cols) - 1
    lines = []
    for row in [[Styled(c.header) for c in cols], *body]:
        parts = [(" " if i else "") + cell(v.text, widths[i], cols[i].justify) + (" " if i < last else "")
                 for i, v in enumerate(row)]
        lines.append("".join(parts))
    return lines


_TRAILING = re.compile(r"\s+((?:\x1b\[[0-9;]*m)*)$")  # cell padding at the end of a line, before a reset


def _fit(natural: list[int], cols: Sequence[Col], room: int) -> list[int]:
    """Column widths within ``room``: fixed columns keep their width; the others share what is
    left by their ratio, none wider than it needs nor narrower than 4."""
    if sum(natural) <= room:
        return natural
    flexible = [i for i, c in enumerate(cols) if c.ratio]
    widths = list(natural)
    left = room - sum(w for i, w in enumerate(natural) if i not in flexible)
    pending = list(flexible)
    while pending:  # share out; a column that needs less than its share gives the rest back
        shares = sum(cols[i].ratio or 1 for i in pending)
        fits = [i for i in pending if natural[i] <= left * (cols[i].ratio or 1) / shares]
        if not fits:
            for i in pending:
                widths[i] = max(4, int(left * (cols[i].ratio or 1) / shares))
            break
        for i in fits:
            widths[i] = natural[i]
            left -= natural[i]
            pending.remove(i)
    return widths


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return clean(value)


TIER_STYLE = {"inner": "bold green", "warm": "green", "cooling": "yellow", "cold": "cyan", "dormant": "dim"}
