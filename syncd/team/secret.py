"""Account secrets of team members: Fernet ciphertext in ``syncd_team.secret``.

The key comes from $SYNCD_SECRET_KEY (``syncd team key`` prints a new one) and is never stored
in the database: a copy of the database, a backup or a read-only SQL user sees ciphertext only.
Whoever runs a worker holds the key and so can read every member's secrets: docs/team.md has
the threat model. Plaintext is never logged, never put in an error, and lives only in the
memory of the worker syncing that account.
"""

from __future__ import annotations

import os

from syncd.secrets import SecretError

ENV = "SYNCD_SECRET_KEY"


def _fernet():  # type: ignore[no-untyped-def]
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        raise SecretError("team secrets need the cryptography package; pip install 'syncd[team]'") from None
    key = os.environ.get(ENV, "")
    if not key:
        raise SecretError(f"${ENV} is not set; set it to the team's key (new one: syncd team key)")
    try:
        return Fernet(key.encode())
    except ValueError:
        raise SecretError(f"${ENV} is not a Fernet key (32 url-safe base64 bytes); "
                          "make one with: syncd team key") from None


def new_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def encrypt(plaintext: str) -> bytes:
    return bytes(_fernet().encrypt(plaintext.encode()))


def decrypt(ciphertext: bytes) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return str(_fernet().decrypt(bytes(ciphertext)).decode())
    except InvalidToken:
        raise SecretError(f"a stored secret does not open with ${ENV}: the key changed; "
                          "set the key it was stored with, or store the secret again") from None
