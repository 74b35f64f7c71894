"""TLS settings of the server, checked before serving.

grpc reports any problem with a certificate or key as "Failed to bind to address", which sends
operators looking at ports. :meth:`ServerTLS.check` finds the real problem first with the
standard library's OpenSSL: a file that cannot be read, a file that is not PEM, a key that does
not belong to the certificate, a client CA that is not a certificate.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc


class TLSConfigError(ValueError):
    """The TLS files cannot work; the message names the file and the problem."""


@dataclass(frozen=True)
class ServerTLS:
    """PEM bytes for TLS; ``client_ca`` set means clients must present a certificate it signed.

    ``names`` say where each part came from, for messages (file paths when read from files).
    """

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None
    names: tuple[str, str, str] = ("the certificate", "the private key", "the client CA")

    @classmethod
    def from_files(
        cls, cert: str | os.PathLike[str], key: str | os.PathLike[str], client_ca: Any = None
    ) -> ServerTLS:
        """Read and check the PEM files (``client_ca`` None: no client certificates required);
        TLSConfigError naming the file when one cannot be read or cannot work."""
        names = (str(cert), str(key), str(client_ca))
        tls = cls(
            _read(cert, "certificate"),
            _read(key, "private key"),
            _read(client_ca, "client CA") if client_ca is not None else None,
            names,
        )
        tls.check()
        return tls

    def check(self) -> None:
        """TLSConfigError unless the certificate, key and client CA are PEM that fit."""
        cert_name, key_name, ca_name = self.names
        _require_pem(self.certificate_chain, cert_name, "CERTIFICATE", "a PEM certificate")
        _require_pem(self.private_key, key_name, "PRIVATE KEY", "a PEM private key")
        if b"ENCRYPTED" in self.private_key:
            raise TLSConfigError(
                f"the private key {key_name} is encrypted, which grpc cannot use: decrypt it "
                "('openssl pkey -in KEY -out KEY.plain') and keep it readable only by the server"
            )
        if self.client_ca is not None:
            _require_pem(self.client_ca, ca_name, "CERTIFICATE", "a PEM CA certificate")
        with tempfile.TemporaryDirectory(prefix="chroma-grpc-tls-") as folder:
            cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert_file.write_bytes(self.certificate_chain)
            key_file.touch(mode=0o600)
            key_file.write_bytes(self.private_key)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                context.load_cert_chain(cert_file, key_file, password=_no_password)
            except ssl.SSLError as error:
                if "KEY_VALUES_MISMATCH" in str(error) or "key values mismatch" in str(error):
                    raise TLSConfigError(
                        f"the private key {key_name} does not belong to the certificate "
                        f"{cert_name}: pass the key that was made with that certificate"
                    ) from None
                raise TLSConfigError(
                    f"cannot use the certificate {cert_name} with the key {key_name}: "
                    f"{error.reason or error}"
                ) from None
            if self.client_ca is not None:
                try:
                    context.load_verify_locations(cadata=self.client_ca.decode("ascii"))
                except (ssl.SSLError, UnicodeDecodeError) as error:
                    raise TLSConfigError(f"cannot use the client CA {ca_name}: {error}") from None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


def _no_password() -> bytes:
    """Never prompt on a terminal for a key's password (OpenSSL would)."""
    return b""


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise TLSConfigError(
            f"cannot read the {what} file {path}: {error.strerror or error}"
        ) from None


def _require_pem(data: bytes, name: str, label: str, what: str) -> None:
    """TLSConfigError unless ``data`` holds a PEM block whose label ends with ``label``."""
    if b"-----BEGIN " not in data or f"{label}-----".encode() not in data:
        raise TLSConfigError(
            f"{name} is not {what} (no '-----BEGIN ...{label}-----' block found; DER files "
            "can be converted with openssl, e.g. 'openssl x509 -inform der -in F -out F.pem')"
        )
