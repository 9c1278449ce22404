"""A local cluster's TLS material: a private CA, a server certificate per node and per pgbouncer,
and the superuser's SCRAM password, all under ``DIR/tls``.

Production deployments bring their own CA; the local cluster makes one so that it runs the way
they do: every TCP connection encrypted and the server verified (``sslmode=verify-full``).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["make_ca", "make_server_cert", "write_password", "read_password", "write_private", "CA_FILE", "PASSWORD_FILE"]

CA_FILE = "ca.crt"
CA_KEY = "ca.key"
PASSWORD_FILE = "superuser.password"
_DAYS = 825  # what browsers and most clients accept for a leaf certificate


def write_private(path: Path, data: bytes) -> None:
    """Write a secret: the file is 0600 from its creation, never readable by others for an instant."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_ca(directory: Path, name: str) -> Path:
    """A self-signed CA (P-256) in directory/ca.crt and ca.key; returns the certificate's path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "finshard"),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"finshard local CA {name}")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    write_private(directory / CA_KEY, _key_pem(key))
    (directory / CA_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return directory / CA_FILE


def make_server_cert(directory: Path, name: str, hosts: list[str], *, client: bool = False) -> tuple[Path, Path]:
    """A server certificate for ``hosts`` (IP addresses or DNS names) signed by directory's CA;
    client=True lets it also authenticate its holder as a client (etcd's members and Patroni)."""
    ca_key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "finshard"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]
                                                 + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)  # type: ignore[arg-type]
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    crt, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_private(key_path, _key_pem(key))
    return crt, key_path


def write_password(directory: Path, password: str | None = None) -> str:
    """The superuser's password for TCP logins (SCRAM; random unless given), beside the CA, mode 0600."""
    password = password or secrets.token_urlsafe(24)
    write_private(directory / PASSWORD_FILE, password.encode())
    return password


def read_password(directory: Path) -> str:
    return (directory / PASSWORD_FILE).read_text().strip()
