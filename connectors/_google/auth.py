"""OAuth for Google accounts: the installed-app consent flow and the token file.

The user brings their own OAuth client ("Desktop app" client JSON, see docs/google.md).
``authorize`` runs Google's installed-app flow with a loopback redirect and stores the
grant in ``<state_dir>/google-token.json`` (mode 0600, via :func:`syncd.secrets.write_private`).
Syncing reads that file, lets google-auth refresh the access token when it expires (or when
the API answers 401) and writes the refreshed token back. A refresh token Google no longer
accepts (revoked, expired, password changed) becomes :class:`AuthError` with the command
that fixes it. Nothing here logs or raises a token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import google.auth.exceptions
from google.oauth2.credentials import Credentials

from syncd.connectors.base import AuthError, SourceError
from syncd.secrets import read_private, write_private

TOKEN_FILE = "google-token.json"

GMAIL_READ = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_METADATA = "https://www.googleapis.com/auth/gmail.metadata"
GMAIL_COMPOSE = "https://www.googleapis.com/auth/gmail.compose"
CALENDAR_EVENTS_READ = "https://www.googleapis.com/auth/calendar.events.readonly"


def gmail_scopes(metadata_only: bool) -> list[str]:
    """Reading message headers (and sendAs aliases), and writing drafts: nothing more."""
    return [GMAIL_METADATA if metadata_only else GMAIL_READ, GMAIL_COMPOSE]


def calendar_scopes() -> list[str]:
    return [CALENDAR_EVENTS_READ]


def reauth_fix(account: str) -> str:
    return f"syncd accounts reauth {account}"


class TokenStore:
    """The account's OAuth grant in a 0600 file; writes back what google-auth refreshed."""

    def __init__(self, state_dir: Path, account: str) -> None:
        self.path = state_dir / TOKEN_FILE
        self.account = account
        self._saved_token: str | None = None

    def load(self, scopes: Iterable[str]) -> Credentials:
        raw = read_private(self.path)
        if raw is None:
            raise AuthError(f"account {self.account!r} has not been authorized with Google yet",
                            fix=reauth_fix(self.account))
        try:
            info = json.loads(raw)
            creds = Credentials.from_authorized_user_info(info, scopes=list(scopes))
        except (ValueError, TypeError, KeyError):
            # never quote the file: it holds the refresh token
            raise AuthError(f"the Google token file of account {self.account!r} is unreadable",
                            fix=reauth_fix(self.account)) from None
        missing = set(scopes) - set(info.get("scopes") or scopes)
        if missing:
            raise AuthError(f"account {self.account!r} was authorized without "
                            f"{', '.join(sorted(missing))}", fix=reauth_fix(self.account))
        self._saved_token = creds.token
        return creds

    def save(self, creds: Credentials) -> None:
        write_private(self.path, creds.to_json().encode("utf-8"))
        self._saved_token = creds.token

    def save_if_refreshed(self, creds: Credentials) -> None:
        """Persist a token google-auth refreshed in passing (cheap when nothing changed)."""
        if creds.token and creds.token != self._saved_token:
            self.save(creds)


def refresh_failed(account: str, err: google.auth.exceptions.RefreshError) -> AuthError:
    """A refused refresh (invalid_grant: revoked or expired grant) as an AuthError.

    google-auth's message carries the server's error text, never the token itself, but we
    keep only the OAuth error code to be safe."""
    code = "invalid_grant" if "invalid_grant" in str(err) else type(err).__name__
    return AuthError(f"Google refused the saved authorization of account {account!r} ({code}); "
                     f"it was revoked or has expired", fix=reauth_fix(account))


def authorize(account: str, client_secrets: Path | None, scopes: list[str], state_dir: Path, *,
              no_browser: bool = False, port: int = 0, timeout_seconds: int | None = 600) -> Credentials:
    """Run the installed-app consent flow and store the grant. Interactive.

    The browser is sent to Google's consent page; Google redirects back to a one-shot HTTP
    server on 127.0.0.1 that receives the code. With ``no_browser`` the URL is only printed:
    open it anywhere that can reach this machine's loopback port (e.g. with
    ``ssh -L PORT:127.0.0.1:PORT`` and a fixed ``oauth_port``).
    """
    from google_auth_oauthlib.flow import InstalledAppFlow

    if client_secrets is None:
        raise SourceError(f"account {account!r} needs client_secrets = \"/path/to/client_secret.json\" "
                          "(the OAuth client you created, see docs/google.md)")
    path = Path(client_secrets).expanduser()
    if not path.is_file():
        raise SourceError(f"client_secrets file {str(path)!r} does not exist")
    try:
        flow = InstalledAppFlow.from_client_secrets_file(str(path), scopes=scopes)
    except ValueError as err:
        raise SourceError(f"client_secrets file {str(path)!r} is not a Desktop-app OAuth client ({err})") from None
    from google_auth_oauthlib.flow import WSGITimeoutError
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error

    prompt = ("Open this URL in a browser to let syncd read your mail headers and calendar "
              "and write drafts:\n\n    {url}\n")
    try:
        creds = flow.run_local_server(
            host="127.0.0.1", port=port, open_browser=not no_browser,
            authorization_prompt_message=prompt,
            success_message="syncd is authorized. You may close this window.",
            timeout_seconds=timeout_seconds,
            prompt="consent",  # so that a re-authorization returns a fresh refresh token
        )
    except WSGITimeoutError:
        raise AuthError("nobody completed the Google consent page in time", fix=reauth_fix(account)) from None
    except OAuth2Error as err:  # access_denied (the user said no), invalid_client, ...
        raise AuthError(f"Google did not grant access ({err.error})", fix=reauth_fix(account)) from None
    except OSError as err:  # the loopback port is taken, or Google's token endpoint unreachable
        raise AuthError(f"the Google sign-in could not finish ({type(err).__name__}: {err.strerror or err})",
                        fix=reauth_fix(account)) from None
    granted = creds.granted_scopes
    granted = set(granted.split() if isinstance(granted, str) else granted or scopes)
    missing = [scope.rsplit("/", 1)[-1] for scope in scopes if scope not in granted]
    if missing:  # Google's consent page lets the user untick scopes one by one
        raise AuthError(f"Google granted syncd too little: {', '.join(missing)} was not allowed; "
                        "sign in again and leave every box ticked", fix=reauth_fix(account))
    if not creds.refresh_token:
        raise AuthError("Google returned no refresh token; remove syncd's access at "
                        "https://myaccount.google.com/permissions and try again", fix=reauth_fix(account))
    TokenStore(state_dir, account).save(creds)
    return creds
