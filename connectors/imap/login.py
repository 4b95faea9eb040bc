"""Opening an authenticated IMAP session: TLS / STARTTLS / loopback plain, and the three
password sources. Every failure leaves here as one of the contract's errors, worded for the
user and never quoting a secret."""

from __future__ import annotations

import imaplib
import ssl
import threading
from collections.abc import Callable
from typing import TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from syncd.connectors._retry import RetryPolicy
from syncd.connectors.base import AuthError, SourceError, TemporaryError
from syncd.connectors.imap.settings import Settings
from syncd.secrets import SecretError, password_from_command, resolve_password

T = TypeVar("T")


class Dropped(Exception):
    """The connection broke mid-operation; the caller reconnects and tries again."""


def is_transient(err: BaseException) -> bool:
    """Network trouble worth a reconnect (as opposed to a refusal or a bad certificate)."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return False
    return isinstance(err, (OSError, EOFError, imaplib.IMAP4.abort, Dropped))


def _tls_context(settings: Settings) -> ssl.SSLContext:
    try:
        # Verification (chain and host name) stays on; ca_file only adds trust anchors.
        return ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    except (OSError, ssl.SSLError) as err:
        raise SourceError(f"ca_file {str(settings.ca_file)!r} cannot be used as a CA file: {err}") from None


def _where(settings: Settings) -> str:
    return f"{settings.host}:{settings.effective_port}"


def _certificate_error(settings: Settings, err: ssl.SSLCertVerificationError) -> SourceError:
    reason = getattr(err, "verify_message", "") or str(err)
    return SourceError(
        f"the TLS certificate of IMAP server {_where(settings)} is not trusted ({reason}). "
        "If the server uses a private CA or a self-signed certificate, set ca_file to its PEM file."
    )


def connect(account: str, settings: Settings, timeout: float | None = None) -> IMAPClient:
    """A logged-in client. Raises AuthError, SourceError, or OSError-family for the network.

    ``timeout`` (default: the setting) bounds each socket read, not a whole command: an answer
    that keeps arriving, however long, is never cut off; a server silent that long is.
    """
    port = settings.effective_port
    timeout = timeout or settings.timeout
    try:
        if settings.security == "ssl":
            client = IMAPClient(settings.host, port=port, ssl=True, ssl_context=_tls_context(settings),
                                timeout=timeout)
        else:
            client = IMAPClient(settings.host, port=port, ssl=False, timeout=timeout)
            if settings.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    client.shutdown()
                    raise SourceError(f"IMAP server {_where(settings)} does not offer STARTTLS; "
                                      "use security = \"ssl\" (usually port 993)")
                client.starttls(_tls_context(settings))
    except ssl.SSLCertVerificationError as err:
        raise _certificate_error(settings, err) from None
    except ssl.SSLError as err:
        raise SourceError(f"TLS with IMAP server {_where(settings)} failed ({err.reason or err}); "
                          "check port and security (\"ssl\" is usually port 993, \"starttls\" port 143)") from None
    _login(account, settings, client)
    # Cache the capabilities the server sent with its LOGIN answer now: imaplib forgets
    # them at the first SELECT and imapclient would then spend a CAPABILITY command.
    client.capabilities()
    return client


def _login(account: str, settings: Settings, client: IMAPClient) -> None:
    try:
        if settings.oauth2_token_command:
            token = password_from_command(settings.oauth2_token_command)
            client.oauth2_login(settings.username, token)
        else:
            password = resolve_password(account=account, username=settings.username,
                                        password_command=settings.password_command,
                                        keyring_service=settings.keyring_service)
            client.login(settings.username, password)
    except SecretError as err:
        _quietly_close(client)
        raise AuthError(f"account {account!r}: {err}", fix=settings.secret_fix(account)) from None
    except LoginError as err:
        _quietly_close(client)
        text = str(err)
        if "UNAVAILABLE" in text.upper():  # RFC 5530: the server's auth backend is down
            raise TemporaryError(f"IMAP server {_where(settings)} cannot check passwords right now") from None
        what = "the OAuth2 token" if settings.oauth2_token_command else "the password"
        raise AuthError(f"IMAP server {_where(settings)} refused {what} for user {settings.username!r}",
                        fix=settings.secret_fix(account)) from None


def _quietly_close(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # closing a half-dead socket: nothing useful to report
        pass


class Session:
    """A lazily opened, self-healing IMAP session.

    ``run(op)`` calls ``op(client)``; when the connection drops or times out it reconnects
    with backoff (the shared :class:`~syncd.connectors._retry.RetryPolicy`: ``retry_delay``
    doubling with jitter, ``retries`` times) and calls ``op`` again on the fresh client, so
    ``op`` must be self-contained (select its own folder). After the last attempt the failure
    becomes a TemporaryError.

    A timed-out connection is shut down before anything is sent on a new one, so a command
    is never in flight twice from us; and since a server that was silent that long is more
    likely busy (a cold cache, a big folder indexed on first contact) than gone, the next
    connection waits twice as long (up to 8x the setting).
    """

    def __init__(self, account: str, settings: Settings, retry: RetryPolicy | None = None) -> None:
        self.account = account
        self.settings = settings
        self.retry = retry or RetryPolicy(max_retries=settings.retries, base_delay=settings.retry_delay)
        self._client: IMAPClient | None = None
        self._lock = threading.RLock()  # one IMAP conversation at a time (the prefetch thread)
        self.timeout = settings.timeout  # per socket read; grows after a timeout

    def client(self) -> IMAPClient:
        if self._client is None:
            self._client = connect(self.account, self.settings, self.timeout)
        return self._client

    def run(self, op: Callable[[IMAPClient], T]) -> T:
        with self._lock:
            return self._run(op)

    def _run(self, op: Callable[[IMAPClient], T]) -> T:
        attempts = self.retry.attempts(f"IMAP server {_where(self.settings)}")
        while True:
            try:
                return op(self.client())
            except (AuthError, SourceError, TemporaryError):
                raise
            except Exception as err:
                if not is_transient(err):
                    raise
                self.drop()  # for good: whatever the server still does for it, we no longer wait
                if isinstance(err, TimeoutError):
                    self.timeout = min(self.timeout * 2, self.settings.timeout * 8)
                why = f"connection failed ({type(err).__name__}: {err})"
            attempts.wait(why)  # outside the except: a give-up must not chain the network error

    def drop(self) -> None:
        if self._client is not None:
            _quietly_close(self._client)
        self._client = None

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.logout()
            except Exception:  # already gone: nothing to release
                _quietly_close(self._client)
        self._client = None

