"""The four columns that store one envelope-encrypted document."""

from sqlalchemy import Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto.envelope import Sealed


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
