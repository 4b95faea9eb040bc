"""A private Dovecot IMAP server for tests and benchmarks.

Each :class:`Dovecot` owns a temp folder with its own config, passwd-file, Maildir storage,
a self-signed certificate it made itself, and three listeners on 127.0.0.1:

* ``port``: plain IMAP (plaintext login allowed on loopback; STARTTLS offered),
* ``tls_port``: implicit TLS (the 993 style),

Dovecot runs in the foreground under Popen (``-F``), so the test process reaps it and stops
it by PID. Recipe and traps: shared/research/test-infrastructure.md §1.

:class:`CountingProxy` sits between a client and the server and counts the IMAP commands the
client sent (by tag), and can drop connections on demand: the transport-level witness for
"a nothing-new sync costs ≤ 4 commands" and for "a dropped connection is retried".
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.servers import stop_process

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"

_CONF = """\
instance_name = dovecot-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
mail_location = maildir:{root}/mail/%u/Maildir
first_valid_uid = 1
mail_fsync = never
auth_failure_delay = 0
{rootless}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd.d/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
  {chroot}
}}
# Tests log in with wrong passwords on purpose; Dovecot's per-IP auth penalty (2 s, 4 s,
# ... 15 s) would then slow every later login from 127.0.0.1. The auth process finds the
# penalty socket unusable and leaves the penalty off.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
  imap_max_line_length = 64k
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
"""

_ROOTLESS = """\
default_internal_user = {user}
default_login_user = {user}
default_internal_group = {group}
service anvil {{
  chroot =
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dovecot exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"dovecot did not answer on port {port} within {timeout} s")


def make_self_signed_cert(folder: Path, name: str = "cert") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost (its own CA), made with the openssl tool."""
    cert, key = folder / f"{name}.pem", folder / f"{name.replace('cert', 'key')}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    key.chmod(0o644)  # dovecot's config process reads it; the whole folder is throwaway
    return cert, key


class Dovecot:
    """One private Dovecot instance; use as a context manager."""

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users = dict(users or {"ada": "lovelace-1815"})
        self.root = Path(tempfile.mkdtemp(prefix="syncd-dovecot-"))
        self.port = free_port()
        self.tls_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.rootless = os.getuid() != 0
        # root-started dovecot runs mail processes as nobody; rootless runs them as us
        self.uid, self.gid = (os.getuid(), os.getgid()) if self.rootless else (65534, 65534)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Dovecot:
        root = self.root
        root.chmod(0o755)  # the auth process (user dovecot) must reach the passwd file
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir()
        self.cert_file, _ = make_self_signed_cert(root)
        self.set_users(self.users)
        rootless = chroot = ""
        if self.rootless:
            import grp
            import pwd

            rootless = _ROOTLESS.format(user=pwd.getpwuid(os.getuid()).pw_name, group=grp.getgrgid(os.getgid()).gr_name)
            chroot = "chroot ="
        (root / "dovecot.conf").write_text(_CONF.format(
            root=root, port=self.port, tls_port=self.tls_port, uid=self.uid, gid=self.gid,
            rootless=rootless, chroot=chroot,
        ))
        if not self.rootless:
            os.chown(root / "mail", self.uid, self.gid)
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(self.port, self.proc)
        except RuntimeError as err:
            self.stop()
            raise RuntimeError(f"{err}; log:\n{self.log_text()[-3000:]}") from None
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- accounts and mail ---------------------------------------------------------------

    def set_users(self, users: dict[str, str]) -> None:
        """Add users (one passwd-file each: a new file is read at once, an edited one may
        be served from Dovecot's cache for a moment)."""
        folder = self.root / "passwd.d"
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
        for user, password in users.items():
            if self.users.get(user) == password and (folder / user).exists():
                continue
            path = folder / user
            path.write_text(f"{user}:{{PLAIN}}{password}::::::\n")
            path.chmod(0o644)
        self.users.update(users)

    def log_text(self) -> str:
        try:
            return (self.root / "dovecot.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def maildir(self, user: str, folder: str) -> Path:
        """The Maildir++ folder path (INBOX is the root; "a/b" is ".a.b")."""
        base = self.root / "mail" / user / "Maildir"
        return base if folder.upper() == "INBOX" else base / ("." + folder.replace("/", "."))

    def seed(self, user: str, folder: str, messages: Iterable[bytes]) -> int:
        """Write messages straight into the Maildir (fast: no IMAP); the first SELECT indexes them.

        Only for folders no client has SELECTed yet, or Dovecot's index will not see them
        until its next directory scan (which it does on SELECT anyway). Returns the count.
        """
        box = self.maildir(user, folder)
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        stamp = int(time.time())
        n = 0
        for n, raw in enumerate(messages, 1):
            name = f"{stamp}.M{n}P{os.getpid()}.syncd-seed,S={len(raw)}:2,S"
            with open(box / "cur" / name, "wb") as fh:
                fh.write(raw)
        if not self.rootless:  # Dovecot (as nobody) writes its index files into the folders
            for dirpath, _dirnames, _files in os.walk(self.root / "mail" / user):
                os.chown(dirpath, self.uid, self.gid)
        return n

    def doveadm(self, *args: str) -> str:
        done = subprocess.run(
            [DOVEADM, "-c", str(self.root / "dovecot.conf"), *args],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def bump_uidvalidity(self, user: str, folder: str) -> None:
        """Give ``folder`` a new UIDVALIDITY and renumber its messages, keeping the mail.

        This is what a server restore or a mailbox rebuild does to clients: all their
        stored UIDs become meaningless.
        """
        status = self.doveadm("-f", "flow", "mailbox", "status", "-u", user, "uidvalidity", folder)
        old = int(re.search(r"uidvalidity=(\d+)", status).group(1))  # type: ignore[union-attr]
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(old + 1000), folder)
        # Maildir keeps the UIDs in dovecot-uidlist; a new UIDVALIDITY there renumbers all
        # messages from 1 on the next sync, exactly like a real rebuild.
        box = self.maildir(user, folder)
        (box / "dovecot-uidlist").unlink(missing_ok=True)
        for index in box.glob("dovecot.index*"):
            index.unlink()


class CountingProxy:
    """A TCP relay in front of an IMAP server that counts client commands and can cut lines.

    ``commands`` lists (connection number, upper-case command) for every tagged line the
    client sent; ``drop_all()`` closes every open connection as a flaky network would.
    ``refuse`` makes new connections close at once (server unreachable); ``stall`` accepts
    them and then says nothing (a hung server or a dead route: the client must time out).
    ``silence_after`` names a command after which the server's answers on that connection
    are swallowed (a server that goes quiet mid-command); ``trickle`` = (bytes, seconds)
    delivers the server's answers that many bytes at a time with that pause between (a slow
    server whose answer keeps arriving). ``events`` lists (connection, what) in order:
    every command line (with its arguments) and "closed" when the client hung up.
    """

    # imaplib tags are four letters and a counter, e.g. "JNAE12"
    _TAG = re.compile(rb"^[A-Z]{4}\d+ (UID [A-Za-z]+|[A-Za-z]+)")

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.commands: list[tuple[int, str]] = []
        self.refuse = False
        self.stall = False
        self.silence_after: str | None = None
        self.trickle: tuple[int, float] | None = None
        self.events: list[tuple[int, str]] = []
        self._silenced: set[int] = set()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = self._server.getsockname()[1]
        self._conn_no = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            if self.stall:
                with self._lock:
                    self._socks.append(client)  # held open, never answered; closed by close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conn_no += 1
                no = self._conn_no
                self._socks += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, no), daemon=True).start()
            threading.Thread(target=self._answer, args=(upstream, client, no), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, count_as: int) -> None:
        """Client to server: count and log each command line."""
        pending = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    with self._lock:
                        self.events.append((count_as, "closed"))
                    break
                pending += data
                *lines, pending = pending.split(b"\r\n")
                for line in lines:
                    m = self._TAG.match(line)
                    if m:
                        command = m.group(1).decode().upper()
                        with self._lock:
                            self.commands.append((count_as, command))
                            self.events.append((count_as, line[m.start(1):m.start(1) + 300].decode(errors="replace")))
                            if command == self.silence_after:
                                self._silenced.add(count_as)
                                self.silence_after = None  # once
                pending = pending[-100_000:]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _hang_up(src, dst)

    def _answer(self, src: socket.socket, dst: socket.socket, conn: int) -> None:
        """Server to client, as slow or as silent as the test asks."""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if conn in self._silenced:
                    continue  # the server's words go nowhere: the client hears silence
                step, pause = self.trickle or (len(data), 0.0)
                for i in range(0, len(data), step):
                    dst.sendall(data[i:i + step])
                    if pause:
                        time.sleep(pause)
        except OSError:
            pass
        finally:
            _hang_up(src, dst)

    def count(self) -> int:
        with self._lock:
            return len(self.commands)

    def commands_since(self, index: int) -> list[str]:
        with self._lock:
            return [c for _, c in self.commands[index:]]

    def drop_all(self) -> None:
        with self._lock:
            socks, self._socks = self._socks, []
        _hang_up(*socks)

    def close(self) -> None:
        self._closed = True
        self._server.close()
        self.drop_all()


def _hang_up(*socks: socket.socket) -> None:
    """Close connections at once, both ways, as a dead line would; one already gone is fine."""
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def tls_client_context(cafile: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


def sample_messages(count: int, *, sender: str = "ada@example.com") -> Iterator[bytes]:
    """``count`` small distinct messages for seeding (fast: no email package)."""
    for i in range(count):
        day = 1 + i % 28
        yield (
            f"From: Ada Lovelace <{sender}>\r\n"
            f"To: Person {i % 997} <person{i % 997}@example.org>\r\n"
            f"Cc: Grace Hopper <grace@navy.example>\r\n"
            f"Subject: Note number {i}\r\n"
            f"Date: Mon, {day:02d} Jun 2026 10:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <seed-{i}-{uuid.uuid4().hex[:8]}@example.com>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nBody {i}\r\n"
        ).encode()
