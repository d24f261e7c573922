"""The simulator's certificates: a throw-away CA and a leaf per SNI name, made on demand."""

import datetime as dt
import hashlib
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAME = "localhost"  # clients that send no SNI (connecting by IP) get this leaf
PEM = serialization.Encoding.PEM


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])


def _certificate(subject, issuer, key, signer, not_after, extensions) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now - dt.timedelta(days=1), not_after - dt.timedelta(days=30)))
        .not_valid_after(not_after)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signer, hashes.SHA256())


class CertificateAuthority:
    """A CA written to `ca_path` for clients to trust, and cached server contexts per SNI name.

    EC keys keep making a leaf to about a millisecond, so leaves are made inside the TLS
    handshake (the `sni_callback`) without stalling the event loop noticeably.
    """

    def __init__(self, workdir: Path, ca_path: Path):
        self.workdir = Path(workdir) / "certs"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca_path = Path(ca_path)
        self.ca_path.parent.mkdir(parents=True, exist_ok=True)
        self._ca_key, self._ca_cert = self._load_or_create_ca()
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())  # one key for every leaf
        self._contexts: dict[tuple, ssl.SSLContext] = {}

    def _load_or_create_ca(self):
        """Reuse the CA at ca_path (its key beside it) so clients that trust it keep trusting
        it across restarts; make and write a new one otherwise."""
        key_path = self.ca_path.with_suffix(".key")
        if self.ca_path.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=30):
                return key, cert
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name("Access Portal Model Studio simulator CA")
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        ten_years = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
        cert = _certificate(
            subject,
            subject,
            key,
            key,
            ten_years,
            [(x509.BasicConstraints(ca=True, path_length=0), True), (usage, True)],
        )
        key_path.touch(mode=0o600)
        key_path.write_bytes(
            key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        self.ca_path.write_bytes(cert.public_bytes(PEM))
        return key, cert

    def leaf_pem(self, name: str, self_signed=False, days_left: int | None = None) -> bytes:
        """Certificate chain and key (PEM) for `name`: CA-signed unless self_signed."""
        # An hour of slack so that (not_after - now).days is exactly days_left.
        days = 365 if days_left is None else days_left
        not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=days, hours=1)
        try:
            names = [x509.IPAddress(ipaddress.ip_address(name))]
        except ValueError:
            names = [x509.DNSName(name)]
        if name == DEFAULT_NAME:
            names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        extensions = [
            (x509.SubjectAlternativeName(names), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ]
        signer, issuer = (self._leaf_key, _name(name)) if self_signed else (self._ca_key, None)
        cert = _certificate(
            _name(name),
            issuer or self._ca_cert.subject,
            self._leaf_key,
            signer,
            not_after,
            extensions,
        )
        chain = cert.public_bytes(PEM) + (b"" if self_signed else self._ca_cert.public_bytes(PEM))
        key = self._leaf_key.private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return chain + key

    def context_for(self, name: str, self_signed=False, days_left: int | None = None):
        """A server SSLContext presenting the leaf for `name` (cached per variant)."""
        variant = (name.lower(), bool(self_signed), days_left)
        if variant not in self._contexts:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self._write(variant))
            self._contexts[variant] = context
        return self._contexts[variant]

    def _write(self, variant: tuple) -> Path:
        """The leaf for `variant` as a file: ssl loads certificates only from files."""
        path = self.workdir / f"{hashlib.sha256(repr(variant).encode()).hexdigest()[:20]}.pem"
        path.write_bytes(self.leaf_pem(*variant))
        return path

    def server_context(self, fault_for) -> ssl.SSLContext:
        """The listening context: during the handshake it switches to the SNI name's context.

        `fault_for(name)` gives the Fault for that name (or None): it picks self-signed and
        expiring certificates.
        """
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        base.load_cert_chain(self._write((DEFAULT_NAME, False, None)))

        def pick(sslobj, server_name, _context):
            name = (server_name or DEFAULT_NAME).lower()
            fault = fault_for(name)
            if fault is None:
                sslobj.context = self.context_for(name)
            else:
                sslobj.context = self.context_for(name, fault.self_signed, fault.cert_days_left)

        base.sni_callback = pick
        return base
