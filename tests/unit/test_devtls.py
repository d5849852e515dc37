"""streams/devtls.py: the throwaway CA's files make a TLS handshake that checks both sides."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from streams.devtls import write_dev_tls


def test_the_files_are_pem_with_pkcs8_keys_and_private_keys_owner_only(tmp_path: Path) -> None:
    files = write_dev_tls(tmp_path / "tls")
    keystore = files.broker_keystore.read_text()
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as Kafka's PEM store
    assert "-----BEGIN CERTIFICATE-----" in keystore
    assert files.client_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    for private in (files.broker_keystore, files.client_key, tmp_path / "tls" / "ca-key.pem"):
        assert private.stat().st_mode & 0o077 == 0


def test_existing_files_are_kept(tmp_path: Path) -> None:
    first = write_dev_tls(tmp_path).ca.read_bytes()
    assert write_dev_tls(tmp_path).ca.read_bytes() == first


def test_broker_and_client_certificates_pass_a_mutual_tls_handshake(tmp_path: Path) -> None:
    files = write_dev_tls(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files.ca))
    server_context.load_cert_chain(str(files.broker_keystore))
    server_context.verify_mode = ssl.CERT_REQUIRED
    client_context = ssl.create_default_context(cafile=str(files.ca))
    client_context.load_cert_chain(str(files.client_cert), str(files.client_key))

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    peer: dict[str, object] = {}

    def serve() -> None:
        connection, _ = listener.accept()
        with server_context.wrap_socket(connection, server_side=True) as tls:
            peer.update(tls.getpeercert() or {})

    thread = threading.Thread(target=serve)
    thread.start()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client_context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.getpeercert()  # the broker's certificate verified for 127.0.0.1
    thread.join(timeout=10)
    listener.close()
    assert peer["subject"] == ((("commonName", "basketlift-dev-client"),),)
