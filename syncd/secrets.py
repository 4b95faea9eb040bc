"""Where passwords and tokens come from, and where tokens are kept.

Invariant 7: secrets live in 0600 files under the XDG state dir, or in the OS keyring, and
never in the config file, the database or a log line. So this module's errors never quote a
secret or a password command's output, only the command's exit status.
"""

from __future__ import annotations

import os
import shlex
from contextvars import ContextVar
import subprocess
import tempfile
from pathlib import Path


class SecretError(Exception):
    """A secret could not be had. The message says how to fix it and never holds the secret."""


def password_from_command(command: str, *, timeout: float = 60) -> str:
    """Run ``command`` (e.g. ``pass show mail/work``) and take the first line of its output."""
    try:
        argv = shlex.split(command)
    except ValueError as err:
        raise SecretError(f"password_command cannot be parsed ({err})") from None
    if not argv:
        raise SecretError("password_command is empty")
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SecretError(f"password_command: program {argv[0]!r} not found") from None
    except subprocess.TimeoutExpired:
        raise SecretError(f"password_command {argv[0]!r} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise SecretError(f"password_command {argv[0]!r} failed with exit status {done.returncode}")
    first = done.stdout.decode("utf-8", "replace").splitlines()
    if not first or not first[0]:
        raise SecretError(f"password_command {argv[0]!r} printed nothing")
    return first[0]


def password_from_keyring(service: str, username: str) -> str:
    """Read a password the user stored with ``keyring set SERVICE USERNAME``."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:  # pragma: no cover - keyring is a dependency
        raise SecretError("the keyring package is not installed") from None
    try:
        value = keyring.get_password(service, username)
    except KeyringError as err:
        raise SecretError(f"the OS keyring is not available ({type(err).__name__})") from None
    if not value:
        raise SecretError(f"no password in the keyring for service {service!r}, user {username!r}; "
                          f"store one with: keyring set {shlex.quote(service)} {shlex.quote(username)}")
    return value


# A team worker hands the accounts it is working for their decrypted passwords this way
# (syncd.team): account name -> password, in memory, in this thread only, for that job.
supplied_passwords: ContextVar[dict[str, str] | None] = ContextVar("supplied_passwords", default=None)


def resolve_password(*, account: str, username: str, password_command: str | None, keyring_service: str | None) -> str:
    """The password for an account from its configured source (command first, then keyring)."""
    supplied = (supplied_passwords.get() or {}).get(account)
    if supplied is not None and not password_command and not keyring_service:
        return supplied
    if not password_command and not keyring_service and supplied is None:
        raise SecretError(f"account {account!r}: its team secret is missing; store it with "
                          "syncd accounts add ... --member M --secret-stdin")
    if password_command:
        return password_from_command(password_command)
    if keyring_service:
        return password_from_keyring(keyring_service, username)
    raise SecretError(f"account {account!r} has no password source: set password_command or keyring_service")


def write_private(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600 (parent made 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_private(path: Path) -> bytes | None:
    """Read a secret file; None if absent. Tightens a file others could read to 0600."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if st.st_mode & 0o077:
        os.chmod(path, 0o600)
    return path.read_bytes()
