"""Certificates for the TLS tests, made by the `openssl` program in the test's directory.

Two CAs: `ca` issued the peer certificate (`cert`/`key`, an IP SAN for 127.0.0.1, the address every
loopback test calls), `other_ca` issued nothing the tests use, so a verifier given it must refuse
`cert`. `bundle` holds the certificate and its key in one file, as baresip's sip_certificate wants.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import need_program


@dataclass(frozen=True)
class Certificates:
    ca: Path
    other_ca: Path
    cert: Path  # issued by `ca` for 127.0.0.1
    key: Path
    bundle: Path  # cert then key, PEM


def _openssl(program: str, directory: Path, *args: str) -> None:
    subprocess.run([program, *args], cwd=directory, check=True, capture_output=True, timeout=30)


def make_certificates(directory: Path) -> Certificates:
    program = need_program("openssl")
    for name in ("ca", "other"):
        _openssl(
            program, directory, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN=callgate test {name} CA", "-keyout", f"{name}.key", "-out", f"{name}.pem",
        )  # fmt: skip
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        program, directory, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "peer.key", "-out", "peer.csr",
    )  # fmt: skip
    _openssl(
        program, directory, "x509", "-req", "-in", "peer.csr", "-CA", "ca.pem", "-CAkey",
        "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "peer.pem",
    )  # fmt: skip
    bundle = directory / "peer-bundle.pem"
    bundle.write_bytes(
        (directory / "peer.pem").read_bytes() + (directory / "peer.key").read_bytes()
    )
    return Certificates(
        directory / "ca.pem", directory / "other.pem", directory / "peer.pem",
        directory / "peer.key", bundle,
    )  # fmt: skip
