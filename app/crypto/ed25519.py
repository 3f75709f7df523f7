"""Ed25519 signing and verification over raw 32-byte keys (the audit checkpoint signatures)."""

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def sign(private_key: bytes, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of message under a raw private key."""
    return Ed25519PrivateKey.from_private_bytes(private_key).sign(message)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when signature is a valid Ed25519 signature of message under a raw public key."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
