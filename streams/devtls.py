"""A throwaway certificate authority for the local development broker's TLS listeners.

`write_dev_tls(directory)` makes, once, a CA and two certificates it signs, as PEM files:
the broker's (for 127.0.0.1 and localhost, server and client use) and a client's (mutual
TLS). Private keys are unencrypted PKCS#8, the form Kafka's PEM key stores read
(`ssl.keystore.type=PEM`). Nothing here is meant for a real cluster: the CA key lies next
to the certificates.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_VALIDITY_DAYS = 825
RSA_KEY_BITS = 2048
DEV_CLIENT_NAME = "basketlift-dev-client"


@dataclass(frozen=True)
class DevTlsFiles:
    """The PEM files of a throwaway CA under one directory."""

    directory: Path

    @property
    def ca(self) -> Path:
        """The CA certificate: what clients trust (BASKETLIFT_KAFKA_SSL_CAFILE)."""
        return self.directory / "ca.pem"

    @property
    def broker_keystore(self) -> Path:
        """The broker's private key followed by its certificate (a PEM key store)."""
        return self.directory / "broker.pem"

    @property
    def client_cert(self) -> Path:
        """A client certificate for the mutual-TLS listener (BASKETLIFT_KAFKA_SSL_CERTFILE)."""
        return self.directory / "client-cert.pem"

    @property
    def client_key(self) -> Path:
        """Its private key (BASKETLIFT_KAFKA_SSL_KEYFILE)."""
        return self.directory / "client-key.pem"

    def complete(self) -> bool:
        """True when every file is there."""
        files = (self.ca, self.broker_keystore, self.client_cert, self.client_key)
        return all(path.is_file() for path in files)


def new_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """The certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def issue(
    subject: str,
    key: rsa.RSAPrivateKey,
    *,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None,
    hosts: tuple[str, ...] = (),
) -> x509.Certificate:
    """A certificate for `key`: a self-signed CA without `issuer`, else a leaf it signs for
    `hosts` (DNS names or IP addresses), valid for server and client authentication."""
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_VALIDITY_DAYS))
    )
    if issuer is None:
        builder = builder.issuer_name(name).add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        )
        return builder.sign(key, hashes.SHA256())
    ca_cert, ca_key = issuer
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    builder = (
        builder.issuer_name(ca_cert.subject)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def write_private(path: Path, content: bytes) -> None:
    """Write a file only its owner may read."""
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    path.write_bytes(content)


def write_dev_tls(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> DevTlsFiles:
    """Make the CA, broker and client files under `directory` unless they are all there."""
    files = DevTlsFiles(directory)
    if files.complete():
        return files
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = new_key()
    ca_cert = issue("Basketlift development CA (throwaway)", ca_key)
    broker_key = new_key()
    broker_cert = issue(hosts[0], broker_key, issuer=(ca_cert, ca_key), hosts=hosts)
    client_key = new_key()
    client_cert = issue(DEV_CLIENT_NAME, client_key, issuer=(ca_cert, ca_key))
    write_private(directory / "ca-key.pem", key_pem(ca_key))
    write_private(files.broker_keystore, key_pem(broker_key) + cert_pem(broker_cert))
    write_private(files.client_key, key_pem(client_key))
    files.client_cert.write_bytes(cert_pem(client_cert))
    files.ca.write_bytes(cert_pem(ca_cert))
    return files
