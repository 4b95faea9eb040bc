"""Tables into a pipe are laid out by syncd itself, without rich's console (loading it was a
tenth of a read command's time); on a terminal rich draws them. Both must print the same text."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from syncd.cli.output import Col, Styled, _cell, _fit, plain_lines, rich_lines

# ASCII, accents, combining marks, double-width CJK and emoji: what names and subjects hold
TEXT = st.lists(st.sampled_from(list("abcXYZ 019-@.") + ["é", "ß", "e\u0301", "漢", "字", "😀", "…", "\u200b"]),
                max_size=40).map("".join)
COLS = st.lists(st.tuples(st.text(st.sampled_from(list("abc xyz")), min_size=1, max_size=9),
                          st.sampled_from(["left", "right"]), st.none() | st.integers(1, 3)), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(cols=COLS, cells=st.lists(st.lists(TEXT, min_size=6, max_size=6), max_size=6), room=st.integers(40, 120),
       styles=st.lists(st.sampled_from([None, "bold red", "green"]), min_size=6, max_size=6))
def test_a_table_in_a_pipe_is_laid_out_as_rich_lays_it_out(cols: list[tuple[str, str, int | None]],
                                                            cells: list[list[str]], room: int,
                                                            styles: list[str | None]) -> None:
    columns = [Col(h, j, ratio=r) for h, j, r in cols]  # type: ignore[arg-type]
    body = [[Styled(_cell(v), styles[i]) for i, v in enumerate(row[:len(columns)])] for row in cells]
    from rich.cells import cell_len

    natural = [max([cell_len(c.header)] + [cell_len(r[i].text) for r in body]) for i, c in enumerate(columns)]
    widths = _fit(natural, columns, room - 2 * (len(columns) - 1))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLUMNS", str(room))
        mp.setenv("NO_COLOR", "1")
        drawn, colour = rich_lines(body, columns, widths)
    assert not colour
    laid_out = plain_lines(body, columns, widths, room)
    assume(laid_out is not None)  # columns too wide for the room: rich narrows them, and draws the table
    assert [line.rstrip() for line in laid_out] == [line.rstrip() for line in drawn]
