"""Self-signed TLS certificate for the embedded default, and the server's TLS context settings."""

import ctypes
import ipaddress
import logging
import os
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_FILE = "tls-cert.pem"
KEY_FILE = "tls-key.pem"
# Modern AEAD suites only for TLS 1.2 (TLS 1.3 suites are fixed by OpenSSL and all strong).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
# Mozilla's "intermediate" key-exchange groups (https://ssl-config.mozilla.org/), in preference order.
TLS_GROUPS = "X25519:prime256v1:secp384r1"
_SSL_CTRL_SET_GROUPS_LIST = 92  # OpenSSL's SSL_CTX_set1_groups_list is this macro over SSL_CTX_ctrl

log = logging.getLogger("arx")


CERT_LIFETIME = timedelta(days=90)
"""Short-lived like the certificates of public CAs (CA/Browser Forum: 398 days at most, falling to 47)."""


def create_self_signed(keys_dir: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")) -> bool:
    """Write a self-signed EC P-256 certificate and key into keys_dir when absent; True if written.

    The certificate carries the extensions strict RFC 5280 / CA/Browser Forum path validation asks of an
    end-entity certificate (key identifiers, critical KeyUsage, SAN, EKU), so a client may pin it as its
    own trust anchor under a strict verifier (pyca/cryptography's x509.verification, Go, rustls)."""
    cert_path, key_path = keys_dir / CERT_FILE, keys_dir / KEY_FILE
    if cert_path.exists() and key_path.exists():
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ARX local"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ARX")])
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + CERT_LIFETIME)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return True


def harden(context: ssl.SSLContext, client_ca: Path | None = None) -> None:
    """TLS 1.2+ only, AEAD suites, no compression or renegotiation; optional client certificates."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    if not restrict_groups(context):
        log.warning("TLS key-exchange groups left at OpenSSL's defaults (could not restrict them)")
    if client_ca is not None:
        context.load_verify_locations(cafile=str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED


def restrict_groups(context: ssl.SSLContext, groups: str = TLS_GROUPS) -> bool:
    """Offer only `groups` for key exchange; False when this Python/OpenSSL does not allow it.

    Python's ssl module has no way to set the groups list before 3.15 (`set_groups`); until then this
    calls OpenSSL's SSL_CTX_ctrl on the context's SSL_CTX, found right after the object header of
    CPython's PySSLContext. The pointer is checked by reading the context's options back through
    OpenSSL before anything is written, so a different layout is detected and nothing is touched."""
    setter = getattr(context, "set_groups", None)
    if setter is not None:
        setter(groups)
        return True
    try:
        import _ssl

        libssl = ctypes.CDLL(_ssl.__file__)
        ctrl, get_options = libssl.SSL_CTX_ctrl, libssl.SSL_CTX_get_options
    except (OSError, AttributeError, ImportError):
        return False
    ctrl.restype, ctrl.argtypes = ctypes.c_long, [ctypes.c_void_p, ctypes.c_int, ctypes.c_long,
                                                  ctypes.c_char_p]
    get_options.restype, get_options.argtypes = ctypes.c_uint64, [ctypes.c_void_p]
    ssl_ctx = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not ssl_ctx or get_options(ssl_ctx) != context.options:
        return False
    return ctrl(ssl_ctx, _SSL_CTRL_SET_GROUPS_LIST, 0, groups.encode()) == 1
