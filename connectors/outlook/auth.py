"""Signing in with msal: the device-code flow, and a token cache kept in a 0600 file.

The cache (msal.SerializableTokenCache: access, refresh and id tokens) lives in the account's
private state dir, never in the config or the database (invariant 7). Every later run asks
msal for a token silently; msal answers from the cache or redeems the refresh token. A
refresh token that the identity platform refuses (revoked, expired, new MFA/consent policy)
is an :class:`AuthError` whose fix is ``syncd accounts reauth NAME``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import msal
import requests

from syncd.connectors.base import AuthError, ConnectorEnv, SourceError, TemporaryError
from syncd.connectors.outlook.settings import Settings
from syncd.secrets import read_private, write_private

log = logging.getLogger(__name__)

# Delegated Graph permissions. offline_access (the refresh token), openid and profile are
# reserved scopes that msal adds itself and refuses to be given.
SCOPES = ["Mail.ReadWrite", "Calendars.Read", "User.Read"]
CACHE_FILE = "msal_token_cache.json"
# Errors after which only the user can help: sign in again.
_NEEDS_USER = {"invalid_grant", "interaction_required", "consent_required", "login_required",
               "invalid_client", "unauthorized_client", "no_account"}


def reauth_fix(name: str) -> str:
    return f"syncd accounts reauth {name}"


def http_session(settings: Settings) -> requests.Session:
    """The one HTTP session for msal and Graph.

    With a custom CA (a local fake) the environment must not take part: requests lets
    REQUESTS_CA_BUNDLE beat ``Session.verify``, and a proxy variable would hijack 127.0.0.1.
    """
    session = requests.Session()
    if settings.ca_file:
        session.trust_env = False
        session.verify = settings.ca_file
    return session


class TokenSource:
    """Access tokens for one account, from msal's cache (refreshed silently when due)."""

    def __init__(self, name: str, settings: Settings, env: ConnectorEnv, session: requests.Session) -> None:
        self.name = name
        self.settings = settings
        self.path: Path = Path(env.state_dir) / CACHE_FILE
        self._session = session
        self._lock = threading.Lock()
        self._app: msal.PublicClientApplication | None = None
        self._cache = msal.SerializableTokenCache()
        raw = read_private(self.path)
        if raw:
            try:
                self._cache.deserialize(raw.decode("utf-8"))
            except ValueError:
                log.warning("account %s: the token cache file is unreadable; sign in again", name)

    # msal contacts the authority (OpenID configuration) when the application is built, so
    # build it only when a token is really needed.
    def application(self) -> msal.PublicClientApplication:
        if self._app is None:
            kwargs: dict = {"token_cache": self._cache, "http_client": self._session}
            if self.settings.authority:
                kwargs.update(authority=self.settings.authority, instance_discovery=False)
            else:
                kwargs.update(authority=f"https://login.microsoftonline.com/{self.settings.tenant}")
            try:
                self._app = msal.PublicClientApplication(self.settings.client_id, **kwargs)
            except requests.RequestException as err:
                raise TemporaryError(f"the Microsoft identity platform is unreachable ({type(err).__name__})") from None
            except ValueError as err:
                raise SourceError(f"account {self.name}: the sign-in authority is unusable ({err})") from None
        return self._app

    def persist(self) -> None:
        if self._cache.has_state_changed:
            write_private(self.path, self._cache.serialize().encode("utf-8"))
            self._cache.has_state_changed = False

    def username(self) -> str | None:
        """The signed-in user's name (UPN / address) as the id token gave it; no request."""
        accounts = list(self._cache.search(msal.TokenCache.CredentialType.ACCOUNT))
        return accounts[0].get("username") if accounts else None

    def access_token(self, *, force_refresh: bool = False) -> str:
        with self._lock:
            app = self.application()
            accounts = app.get_accounts()
            if not accounts:
                raise AuthError(f"account {self.name} is not signed in to Microsoft", fix=reauth_fix(self.name))
            try:
                result = app.acquire_token_silent_with_error(SCOPES, account=accounts[0], force_refresh=force_refresh)
            except requests.RequestException as err:
                raise TemporaryError(f"token refresh failed: the identity platform is unreachable ({type(err).__name__})") from None
            finally:
                self.persist()
        if not result:
            raise AuthError(f"account {self.name} has no usable Microsoft sign-in", fix=reauth_fix(self.name))
        if "access_token" in result:
            return result["access_token"]
        error = str(result.get("error", "unknown_error"))
        if error in _NEEDS_USER:
            raise AuthError(f"Microsoft refused the sign-in of account {self.name} ({error})", fix=reauth_fix(self.name))
        raise TemporaryError(f"token refresh failed for account {self.name} ({error})")


def authorize(name: str, settings: Settings, env: ConnectorEnv, *, no_browser: bool = False) -> None:
    """Sign in with the device-code flow: print a URL and a code, wait for the user.

    Works on a headless server (the browser can be on any other device), so ``no_browser``
    changes nothing. Replaces any earlier sign-in of this account.
    """
    tokens = TokenSource(name, settings, env, http_session(settings))
    app = tokens.application()
    try:
        flow = app.initiate_device_flow(scopes=SCOPES)
    except requests.RequestException as err:
        raise TemporaryError(f"the Microsoft identity platform is unreachable ({type(err).__name__})") from None
    if "user_code" not in flow:
        raise AuthError(f"device sign-in could not start ({flow.get('error', 'unknown error')}: "
                        f"{flow.get('error_description', '')})".strip(), fix="check client_id and tenant; see docs/outlook.md")
    print(flow["message"], flush=True)
    try:
        result = app.acquire_token_by_device_flow(flow)
    except requests.RequestException as err:
        raise TemporaryError(f"the Microsoft identity platform is unreachable ({type(err).__name__})") from None
    if "access_token" not in result:
        raise AuthError(f"sign-in failed ({result.get('error', 'unknown error')})", fix=reauth_fix(name))
    user = (result.get("id_token_claims") or {}).get("preferred_username")
    for account in app.get_accounts():  # one mailbox per account: forget any other user
        if user and account.get("username") != user:
            app.remove_account(account)
    tokens.persist()
    print(f"Signed in{' as ' + user if user else ''}. The token cache is in {tokens.path}", flush=True)
