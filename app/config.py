"""Settings read from ARX_* environment variables (README, "Configuration")."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; defaults run the embedded SQLite set-up."""

    model_config = SettingsConfigDict(env_prefix="ARX_", extra="ignore")

    database_url: str = "sqlite:///./var/arx.db"
    keys_dir: Path = Path("./keys")
    keyring_passphrase: SecretStr | None = None
    # What seals the keyring file: "passphrase" (sealed when ARX_KEYRING_PASSPHRASE is set, plain
    # otherwise) or "pkcs11" (an AES key that never leaves an HSM; README "HSM-sealed keyring").
    keyring_seal: Literal["passphrase", "pkcs11"] = "passphrase"
    pkcs11_module: Path | None = None
    pkcs11_token_label: str | None = None
    pkcs11_key_label: str = "arx-keyring"
    pkcs11_pin: SecretStr | None = None
    pkcs11_pin_file: Path | None = None
    token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    token_issuer: str = "urn:arx:platform"
    token_audience: str = "urn:arx:api"
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # A page of GET /notices stops before its JSON would pass this size (always at least one notice).
    max_page_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    expose_docs: bool = False
    cors_origins: list[str] = []
    # Seconds between checks of the keyring file by a running service (CONTRACT: changes reach it within 5 s).
    keyring_poll_seconds: float = Field(default=1.0, gt=0, le=4)
    # OWASP Authentication Cheat Sheet: lock an account after repeated failures, for a growing time.
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=60, ge=1)
    search_rate_per_minute: int = Field(default=120, ge=1)
    write_rate_per_minute: int = Field(default=600, ge=1)
    # Per client address (OWASP API4): token requests, and search or write requests of all its users.
    token_ip_rate_per_minute: int = Field(default=60, ge=1)
    ip_rate_per_minute: int = Field(default=1200, ge=1)
    # Bounded waits when the database fails (README "Outages"): a request unanswered after the deadline
    # gets 503; PostgreSQL connects and statements time out; SQLite waits this long for its write lock.
    request_deadline_seconds: float = Field(default=10.0, gt=0, le=120)
    database_connect_timeout_seconds: int = Field(default=3, ge=1, le=60)
    database_statement_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    database_busy_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    # SIGTERM: in-flight requests get this long to finish, then the final audit seal as long again.
    shutdown_grace_seconds: float = Field(default=10.0, gt=0, le=300)
    # Readiness reports the disk as full below this many free bytes (database dir and keys dir).
    ready_min_free_bytes: int = Field(default=16 * 1024 * 1024, ge=0)
    # Slow clients (slowloris): `arx serve` closes a connection whose request headers are not complete
    # within this time, or whose body stalls this long between two reads (app/serving.py).
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    audit_seal_interval_seconds: float = Field(default=0.5, gt=0, le=2)
    audit_origin: str = "arx.example/audit-log"
    # Hit/no-hit enquiries (README, "Hit/no-hit enquiries"): standing period, and rate limits per
    # user and per party (an enquiry is a probe into data the caller may not see).
    enquiry_open_days: int = Field(default=90, ge=0, le=3650)
    enquiry_rate_per_minute: int = Field(default=10, ge=1)
    enquiry_party_rate_per_minute: int = Field(default=30, ge=1)
    # Posting or revising a notice matches it against other parties' notices and standing enquiries.
    deconfliction_enabled: bool = True
    # Focal-point directory: a contact not confirmed for this many days is stale; reminders are checked
    # every directory_reminder_interval_seconds by one process at a time.
    directory_stale_days: int = Field(default=180, ge=1)
    directory_reminder_interval_seconds: float = Field(default=3600, gt=0)
    # Legislation: a profile not revised for this many days is out of date.
    legislation_outdated_days: int = Field(default=365, ge=1)
    # Where people open the portal: e-mails link there (ids only, never content).
    public_url: str = "https://localhost:8443"
    # Notification e-mail: smtp://host:port, smtp+starttls://host:port or smtps://host:port, with
    # optional user:password@. Unset: no e-mail is sent (the in-app inbox still works).
    smtp_url: SecretStr | None = None
    smtp_from: str = "arx@localhost"
    # CA bundle to verify the SMTP server's certificate (default: the system's trust store).
    smtp_ca_file: Path | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    mail_poll_seconds: float = Field(default=2.0, gt=0, le=300)
    # Retries with exponential backoff: base × 2^(attempt-1), capped at one hour, then given up.
    mail_max_attempts: int = Field(default=8, ge=1, le=50)
    mail_backoff_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Default deadlines of requests for cooperation by priority (README "Requests" explains the choice).
    request_due_days_urgent: int = Field(default=3, ge=1, le=365)
    request_due_days_standard: int = Field(default=30, ge=1, le=3650)
    request_due_soon_hours: int = Field(default=48, ge=1, le=24 * 30)
    request_deadline_poll_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Portal sessions (OWASP Session Management): idle and absolute lifetimes, enforced server-side.
    portal_idle_timeout_seconds: int = Field(default=15 * 60, ge=1, le=86_400)
    portal_absolute_timeout_seconds: int = Field(default=8 * 3600, ge=60, le=7 * 86_400)
    # Portal users must have TOTP: an account without one is taken to enrolment and nothing else.
    portal_require_totp: bool = True


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own Settings and pass them explicitly)."""
    return Settings()
