"""The self-signed certificate verifies under strict path validation; only Mozilla's groups are offered."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from app.crypto.tls import CERT_FILE, KEY_FILE, create_self_signed, harden, restrict_groups


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls")
    assert create_self_signed(directory)
    return directory


def certificate(directory: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate((directory / CERT_FILE).read_bytes())


class TestStrictVerification:
    @pytest.mark.parametrize("name", [x509.DNSName("localhost"),
                                      x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                      x509.IPAddress(ipaddress.ip_address("::1"))])
    def test_pinned_as_its_own_trust_anchor_it_verifies(self, tls_dir: Path, name: x509.GeneralName) -> None:
        cert = certificate(tls_dir)
        verifier = PolicyBuilder().store(Store([cert])).build_server_verifier(name)  # type: ignore[arg-type]
        assert verifier.verify(cert, []) == [cert]

    def test_another_host_name_is_refused(self, tls_dir: Path) -> None:
        cert = certificate(tls_dir)
        verifier = PolicyBuilder().store(Store([cert])).build_server_verifier(x509.DNSName("evil.example"))
        with pytest.raises(VerificationError):
            verifier.verify(cert, [])

    def test_lifetime_is_at_most_ninety_days(self, tls_dir: Path) -> None:
        cert = certificate(tls_dir)
        assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=90, minutes=5)

    def test_key_usage_is_critical_and_for_signatures_only(self, tls_dir: Path) -> None:
        usage = certificate(tls_dir).extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str:
    """Run a TLS handshake in memory; the negotiated version, or raises ssl.SSLError."""
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    cli = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    done = {"c": False, "s": False}
    for _ in range(20):
        for side, obj in (("c", cli), ("s", srv)):
            if not done[side]:
                try:
                    obj.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return str(cli.version())
    raise AssertionError("handshake did not finish")


class TestKeyExchangeGroups:
    def server(self, tls_dir: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls_dir / CERT_FILE, tls_dir / KEY_FILE)
        harden(context)
        return context

    def client(self, tls_dir: Path, groups: str, version: ssl.TLSVersion) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(tls_dir / CERT_FILE))
        context.minimum_version = context.maximum_version = version
        assert restrict_groups(context, groups)
        return context

    # TLS 1.3 negotiates the key-exchange group alone (in TLS 1.2 the client's list also constrains the
    # curve of the ECDSA certificate, so a one-group offer says nothing about the server's list).
    @pytest.mark.parametrize("group", ["X25519", "prime256v1", "secp384r1"])
    def test_mozilla_intermediate_groups_are_accepted(self, tls_dir: Path, group: str) -> None:
        client = self.client(tls_dir, group, ssl.TLSVersion.TLSv1_3)
        assert handshake(self.server(tls_dir), client) == "TLSv1.3"

    def test_tls12_with_the_certificate_curve_is_accepted(self, tls_dir: Path) -> None:
        client = self.client(tls_dir, "prime256v1", ssl.TLSVersion.TLSv1_2)
        assert handshake(self.server(tls_dir), client) == "TLSv1.2"

    @pytest.mark.parametrize("group", ["secp521r1", "X448", "ffdhe2048"])
    def test_other_groups_are_refused(self, tls_dir: Path, group: str) -> None:
        with pytest.raises(ssl.SSLError):
            handshake(self.server(tls_dir), self.client(tls_dir, group, ssl.TLSVersion.TLSv1_3))
