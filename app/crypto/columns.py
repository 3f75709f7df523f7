"""The four columns that store one envelope-encrypted document, and how a feature declares the tables
whose rows depend on a key version (the key jobs of app/keys/tables.py visit every declared table)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto.envelope import Sealed
from app.crypto.keyring import Keyring


class SealedColumns:
    """Mixin: KEK version, wrapped data key, nonce and ciphertext of one sealed document."""

    key_version: Mapped[int] = mapped_column(Integer, index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)

    def sealed(self) -> Sealed:
        return Sealed(self.key_version, self.wrapped_key, self.nonce, self.ciphertext)

    def store(self, sealed: Sealed) -> None:
        self.key_version = sealed.key_version
        self.wrapped_key = sealed.wrapped_key
        self.nonce = sealed.nonce
        self.ciphertext = sealed.ciphertext


@dataclass(frozen=True)
class SealedTable:
    """A table whose rows hold a data key wrapped under a data KEK version (rewrap moves it, retire
    counts it). ``model`` has an ``id`` to walk in order; the two columns are named, as a row has them."""

    name: str  # how `arx keys status` and the retire check name these rows
    model: type[Any]
    aad: Callable[[Any], bytes]  # the associated data a row's key was wrapped with
    version: str = "key_version"
    wrapped: str = "wrapped_key"


# The term rows of one owner under an index version, from its decrypted document.
TermRows = Callable[[Keyring, int, Any, dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class TermTable:
    """Blind-index terms of the sealed documents of one table (``owner``, whose model has SealedColumns),
    one set per index version: reindex writes them under a new version, retire purges an old one's."""

    name: str  # the count's name in the reindex report
    owner: SealedTable
    terms: type[Any]  # the term model: id, key_version and the owner's id in ``owner_id``
    owner_id: str
    rows: TermRows
    # Which owners keep terms at all (evaluated at each batch, e.g. "still open"); None: every owner.
    keeps: Callable[[], Any] | None = None
