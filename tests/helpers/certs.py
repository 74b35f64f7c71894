"""Throwaway certificate authorities and certificates for TLS tests, made with the openssl CLI.

    ca = make_ca(tmp_path, "test-ca")
    server = ca.issue("server", server=True)      # SANs: DNS localhost, IP 127.0.0.1
    client = ca.issue("client", server=False)     # extendedKeyUsage clientAuth
    server.cert, server.key, ca.cert               # PEM file paths

EC P-256 keys keep generation to a few milliseconds; certificates last two days.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA that can issue server and client certificates."""

    folder: Path
    name: str
    cert: Path
    key: Path

    def issue(self, name: str, *, server: bool) -> Issued:
        """A leaf certificate for ``name``; ``server`` adds the loopback SANs."""
        key, csr, cert = (self.folder / f"{name}{ext}" for ext in (".key", ".csr", ".pem"))
        _openssl("req", "-new", *_EC, "-keyout", str(key), "-out", str(csr),
                 "-subj", f"/CN={name}", cwd=self.folder)  # fmt: skip
        extensions = self.folder / f"{name}.ext"
        extensions.write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
            if server
            else "extendedKeyUsage=clientAuth\n"
        )
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                 "-set_serial", str(secrets.randbits(63)), "-days", "2", "-sha256",
                 "-extfile", str(extensions), "-out", str(cert), cwd=self.folder)  # fmt: skip
        return Issued(cert, key)


def make_ca(folder: Path, name: str) -> CertificateAuthority:
    """A new CA whose files live in ``folder / name``."""
    home = folder / name
    home.mkdir(parents=True, exist_ok=True)
    cert, key = home / "ca.pem", home / "ca.key"
    _openssl("req", "-x509", *_EC, "-keyout", str(key), "-out", str(cert), "-days", "2",
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=home)  # fmt: skip
    return CertificateAuthority(home, name, cert, key)
