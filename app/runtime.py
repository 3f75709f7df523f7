"""The long-lived parts one process shares: settings, database, keys, envelope, tokens."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.auth.tokens import TokenService
from app.config import Settings
from app.crypto.envelope import Envelope
from app.crypto.hsm import Pkcs11Seal, seal_from_settings
from app.crypto.keyring import FileKeyProvider
from app.db import Database, Timeouts, utcnow
from app.keys.registry import adopt_keyring, database_guard


def keyring_seal(settings: Settings) -> Pkcs11Seal | None:
    """The seal ARX_KEYRING_SEAL names beyond the passphrase (KeyringError when misconfigured)."""
    pin = settings.pkcs11_pin.get_secret_value() if settings.pkcs11_pin else None
    return seal_from_settings(settings.keyring_seal, module=settings.pkcs11_module,
                              token_label=settings.pkcs11_token_label, key_label=settings.pkcs11_key_label,
                              pin=pin, pin_file=settings.pkcs11_pin_file)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    keys: FileKeyProvider
    envelope: Envelope
    tokens: TokenService
    # What time it is for use cases that age data (freshness, staleness); tests move it.
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def build(cls, settings: Settings) -> "Runtime":
        passphrase = settings.keyring_passphrase.get_secret_value() if settings.keyring_passphrase else None
        db = Database(settings.database_url, Timeouts(
            connect_seconds=settings.database_connect_timeout_seconds,
            statement_seconds=settings.database_statement_timeout_seconds,
            busy_seconds=settings.database_busy_timeout_seconds))
        # Every keyring this process adopts, at start and on each reload, must match the database.
        keys = FileKeyProvider(settings.keys_dir, passphrase, settings.keyring_poll_seconds,
                               guard=database_guard(db), seal=keyring_seal(settings))
        return cls(settings=settings, db=db, keys=keys,
                   envelope=Envelope(keys),
                   tokens=TokenService(keys, issuer=settings.token_issuer, audience=settings.token_audience,
                                       ttl_seconds=settings.token_ttl_seconds))

    def adopt_keys(self) -> None:
        """At start: read and check the keyring strictly (one-line KeyringError), record new versions."""
        adopt_keyring(self.db, self.keys.reload_strictly())

    def close(self) -> None:
        self.db.dispose()
