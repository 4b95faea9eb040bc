"""Records to contacts and interactions.

Everything here is an upsert keyed by the record's cross-account identity (Message-ID,
iCalUID + occurrence), so re-ingesting anything is a no-op (invariant 2) and one message seen
by three accounts is one interaction per person (Twenty and Nylas dedupe the same way).

The copies of one message (two folders, two accounts, the list's copy beside the direct one)
do not compete: each adds what it shows to facts that only ever move one way (it came through
a list only if every copy did; it names you if any copy does), merged inside the database, so
what is kept does not depend on which copy came first (invariant 13).

Two kinds of interaction depend on time or on other records, so they are made by
:func:`settle` after the batches, not while a batch is ingested: a meeting counts once it has
ended, and a received mail counts once its sender is known (a contact, or replying to mail we
sent). Doing both in one idempotent pass makes the result independent of the order streams
arrive in, and of where a crash interrupted the previous run.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (ARRAY, ColumnElement, Connection, and_, any_, case, delete, func, insert, literal, null, or_,
                        select, tuple_, update)

from syncd import nonpeople
from syncd.addresses import FREEMAIL, domain_of, first_name_from, normalise, organisation_name, unusable_reason
from syncd.config import Config
from syncd.filters import IgnoreRules, automated_address, automated_reason, list_addresses, list_reason
from syncd.records import Address, Attendee, MailMessage, Meeting, Skip
from syncd.store import schema as t
from syncd.store import serialize
from syncd.store.upsert import (COPY_FROM_ROWS, PreparedInsert, bulk_insert_ignore, bulk_upsert, copy_insert,
                                copy_upsert_returning, insert_ignore)
from syncd.timeutil import to_db, utcnow

CHUNK = 500  # bound for IN (...) lists
_VERDICT_CACHE = 50_000  # (address, name) pairs remembered: bounded memory on any mailbox
_ROOMLIKE = ("room", "placeholder")  # they take no share of anyone's attention: left out of group sizes


def size_factor(n: int) -> float:
    """A share of attention: 1 alone, 2/3 with two people, 1/15 among 29."""
    return 2.0 / (max(n, 1) + 1)


@dataclass
class Identity:
    """Who the user is: their addresses, and their colleagues' domains."""

    own: frozenset[str]
    internal_domains: frozenset[str]

    @classmethod
    def from_config(cls, config: Config, extra_addresses: Iterable[str] = ()) -> Identity:
        own = {normalise(a) for a in [*config.me.addresses, *config.me.aliases, *extra_addresses]}
        return cls(own=frozenset(a for a in own if a), internal_domains=frozenset(config.me.internal_domains))

    def is_internal(self, address: str) -> bool:
        d = domain_of(address)
        return d in self.internal_domains or any(d.endswith("." + i) for i in self.internal_domains)


@dataclass(frozen=True, slots=True)
class _Mailbox:
    """A recipient as ingest sees it: its normalised address ("" when not usable), its name,
    whether it is yours, a room or placeholder (left out of group sizes), and a person worth
    a contact (:meth:`Ingestor.is_person`)."""

    address: str
    name: str
    own: bool
    room: bool
    person: bool


@dataclass
class Prepared:
    """A batch made ready for :meth:`Ingestor.write` without the database (:meth:`Ingestor.prepare`)."""

    account_id: int
    meetings: list[Meeting]
    rows: list[dict[str, object]] = field(default_factory=list)  # message rows
    # the people a message counts for: (address, name, role, weight, group size, Message-ID, sent at)
    wanted: list[tuple[str, str, str, float, int, str, datetime]] = field(default_factory=list)
    learned: dict[str, str] = field(default_factory=dict)  # lists new in this batch: address -> List-Id
    skipped: list[Skip] = field(default_factory=list)


@dataclass
class IngestResult:
    messages: int = 0
    meetings: int = 0
    touched: set[int] = field(default_factory=set)
    skipped: list[Skip] = field(default_factory=list)  # records with addresses that are not usable


class Ingestor:
    """Ingests batches within the caller's transaction. One per sync run (it caches lookups)."""

    def __init__(self, config: Config, identity: Identity, now: datetime | None = None) -> None:
        self.config = config
        self.me = identity
        self.now = now or utcnow()  # the run's clock: when new contacts and learned lists are stamped
        w = config.warmth.weights
        self.w_to, self.w_cc, self.w_meeting = w.sent_to, w.sent_cc, w.meeting
        self.ignore = IgnoreRules.build(
            [("address", a) for a in config.ignore.addresses]
            + [("domain", d) for d in config.ignore.domains]
            + [("pattern", p) for p in config.ignore.patterns]
        )
        self.nonpeople = nonpeople.for_config(config)
        self.lists: set[str] = set()
        self._contacts: dict[str, int] = {}  # normalised address -> contact id
        self._orgs: dict[str, int | None] = {}
        self._people: dict[str, bool] = {}  # is_person answers; cleared when lists are learned
        # On PostgreSQL a pull prepares batch N + 1 (learning lists, forgetting judgements) while
        # the writer judges batch N's meeting attendees: an answer reached before the forgetting
        # must not be remembered after it. Answers count the forgettings; the lock orders them.
        self._forgotten = 0
        self._judging = threading.Lock()
        self._verdicts: dict[tuple[str, str], nonpeople.Verdict | None] = {}
        # (address as written, name) -> what ingest needs of a mailbox; cleared with _people
        self._mailboxes: dict[tuple[str, str], _Mailbox] = {}
        self._loaded = False

    # -- setup ------------------------------------------------------------------------------

    def load(self, conn: Connection) -> None:
        if self._loaded:
            return
        self.lists = set(conn.execute(select(t.mailing_list.c.address)).scalars())
        db_rules = IgnoreRules.build(conn.execute(select(t.ignore_rule.c.kind, t.ignore_rule.c.value)).all())
        self.ignore.addresses |= db_rules.addresses
        self.ignore.domains |= db_rules.domains
        self.ignore.patterns += db_rules.patterns
        self._forget_judgements()
        self._judge_known_contacts(conn)
        self._loaded = True

    def set_identity(self, identity: Identity) -> None:
        self.me = identity
        self._forget_judgements()

    def _forget_judgements(self) -> None:
        """What is_person answered depends on your addresses, the lists and the ignore rules."""
        with self._judging:
            self._forgotten += 1
            self._people.clear()
            self._mailboxes.clear()

    def is_person(self, address: str, name: str = "") -> bool:
        """An address worth a contact: not ours, not a list, room or placeholder, not a machine,
        not silenced. ``name``, when known, can tell a room or a group too."""
        known = self._people.get(address)
        if known is None:
            forgotten = self._forgotten
            known = bool(address) and address not in self.me.own \
                and address not in self.lists and not automated_address(address) \
                and not self.ignore.matches(address) and self.nonpeople.certain(address) is None
            with self._judging:
                if forgotten == self._forgotten:
                    self._people[address] = known
        return known and (not name or self._certain(address, name) is None)

    def _certain(self, address: str, name: str) -> nonpeople.Verdict | None:
        """nonpeople's certain verdict, remembered per (address, name): a first sync asks it
        for every recipient of every message, mostly the same few thousand pairs."""
        key = (address, name)
        try:
            return self._verdicts[key]
        except KeyError:
            if len(self._verdicts) >= _VERDICT_CACHE:
                self._verdicts.clear()
            found = self._verdicts[key] = self.nonpeople.certain(address, name)
            return found

    def _judge_known_contacts(self, conn: Connection) -> None:
        """When the non-people rules changed (a new syncd, the config's [nonpeople]), contacts
        that the rules now say are not people stop being contacts."""
        stored = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "nonpeople")).scalar()
        if stored == self.nonpeople.fingerprint:
            return
        # Two processes may get here at once (two accounts of one database synced side by side,
        # as team workers do): one judges, the other then finds it done.
        serialize(conn, "judge-nonpeople")
        stored = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "nonpeople")).scalar()
        if stored == self.nonpeople.fingerprint:
            return
        rows = conn.execute(select(t.contact_address.c.address, t.contact_address.c.name)
                            .join(t.contact, t.contact.c.id == t.contact_address.c.contact_id)
                            .where(t.contact.c.is_list.is_(False))).all()
        self._demote(conn, [a for a, name in rows if self.nonpeople.certain(a, name)], set())
        if stored is None:
            conn.execute(insert(t.meta).values(key="nonpeople", value=self.nonpeople.fingerprint))
        else:
            conn.execute(update(t.meta).where(t.meta.c.key == "nonpeople").values(value=self.nonpeople.fingerprint))

    def _demote(self, conn: Connection, addresses: Sequence[str], touched: set[int]) -> None:
        """The contacts at these addresses are not people after all: hidden, interactions gone."""
        for chunk in _chunks(addresses):
            rows = conn.execute(select(t.contact_address.c.contact_id).where(t.contact_address.c.address.in_(chunk)))
            ids = set(rows.scalars())
            if ids:
                conn.execute(update(t.contact).where(t.contact.c.id.in_(ids)).values(is_list=True, dirty=True))
                conn.execute(delete(t.interaction).where(t.interaction.c.contact_id.in_(ids)))
                touched |= ids
        for addr in addresses:
            self._contacts.pop(addr, None)

    # -- batches ----------------------------------------------------------------------------

    def apply(self, conn: Connection, account_id: int, items: Sequence[MailMessage | Meeting],
              gone: Sequence[tuple[str, str]] = (), now: datetime | None = None) -> IngestResult:
        self.load(conn)
        return self.write(conn, self.prepare(account_id, items), gone, now)

    def prepare(self, account_id: int, items: Sequence[MailMessage | Meeting]) -> Prepared:
        """The part of :meth:`apply` that needs no database: each message's row and the people it
        counts for, judged with what is known (lists learned from earlier batches and this one).
        On PostgreSQL the sync engine calls it in the reading thread, while the writer thread
        stores the batch before; batches are prepared in the order they are written, so each is
        judged as :meth:`apply` would judge it. Needs :meth:`load` first."""
        assert self._loaded, "Ingestor.load() before prepare()"
        mails = [i for i in items if isinstance(i, MailMessage) and not i.is_draft]
        prepared = Prepared(account_id, [i for i in items if isinstance(i, Meeting)])
        if mails:
            prepared.learned = self._learn_lists(mails)
            self._prepare_mail(account_id, mails, prepared)
        return prepared

    def write(self, conn: Connection, prepared: Prepared, gone: Sequence[tuple[str, str]] = (),
              now: datetime | None = None) -> IngestResult:
        """Store a prepared batch within the caller's transaction."""
        self.load(conn)
        result = IngestResult(skipped=list(prepared.skipped))
        if prepared.learned:
            self._store_lists(conn, prepared.learned, result)
        if prepared.rows:
            self._store_mail(conn, prepared, result)
        if prepared.meetings:
            self._ingest_meetings(conn, prepared.account_id, prepared.meetings, result)
        if gone and now is not None:
            present = {m.uid for m in prepared.meetings}  # moved to another file, not deleted
            self._mark_gone(conn, [g for g in gone if g[0] not in present], now)
        if result.touched:
            mark_dirty(conn, result.touched)
        return result

    # -- mail -------------------------------------------------------------------------------

    def _learn_lists(self, mails: Sequence[MailMessage]) -> dict[str, str]:
        """The lists these messages show that were not known: known from now on (the judgements
        of this batch and the next ones see them), stored by :meth:`_store_lists`."""
        learned: dict[str, str] = {}
        for msg in mails:
            if msg.list_headers:
                for addr, list_id in list_addresses(msg):
                    if addr not in self.lists and addr not in self.me.own:
                        learned[addr] = list_id
        if learned:
            self.lists |= set(learned)
            self._forget_judgements()
        return learned

    def _store_lists(self, conn: Connection, learned: dict[str, str], result: IngestResult) -> None:
        now = to_db(self.now)
        conn.execute(insert_ignore(conn, t.mailing_list, ["address"]),
                     [{"address": a, "list_id": i[:500], "learned_at": now} for a, i in learned.items()])
        # A list we wrote to before we knew it was one: it is not a person after all.
        self._demote(conn, list(learned), result.touched)

    def _prepare_mail(self, account_id: int, mails: Sequence[MailMessage], prepared: Prepared) -> None:
        rows, wanted = prepared.rows, prepared.wanted
        own, lists, w_to, w_cc = self.me.own, self.lists, self.w_to, self.w_cc
        for msg in mails:
            sender = normalise(msg.sender.email) if msg.sender else ""
            outbound = sender in own
            people, unusable, n, to_me = self._recipients(msg)
            if msg.sender is not None and not sender:  # normalise() says "" exactly when it is not usable
                unusable.append(msg.sender.email)
            if sender in lists:
                sender = ""  # a list that rewrote From ("Grace via dev-list"): not the author
            if msg.list_headers:
                listed, machine = list_reason(msg), automated_reason(msg)
            else:
                listed = machine = None
            sent_at = to_db(msg.date)
            rows.append({
                "message_id": msg.message_id,
                "account_id": account_id,
                "folder": msg.folder[:255],
                "direction": "out" if outbound else "in",
                "sent_at": sent_at,
                "subject": msg.subject[:500],
                "sender": sender[:320],
                "n_recipients": n,
                "thread_id": msg.thread_id[:255],
                "in_reply_to": (msg.in_reply_to[0] if msg.in_reply_to else "")[:500],
                "refs": " ".join(msg.references)[-4000:],
                "noise": listed or machine,
                "via_list": listed is not None,
                "automated": machine is not None,
                "to_me": to_me,
                "linked": outbound,  # received mail is judged by settle(), with what every copy says
            })
            if outbound and listed is None and machine is None:
                share = size_factor(n)
                for box, role in people:
                    if box.person:
                        wanted.append((box.address, box.name, role, (w_to if role == "to" else w_cc) * share, n,
                                       msg.message_id, sent_at))
            if unusable:
                prepared.skipped.append(_unusable_skip(f"message {msg.message_id}", "senders and recipients",
                                                       unusable, "the number of recipients"))

    def _store_mail(self, conn: Connection, prepared: Prepared, result: IngestResult) -> None:
        refs, fresh = store_messages(conn, prepared.rows)
        result.messages += len(prepared.rows)
        wanted = prepared.wanted
        if not wanted:
            return
        ids = self.contact_ids(conn, [(a, name) for a, name, *_ in wanted])
        refs |= message_refs(conn, {w[5] for w in wanted} - refs.keys())
        inter = [
            {
                "contact_id": ids[addr],
                "message_ref": refs[message_id],
                "kind": "sent",
                "role": role,
                "occurred_at": sent_at,
                "group_size": n,
                "weight": weight,
            }
            for addr, _name, role, weight, n, message_id, sent_at in wanted
        ]
        store_mail_interactions(conn, inter, fresh)
        result.touched.update(r["contact_id"] for r in inter)  # type: ignore[misc]

    def _recipients(self, msg: MailMessage) -> tuple[list[tuple[_Mailbox, str]], list[str], int, bool]:
        """The To and Cc recipients: (mailbox, role) of each other than you, the unusable
        addresses, how many people the mail went to besides you (every recipient, a usable
        address or not, rooms left out), and whether it names you."""
        people: dict[str, tuple[_Mailbox, str]] = {}
        unusable: dict[str, None] = {}
        to_me = False
        rooms = 0
        boxes, judge = self._mailboxes, self._mailbox
        for role, group in (("to", msg.to), ("cc", msg.cc)):
            for a in group:
                box = boxes.get((a.email, a.name)) or judge(a)
                if not box.address:
                    unusable.setdefault(a.email.strip().lower(), None)
                elif box.own:
                    to_me = True
                elif box.address not in people:
                    people[box.address] = (box, role)
                    rooms += box.room
        return list(people.values()), list(unusable), len(people) - rooms + len(unusable), to_me

    def _mailbox(self, a: Address) -> _Mailbox:
        """What ingest needs to know of one mailbox as written, judged once (see _Mailbox)."""
        address = normalise(a.email)
        box = _Mailbox(address, a.name, own=address in self.me.own,
                       room=bool(address) and self._is_room(address, a.name),
                       person=bool(address) and self.is_person(address, a.name))
        if len(self._mailboxes) >= _VERDICT_CACHE:
            self._mailboxes.clear()
        self._mailboxes[(a.email, a.name)] = box
        return box

    def _is_room(self, address: str, name: str) -> bool:
        verdict = self._certain(address, name)
        return verdict is not None and verdict.kind in _ROOMLIKE

    # -- contacts ---------------------------------------------------------------------------

    def contact_ids(self, conn: Connection, people: Sequence[tuple[str, str]]) -> dict[str, int]:
        """Contact id per normalised address, creating contacts (and organisations) as needed."""
        names: dict[str, str] = {}
        for addr, name in people:
            if addr not in self._contacts and (addr not in names or (name and not names[addr])):
                names[addr] = name
        missing = [a for a in names if a not in self._contacts]
        for chunk in _chunks(missing):
            q = select(t.contact_address.c.address, t.contact_address.c.contact_id).where(
                _among(conn, t.contact_address.c.address, chunk))
            self._contacts.update(dict(conn.execute(q).all()))
        new = sorted(a for a in missing if a not in self._contacts)  # one lock order across processes
        if new:
            now = to_db(self.now)
            orgs = self._org_ids(conn, {domain_of(a) for a in new})
            contact_rows = [{
                "display_name": names[a][:255],
                "first_name": first_name_from(names[a], a)[:128],
                "org_id": orgs.get(domain_of(a)),
                "internal": self.me.is_internal(a),
                "created_at": now,
                "dirty": True,
            } for a in new]
            created = conn.execute(
                insert(t.contact).returning(t.contact.c.id, sort_by_parameter_order=True), contact_rows
            ).scalars().all()
            claimed = set(conn.execute(insert_ignore(conn, t.contact_address, ["address"]).returning(
                t.contact_address.c.address), [
                {"address": a, "contact_id": cid, "name": names[a][:255], "created_at": now}
                for a, cid in zip(new, created, strict=True)
            ]).scalars())
            self._contacts.update((a, cid) for a, cid in zip(new, created, strict=True) if a in claimed)
            if len(claimed) < len(new):  # another process made some of them meanwhile: theirs stand
                lost = [(a, cid) for a, cid in zip(new, created, strict=True) if a not in claimed]
                conn.execute(delete(t.contact).where(t.contact.c.id.in_([cid for _, cid in lost])))
                q = select(t.contact_address.c.address, t.contact_address.c.contact_id).where(
                    t.contact_address.c.address.in_([a for a, _ in lost]))
                self._contacts.update(dict(conn.execute(q).all()))
        return {a: self._contacts[a] for a in names} | {a: self._contacts[a] for a, _ in people}

    def _org_ids(self, conn: Connection, domains: set[str]) -> dict[str, int | None]:
        """Organisation id per domain (free-mail domains have none), creating them in bulk."""
        wanted = sorted(d for d in domains if d not in self._orgs)
        real = [d for d in wanted if d and d not in FREEMAIL]
        if real:
            bulk_insert_ignore(conn, t.organisation, ["domain"],
                               [{"domain": d, "name": organisation_name(d)} for d in real])
            for chunk in _chunks(real):
                q = select(t.organisation.c.domain, t.organisation.c.id).where(
                    _among(conn, t.organisation.c.domain, chunk))
                self._orgs.update(dict(conn.execute(q).all()))
        for d in wanted:
            self._orgs.setdefault(d, None)
        return {d: self._orgs[d] for d in domains}

    # -- meetings ---------------------------------------------------------------------------

    def _ingest_meetings(self, conn: Connection, account_id: int, meetings: Sequence[Meeting],
                         result: IngestResult) -> None:
        by_key: dict[tuple[str, str], Meeting] = {(m.uid, m.occurrence): m for m in meetings}
        existing: dict[tuple[str, str], tuple[int, str, bool, bool]] = {}
        keys = list(by_key)
        for chunk in _chunks(keys):
            q = select(*_MEETING_STATE).where(
                tuple_(t.meeting.c.uid, t.meeting.c.occurrence).in_(chunk))
            for uid, occ, mid, fp, recorded, was_gone in conn.execute(q):
                existing[(uid, occ)] = (mid, fp, recorded, was_gone)
        insert_meeting = insert_attendees = None  # compiled on first use, once per batch
        for key, m in sorted(by_key.items()):  # one lock order across processes
            attendees, n_people, unusable = self._attendees(m)
            if unusable:
                result.skipped.append(_unusable_skip(f"event {m.title[:60]!r} of {m.start:%Y-%m-%d}", "invitees",
                                                     unusable, "the meeting's size"))
            row = self._meeting_row(m, account_id, attendees, n_people)
            old = existing.get(key)
            if old is not None and old[1] == row["fingerprint"]:
                if old[3]:  # it came back after being reported gone
                    conn.execute(update(t.meeting).where(t.meeting.c.id == old[0]).values(gone=False))
                continue  # seen before, unchanged (a re-pull, or the same event in two calendars)
            if old is None:
                insert_meeting = insert_meeting or PreparedInsert(conn, t.meeting, ["uid", "occurrence"], list(row),
                                                                  returning="id")
                meeting_id = insert_meeting.one(row)
                if meeting_id is None:  # another process stored it meanwhile: as if seen before
                    old = conn.execute(select(*_MEETING_STATE).where(
                        and_(t.meeting.c.uid == row["uid"], t.meeting.c.occurrence == row["occurrence"]))).one()[2:]
                    if old[1] == row["fingerprint"]:
                        continue
            if old is not None:
                meeting_id = old[0]
                conn.execute(update(t.meeting).where(t.meeting.c.id == meeting_id).values(**row, recorded=False))
                conn.execute(delete(t.meeting_attendee).where(t.meeting_attendee.c.meeting_id == meeting_id))
                if old[2]:  # its interactions were made from the old version: settle() remakes them
                    result.touched |= set(conn.execute(
                        delete(t.interaction).where(t.interaction.c.meeting_ref == meeting_id)
                        .returning(t.interaction.c.contact_id)).scalars())
            if attendees:
                insert_attendees = insert_attendees or PreparedInsert(
                    conn, t.meeting_attendee, ["meeting_id", "address"], ["meeting_id", *attendees[0]])
                insert_attendees.many([{"meeting_id": meeting_id, **a} for a in attendees])
            result.meetings += 1

    def _attendees(self, m: Meeting) -> tuple[list[dict[str, object]], int, list[str]]:
        """The meeting's attendee rows; how many people it has besides you (everyone invited,
        a usable address or not, a list or group as one, rooms and placeholders left out); and
        the invitees' addresses that are not usable."""
        seen: dict[str, dict[str, object]] = {}
        unusable: dict[str, None] = {}
        rooms = 0
        everyone: list[Attendee] = list(m.attendees)
        if m.organizer is not None:
            everyone.append(Attendee(email=m.organizer.email, name=m.organizer.name, partstat="accepted",
                                     is_organizer=True))
        for a in everyone:
            addr = normalise(a.email)
            if not addr:
                if a.email.strip():
                    unusable.setdefault(a.email.strip().lower(), None)
                continue
            if addr in seen:
                continue
            is_self = a.is_self or addr in self.me.own
            verdict = None if is_self else self.nonpeople.certain(addr, a.name)
            room = not is_self and (a.is_resource or (verdict is not None and verdict.kind in _ROOMLIKE))
            rooms += room
            seen[addr] = {
                "address": addr,
                "name": a.name[:255],
                "partstat": a.partstat,
                # never a contact from this meeting: rooms, groups (CUTYPE=GROUP), what the rules rule
                # out (what can change, your ignores and learned lists, settle() asks is_person)
                "is_resource": room or (not is_self and a.is_group) or verdict is not None,
                "is_self": is_self,
            }
        others = sum(1 for a in seen.values() if not a["is_self"])
        return list(seen.values()), others - rooms + len(unusable), list(unusable)

    def _meeting_row(self, m: Meeting, account_id: int, attendees: list[dict[str, object]],
                     n_people: int) -> dict[str, object]:
        organizer = normalise(m.organizer.email) if m.organizer else ""
        selfs = [a for a in attendees if a["is_self"]]
        # Your own attendee entry wins (an organizer who declined their own meeting is not there).
        if any(a["partstat"] == "declined" for a in selfs):
            self_response = "declined"
        elif organizer and organizer in self.me.own:
            self_response = "organizer"
        elif selfs:
            self_response = str(selfs[0]["partstat"])
        else:
            self_response = "unknown"
        row: dict[str, object] = {
            "uid": m.uid[:500],
            "occurrence": m.occurrence[:64],
            "calendar": m.calendar[:255],
            "title": m.title[:500],
            "start_at": to_db(m.start),
            "end_at": to_db(m.end),
            "all_day": m.all_day,
            "status": m.status,
            "self_response": self_response,
            "organizer": organizer[:320],
            "n_people": n_people,
            "online": m.online,
            "gone": False,
        }
        fp = repr(sorted(row.items())) + repr(sorted((str(a["address"]), str(a["partstat"])) for a in attendees))
        # The account is left out: the same event seen in two calendars is unchanged.
        row["fingerprint"] = hashlib.sha1(fp.encode()).hexdigest()
        row["account_id"] = account_id
        return row

    def _mark_gone(self, conn: Connection, gone: Sequence[tuple[str, str]], now: datetime) -> None:
        """Events deleted at the provider: future occurrences stop showing; history stays."""
        for uid, occurrence in gone:
            cond = [t.meeting.c.uid == uid, t.meeting.c.start_at > to_db(now)]
            if occurrence:
                cond.append(t.meeting.c.occurrence == occurrence)
            conn.execute(update(t.meeting).where(and_(*cond)).values(gone=True))


_MEETING_STATE = (t.meeting.c.uid, t.meeting.c.occurrence,  # the key, then what _ingest_meetings compares
                  t.meeting.c.id, t.meeting.c.fingerprint, t.meeting.c.recorded, t.meeting.c.gone)


def meeting_key(uid: str, occurrence: str) -> str:
    """A meeting's identity as text (e.g. in a draft's key)."""
    return f"e:{uid}|{occurrence}"


# The conflict targets of an interaction: one per person per message, or per meeting.
MESSAGE_KEY = ["message_ref", "contact_id"]
MEETING_KEY = ["meeting_ref", "contact_id"]


def interaction_key(row: dict[str, object]) -> list[str]:
    """The conflict target of one interaction row: its message's, or its meeting's."""
    return MESSAGE_KEY if row.get("message_ref") is not None else MEETING_KEY


def store_messages(conn: Connection, rows: list[dict[str, object]]) -> tuple[dict[str, int], set[int]]:
    """Upsert message rows (copies merged with :func:`merge_copies`). On PostgreSQL, a batch big
    enough for COPY also tells, from the same statement, the integer key of each message it
    inserted or changed (Message-ID -> key) and which of those keys it inserted: a first sync
    then looks up no key. Elsewhere both are empty, and :func:`message_refs` finds the keys."""
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_FROM_ROWS:
        stored = copy_upsert_returning(conn, t.message, ["message_id"], rows, merge_copies, ["message_id", "id"])
        return {mid: ref for mid, ref, _ in stored}, {ref for _, ref, inserted in stored if inserted}
    bulk_upsert(conn, t.message, ["message_id"], rows, merge=merge_copies)
    return {}, set()


def store_mail_interactions(conn: Connection, rows: list[dict[str, object]], fresh: set[int]) -> None:
    """Insert mail interactions, skipping those that exist. Those of a message this transaction
    inserted (``fresh``, from :func:`store_messages`) cannot exist anywhere yet, since no other
    process sees that message before we commit: they go straight in by COPY, each (message,
    person) once, with no staging table and no conflict check per row."""
    new: dict[tuple[object, object], dict[str, object]] = {}
    rest = []
    for row in rows:
        if row["message_ref"] in fresh:
            new.setdefault((row["message_ref"], row["contact_id"]), row)  # the first, as ON CONFLICT keeps
        else:
            rest.append(row)
    copy_insert(conn, t.interaction, list(new.values()))
    bulk_insert_ignore(conn, t.interaction, MESSAGE_KEY, rest)


def message_refs(conn: Connection, message_ids: Iterable[str]) -> dict[str, int]:
    """The integer key of each stored message, by Message-ID.

    On the driver's cursor, as one statement per chunk: a first sync asks this of every
    message, and SQLAlchemy's result rows cost more than the lookup itself.
    """
    refs: dict[str, int] = {}
    postgres = conn.dialect.name == "postgresql"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for chunk in _chunks(sorted(message_ids)):
            if postgres:
                # Never a server-side prepared statement: a plan PostgreSQL would cache while a
                # first sync's table is still small scans the table whole ever after (stale
                # sizes). Planned per execution, for the size the table has now, it is an index lookup.
                cursor.execute(_MESSAGE_REFS_PG, (chunk,), prepare=False)
            else:
                cursor.execute(_MESSAGE_REFS_SQLITE.format(", ".join("?" * len(chunk))), chunk)
            refs.update(cursor.fetchall())
    finally:
        cursor.close()
    return refs


_MESSAGE_REFS_PG = "SELECT message_id, id FROM message WHERE message_id = ANY(%s)"
_MESSAGE_REFS_SQLITE = "SELECT message_id, id FROM message WHERE message_id IN ({})"


def _among(conn: Connection, col: ColumnElement[Any], values: list[object]) -> ColumnElement[bool]:
    """``col IN values``; on PostgreSQL as ``= ANY(array)``: one parameter, so the driver
    neither parses nor re-sends a statement of hundreds of placeholders per chunk."""
    if conn.dialect.name == "postgresql":
        return col == any_(literal(values, ARRAY(col.type)))
    return col.in_(values)


def mark_dirty(conn: Connection, contact_ids: Iterable[int]) -> None:
    """Mark contacts for rescoring."""
    ids = sorted(set(contact_ids))
    if conn.dialect.name == "postgresql":
        # A rescore may be clearing one right now, having read its interactions before ours
        # commit: an UPDATE waits for it and marks the row again, a row skipped because it reads
        # as dirty would not. So a dirty row is skipped only when no other transaction has
        # touched the version we read (xmax is 0, or us: our foreign-key checks lock every
        # contact our interactions point at); any other xmax (a rescore's update, another
        # process's lock) means the row is rewritten, as always. One array parameter a batch.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for chunk in _chunks(ids, _PG_ARRAY_CHUNK):
                cursor.execute(_MARK_DIRTY_PG, (chunk,))
        finally:
            cursor.close()
        return
    # SQLite: write transactions are serial, so a row read dirty here stays dirty until we commit;
    # a first sync touches the same contacts in every batch, and rewriting them costs as much again.
    for chunk in _chunks(ids):
        conn.execute(update(t.contact).where(t.contact.c.id.in_(chunk), t.contact.c.dirty.is_(False))
                     .values(dirty=True))


_PG_ARRAY_CHUNK = 20_000  # ids in one array parameter, where SQLite takes IN lists of CHUNK
_MARK_DIRTY_PG = ("UPDATE contact SET dirty = true WHERE id = ANY(%s) "
                  "AND NOT (dirty AND (xmax = '0'::xid OR xmax = pg_current_xact_id()::xid))")


def merge_copies(old, new):  # type: ignore[no-untyped-def]
    """How another copy of a stored message changes it: (SET values, WHERE it changes anything).

    Every fact only moves one way, so the outcome is the same whichever copy, folder, account
    or sync came first, and a copy that adds nothing writes nothing:

    * it is yours if any copy is from you;
    * it came through a list (or a bulk sender) only if every copy did; machine-made likewise;
    * it names you if any copy does;
    * a sender, an In-Reply-To, a longer References list fill in what a copy lacked;
    * the first copy that did not come through a list shows the message as it was written
      (subject without the list's [tag], its folder, account and thread).

    A received message that changed is judged again by settle().
    """
    becomes_out = (old.direction == "in") & (new.direction == "out")
    leaves_list = old.via_list & ~new.via_list
    gains_sender = (old.sender == "") & (new.sender != "")
    gains_reply = (old.in_reply_to == "") & (new.in_reply_to != "")
    longer_refs = func.length(new.refs) > func.length(old.refs)
    changed = or_(becomes_out, leaves_list, old.automated & ~new.automated, ~old.to_me & new.to_me,
                  gains_sender, gains_reply, longer_refs)
    via_list, automated = old.via_list & new.via_list, old.automated & new.automated

    def as_written(column: str):  # type: ignore[no-untyped-def]
        return case((leaves_list, getattr(new, column)), else_=getattr(old, column))

    values = {
        "direction": case((becomes_out, new.direction), else_=old.direction),
        "via_list": via_list,
        "automated": automated,
        "to_me": old.to_me | new.to_me,
        "sender": case((gains_sender, new.sender), else_=old.sender),
        "in_reply_to": case((gains_reply, new.in_reply_to), else_=old.in_reply_to),
        "refs": case((longer_refs, new.refs), else_=old.refs),
        "subject": as_written("subject"),
        "folder": as_written("folder"),
        "account_id": as_written("account_id"),
        "thread_id": as_written("thread_id"),
        # still bulk or machine-made: of the copies' reasons the first in alphabetical order
        "noise": case((~via_list & ~automated, null()), (old.noise < new.noise, old.noise), else_=new.noise),
        "linked": (old.direction == "out") | (new.direction == "out"),
    }
    return values, changed


def _unusable_skip(ref: str, whose: str, unusable: list[str], counted_in: str) -> Skip:
    """One skip per record, however many of its addresses are unusable."""
    n, example = len(unusable), unusable[0]
    return Skip(ref, f"{n} of its {whose} {'is' if n == 1 else 'are'} not a usable address (e.g. "
                     f"{example[:80]!r}: {unusable_reason(example)}); counted in {counted_in}, never a contact")


def _chunks(items: Sequence[object], size: int = CHUNK) -> Iterable[list[object]]:
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i:i + size]

