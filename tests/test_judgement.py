"""Judgement on real mailboxes: replies through lists, copies of one message, non-people, fair
group sizes. The core rules, fed plain records in every order; the connectors' own tests
(test_judgement_imap.py, test_judgement_google.py) and the Maildir ones below run them end to end."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from syncd import report
from syncd.config import Config, validate, ConfigError, load_config
from syncd.ingest import Identity, Ingestor
from syncd.records import Address, MailMessage
from syncd.settle import settle
from syncd.store import open_store
from syncd.store import schema as t
from tests.conftest import Cli
from tests.conformance.samples import raw_message
from tests.judged import (CROWD, GRACE, LIST, ME, NOW, accounts_config, answer, crowded_meeting, kinds_with,
                          list_thread, placeholder_meeting, synced)
from tests.mailtree import IcsFolder, MailTree

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
    config = validate(Config, {"me": {"addresses": [ME]}})
    try:
        for sync in syncs:
            ingestor = Ingestor(config, Identity.from_config(config), NOW)
            with store.begin() as conn:
                for account, _ in itertools.groupby(sync, key=lambda item: item[0]):
                    ingestor.apply(conn, account, [m for a, m in sync if a == account], now=NOW)
                settle(conn, ingestor, NOW)
        with store.connect() as conn:
            return answer(conn)
    finally:
        store.close()


@pytest.mark.slow  # 48 runs, a few seconds
def test_the_copies_of_a_message_give_one_answer_whatever_their_order(template: Path, tmp_path: Path) -> None:
    """Invariant 13: every order of the four copies, all in one sync and each in its own sync,
    ends in the same facts, interactions and contacts."""
    answers: dict[str, dict[str, Any]] = {}
    for n, order in enumerate(itertools.permutations(COPIES)):
        for together in (True, False):
            where = tmp_path / f"{n}-{together}"
            where.mkdir()
            syncs = [list(order)] if together else [[c] for c in order]
            answers[f"{[m.source_id for _, m in order]} in {'one sync' if together else 'four'}"] = \
                run(template, where, syncs)
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


# --- end to end: Maildir and .ics through the local connector --------------------------------


def local_accounts(root: Path, names: list[str], extra: str = "") -> Path:
    """A config with one local account per name, each with its own Maildir (root/NAME) and
    calendar folder, in that order; the database is shared."""
    blocks = []
    for name in names:
        MailTree(root / name).folder_path("Sent")
        (root / f"{name}-cal").mkdir(exist_ok=True)
        blocks.append(f'name = "{name}"\nkind = "local"\nmaildir = "{root / name}"\ncalendar = "{root / name}-cal"')
    return accounts_config(root, blocks, extra)


@pytest.mark.slow  # six syncs of small Maildirs
def test_maildir_a_reply_in_two_folders_counts_once_whichever_folder_is_read_first(tmp_path: Path) -> None:
    thread = list_thread(NOW)
    variants = {  # each: the syncs, each delivering (folder, copy) first; folders are read in name order
        "list folder read before INBOX": [[("Archive/dev", "list_copy"), ("INBOX", "direct")]],
        "list folder read after INBOX": [[("INBOX", "direct"), ("Lists/dev", "list_copy")]],
        "list copy synced first": [[("Lists/dev", "list_copy")], [("INBOX", "direct")]],
        "direct copy synced first": [[("INBOX", "direct")], [("Lists/dev", "list_copy")]],
    }
    answers = {}
    for n, (label, syncs) in enumerate(variants.items()):
        root = tmp_path / str(n)
        config = local_accounts(root, ["mail"])
        box = MailTree(root / "mail")
        box.put("Sent", thread["sent"])
        for deliveries in syncs:
            for folder, copy in deliveries:
                box.put(folder, thread[copy])
            answers[label] = synced(config)
    first = answers["list folder read before INBOX"]
    for label, got in answers.items():
        assert got == first, label
    assert [m for m in first["messages"] if m[0] == "reply@navy.example"][0][1:8] == \
        ("in", GRACE, "Re: [PATCH v2] parser: bound the header size", False, False, True, None)
    assert {(a, kind) for a, _, kind, *_ in first["interactions"]} == {(GRACE, "sent"), (GRACE, "received")}


def test_maildir_two_accounts_in_either_order_give_one_answer(tmp_path: Path) -> None:
    """Account "work" has the direct copy, "lists" only the list's copy with From rewritten."""
    thread = list_thread(NOW)
    answers = []
    for order in (["work", "lists"], ["lists", "work"]):
        root = tmp_path / "-".join(order)
        config = local_accounts(root, order)
        MailTree(root / "work").put("Sent", thread["sent"])
        MailTree(root / "work").put("INBOX", thread["direct"])
        MailTree(root / "lists").put("INBOX", thread["rewritten"])
        answers.append(synced(config))
    assert answers[0] == answers[1]
    assert answers[0]["people"] == [GRACE]  # the list's address never becomes a contact


def test_maildir_list_traffic_that_does_not_answer_you_stays_noise(tmp_path: Path) -> None:
    thread = list_thread(NOW)
    config = local_accounts(tmp_path, ["mail"])
    box = MailTree(tmp_path / "mail")
    box.put("Sent", thread["sent"])
    for name in ("list_copy", "on_list_only", "chatter"):
        box.put("Lists/dev", thread[name])
    got = synced(config)
    assert [(a, kind) for a, _, kind, *_ in got["interactions"] if kind == "received"] == [(GRACE, "received")]
    assert got["people"] == [GRACE]  # not Linus (answered on the list only), not Guido, not the list


def test_maildir_lists_by_construction_are_not_people_even_unlearned(tmp_path: Path) -> None:
    """No List-Id ever arrived for linux-media@vger.kernel.org: its host says what it is."""
    config = local_accounts(tmp_path, ["mail"])
    MailTree(tmp_path / "mail").put("Sent", raw_message(
        to="linux-media@vger.kernel.org, Grace <grace@navy.example>", cc="kernel-dev@googlegroups.com",
        date=NOW - timedelta(days=1), message_id="v4l@example.com"))
    assert synced(config)["people"] == [GRACE]


def test_ics_placeholders_rooms_and_groups_are_not_people(tmp_path: Path) -> None:
    config = local_accounts(tmp_path, ["mail"])
    spec = placeholder_meeting(NOW)
    IcsFolder(tmp_path / "mail-cal").put(spec)
    got = synced(config)
    assert got["people"] == [GRACE]
    store = open_store(load_config(config).db_url)
    with store.connect() as conn:
        assert conn.execute(select(t.meeting.c.n_people)).scalar() == 2  # Grace and the list of Berliners
    store.close()


def test_ics_a_crowded_meeting_weighs_everyone_invited_and_counts_what_it_skipped(tmp_path: Path) -> None:
    """104 people besides you, 100 at addresses syncd cannot use: each of the four it can use
    weighs a 104th of the room, not a fifth; the unusable ones are a counted skip in status."""
    config = local_accounts(tmp_path, ["mail"])
    IcsFolder(tmp_path / "mail-cal").put(crowded_meeting(NOW))
    got = synced(config)
    meeting = load_config(config).warmth.weights.meeting
    assert sorted(a for a, *_ in got["interactions"]) == sorted(CROWD)
    assert {(g, w) for _, _, _, g, w in got["interactions"]} == {(104, round(meeting * 2 / 105, 9))}
    store = open_store(load_config(config).db_url)
    with store.connect() as conn:
        (account,) = report.status(conn, load_config(config), NOW)["accounts"]
    store.close()
    calendar = next(s for s in account["streams"] if s["stream"].startswith("calendar:"))
    assert calendar["skipped"] == 1
    assert "100 of its invitees are not a usable address" in calendar["last_skip"]
    assert "no dot in the domain" in calendar["last_skip"]


def test_maildir_a_mail_to_many_weighs_every_recipient(tmp_path: Path) -> None:
    config = local_accounts(tmp_path, ["mail"])
    MailTree(tmp_path / "mail").put("Sent", raw_message(
        to="Grace <grace@navy.example>, " + ", ".join(f"team{i}@intranet" for i in range(29)),
        date=NOW - timedelta(days=1), message_id="many@example.com"))
    got = synced(config)
    assert [(a, g) for a, _, _, g, _ in got["interactions"]] == [(GRACE, 30)]


@pytest.mark.slow  # the CLI, twice
def test_prune_shows_what_looks_like_a_room_or_a_list_with_the_command_that_ignores_it(tmp_path: Path,
                                                                                         cli: Cli) -> None:
    """A hint is not proof: these stay contacts until you say so, with one command."""
    config = local_accounts(tmp_path, ["mail"])
    MailTree(tmp_path / "mail").put("Sent", raw_message(
        to="room-4@corp.example, python-users@python.example, Grace <grace@navy.example>",
        date=NOW - timedelta(days=1), message_id="hints@example.com"))
    assert synced(config)["people"] == [GRACE, "python-users@python.example", "room-4@corp.example"]
    out = cli("--config", str(config), "prune").stdout
    assert "looks like a room" in out and "  syncd ignore room-4@corp.example\n" in out
    assert "looks like a mailing list" in out and "  syncd ignore python-users@python.example\n" in out
    assert GRACE not in out
    cli("--config", str(config), "ignore", "room-4@corp.example")  # the printed command, as typed
    store = open_store(load_config(config).db_url)
    with store.connect() as conn:
        assert "room-4@corp.example" not in {r["address"] for r in report.prune_candidates(conn, load_config(config), NOW)}
    store.close()


def test_your_own_rules_extend_the_shipped_ones_and_reach_known_contacts(tmp_path: Path) -> None:
    config = local_accounts(tmp_path, ["mail"])
    MailTree(tmp_path / "mail").put("Sent", raw_message(
        to="Mercury <mercury@corp.example>, Grace <grace@navy.example>", date=NOW - timedelta(days=1)))
    assert synced(config)["people"] == [GRACE, "mercury@corp.example"]
    config.write_text(config.read_text() + '\n[[nonpeople.certain]]\nkind = "room"\nwhy = "our rooms are planets"\n'
                                           "names = ['^(?:mercury|venus|mars)$']\n")
    got = synced(config)
    assert got["people"] == [GRACE]
    assert [a for a, *_ in got["interactions"]] == [GRACE]


def test_a_rule_that_is_not_a_regular_expression_is_a_config_error_naming_it(tmp_path: Path) -> None:
    config = local_accounts(tmp_path, ["mail"], extra='[[nonpeople.likely]]\nkind = "room"\nnames = ["(unclosed"]\n')
    with pytest.raises(ConfigError, match=r"nonpeople\.likely\[0\]\.names = .*not a regular expression"):
        load_config(config)


@pytest.mark.slow  # a sync, a downgrade, an upgrade and a sync, on both databases
def test_upgrading_a_database_judges_its_history_again(tmp_path: Path, db_url: str) -> None:
    """A database from before migration 0005, where the list's copy of Grace's answer came first
    and hid it: after the upgrade the next sync reads the mail again and the answer counts."""
    from sqlalchemy import delete, text, update

    from syncd.store.migrate import HEAD_REVISION, alembic_config

    thread = list_thread(NOW)
    config_path = local_accounts(tmp_path, ["mail"])
    config_path.write_text(config_path.read_text().replace(f'sqlite:///{tmp_path / "syncd.db"}', db_url))
    box = MailTree(tmp_path / "mail")
    box.put("Sent", thread["sent"])
    box.put("Archive/dev", thread["list_copy"])
    box.put("INBOX", thread["direct"])
    synced(config_path)
    store = open_store(db_url)
    with store.begin() as conn:  # what the code before 0005 left: the list copy's verdict, nothing received
        conn.execute(delete(t.interaction).where(t.interaction.c.kind == "received"))
        conn.execute(update(t.message).where(t.message.c.message_id == "reply@navy.example")
                     .values(noise="mailing list (List-Id)", linked=True, folder="Archive/dev"))
        conn.execute(update(t.contact).values(dirty=True))
    from alembic import command

    with store.engine.connect() as conn:  # SQLite rebuilds tables: foreign keys off, as syncd's own upgrade does
        if conn.dialect.name == "sqlite":
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        with conn.begin():
            command.downgrade(alembic_config(conn), "0003")
    store.close()

    store = open_store(db_url)  # upgrades
    with store.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
        assert conn.execute(select(t.message.c.via_list, t.message.c.to_me, t.message.c.linked)
                            .where(t.message.c.message_id == "reply@navy.example")).one() == (True, False, True)
        assert set(conn.execute(select(t.stream.c.cursor)).scalars()) == {None}  # read once more
        assert kinds_with(conn, GRACE) == ["sent"]
    store.close()
    synced(config_path)
    store = open_store(db_url)
    with store.connect() as conn:
        assert kinds_with(conn, GRACE) == ["sent", "received"]
    store.close()
