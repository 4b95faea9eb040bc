"""Judgement on real mailboxes: replies through lists, copies of one message, non-people, fair
group sizes. The core rules, fed plain records in every order; the connectors' own tests
(test_judgement_imap.py, test_judgement_google.py) and the Maildir ones below run them end to end."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from syncd.config import Config
from syncd.ingest import Identity, Ingestor
from syncd.records import Address, MailMessage
from syncd.settle import settle
from syncd.store import open_store
from syncd.store import schema as t
from tests.judged import GRACE, LIST, ME, answer, kinds_with

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
LIST_HEADERS = {"list-id": "Developers <dev.lists.example.org>", "list-post": f"<mailto:{LIST}>",
                "precedence": "list"}

# Ada sends a patch to Grace with the list in Cc; Grace answers all. Ada's account 1 files the
# direct copy in INBOX and the list's copy (tagged subject, list headers) in Lists/dev; her
# account 2 only gets the list's copy, whose From the list rewrote ("Grace via dev").
SENT = MailMessage(message_id="patch@example.com", source_id="s", folder="Sent", date=NOW - timedelta(days=2),
                   sender=Address(ME, "Ada"), to=(Address(GRACE, "Grace Hopper"),), cc=(Address(LIST, "dev"),),
                   subject="[PATCH v2] parser: bound the header size")
DIRECT = MailMessage(message_id="reply@navy.example", source_id="d", folder="INBOX", date=NOW - timedelta(days=1),
                     sender=Address(GRACE, "Grace Hopper"), to=(Address(ME, "Ada"),), cc=(Address(LIST, "dev"),),
                     subject="Re: [PATCH v2] parser: bound the header size", in_reply_to=(SENT.message_id,),
                     references=(SENT.message_id,))
LIST_COPY = replace(DIRECT, source_id="l", folder="Lists/dev", subject="[dev] " + DIRECT.subject,
                    list_headers=LIST_HEADERS)
REWRITTEN = replace(LIST_COPY, source_id="w", folder="INBOX", sender=Address(LIST, "Grace Hopper via dev"))
COPIES = [(1, SENT), (1, DIRECT), (1, LIST_COPY), (2, REWRITTEN)]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with two accounts, copied for every run (migrating costs more than a run)."""
    path = tmp_path_factory.mktemp("template") / "syncd.db"
    store = open_store(f"sqlite:///{path}")
    with store.begin() as conn:
        conn.execute(t.account.insert(), [{"id": i, "name": f"acc{i}", "kind": "local", "created_at": NOW}
                                          for i in (1, 2)])
    store.close()
    return path


def run(template: Path, where: Path, syncs: list[list[tuple[int, MailMessage]]]) -> dict[str, Any]:
    """Each inner list is one sync: its records in one batch per account, then settle."""
    db = where / "syncd.db"
    shutil.copy(template, db)
    store = open_store(f"sqlite:///{db}")
    config = Config.model_validate({"me": {"addresses": [ME]}})
    try:
        for sync in syncs:
            ingestor = Ingestor(config, Identity.from_config(config))
            with store.begin() as conn:
                for account, _ in itertools.groupby(sync, key=lambda item: item[0]):
                    ingestor.apply(conn, account, [m for a, m in sync if a == account], now=NOW)
                settle(conn, ingestor, NOW)
        with store.connect() as conn:
            return answer(conn)
    finally:
        store.close()


@pytest.mark.slow  # 96 runs, a few seconds
def test_the_copies_of_a_message_give_one_answer_whatever_their_order(template: Path, tmp_path: Path) -> None:
    """Invariant 13: every order of the four copies, all in one sync, each in its own sync,
    and split in two syncs, ends in the same facts, interactions and contacts."""
    answers: dict[str, dict[str, Any]] = {}
    for n, order in enumerate(itertools.permutations(COPIES)):
        for split in (0, 1, 2, 4):  # 0: one sync; 4: a sync each; else two syncs, cut after `split`
            syncs = [list(order)] if split == 0 else \
                [[c] for c in order] if split == 4 else [list(order[:split]), list(order[split:])]
            where = tmp_path / f"{n}-{split}"
            where.mkdir()
            answers[f"{[m.source_id for _, m in order]} split {split}"] = run(template, where, syncs)
    first, *_ = answers.values()
    for label, got in answers.items():
        assert got == first, label
    # ... and that answer is the right one: the reply counts, the list is no one
    reply = next(m for m in first["messages"] if m[0] == DIRECT.message_id)
    assert reply[1:8] == ("in", GRACE, DIRECT.subject, False, False, True, None)  # as written, to you
    assert {(a, kind) for a, _, kind, *_ in first["interactions"]} == {(GRACE, "received"), (GRACE, "sent")}
    assert first["people"] == [GRACE]


def test_a_reply_through_a_list_counts_only_when_it_answers_you_and_names_you(template: Path, tmp_path: Path) -> None:
    """Per message, not per channel: the list's copy alone is enough when it answers mail you
    sent and has you in To or Cc; list traffic that does not answer you, or answers you only
    on the list, stays noise; machine-made mail never counts."""
    to_list_only = replace(LIST_COPY, message_id="onlist@navy.example", to=(Address(LIST),), cc=())
    unrelated = replace(LIST_COPY, message_id="other@navy.example", in_reply_to=(), references=())
    auto_reply = replace(DIRECT, message_id="ooo@navy.example", list_headers={"auto-submitted": "auto-replied"})
    where = tmp_path / "w"
    where.mkdir()
    got = run(template, where, [[(1, SENT), (1, LIST_COPY), (1, to_list_only), (1, unrelated), (1, auto_reply)]])
    counted = [k for a, k, kind, *_ in got["interactions"] if kind == "received"]
    assert counted == ["m:" + LIST_COPY.message_id]
    assert LIST not in got["people"]


def test_your_own_post_echoed_by_the_list_counts_like_the_sent_copy(template: Path, tmp_path: Path) -> None:
    """The list's echo of your post (list headers, From you) read before the Sent copy used to
    hide the mail to the people in To and Cc."""
    echo = replace(SENT, source_id="e", folder="Lists/dev", subject="[dev] " + SENT.subject, list_headers=LIST_HEADERS)
    results = []
    for i, order in enumerate((([(1, echo)], [(1, SENT)]), ([(1, SENT)], [(1, echo)]))):
        where = tmp_path / str(i)
        where.mkdir()
        results.append(run(template, where, list(order)))
    assert results[0] == results[1]
    assert [(a, kind) for a, _, kind, *_ in results[0]["interactions"]] == [(GRACE, "sent")]
