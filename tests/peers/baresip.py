"""baresip for the trunk's tests: an auto-answering UA on loopback, driven over ctrl_tcp.

`running_baresip` writes the config and accounts from `tests/peers/baresip/*.template` into the
test's directory, starts baresip there (ended by its PID), and yields a `Baresip` that can dial
and hang up, and read what baresip heard (sndfile's `dump-*-dec.wav`) and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import wave
from collections.abc import AsyncIterator
from pathlib import Path

from callgate.media.signals import sine_pcm16
from tests.support import free_port, need, need_program

from .process import Peer, PeerExited, tcp_listening, udp_bound

TEMPLATES = Path(__file__).parent / "baresip"
SRTP_MODULE = Path("/usr/lib/baresip/modules/srtp.so")
COMMAND_TIMEOUT_S = 5.0


class Baresip:
    def __init__(self, peer: Peer, directory: Path, sip_port: int, ctrl_port: int) -> None:
        self.peer = peer
        self.directory = directory
        self.sip_port = sip_port
        self.ctrl_port = ctrl_port

    @property
    def tls_port(self) -> int:
        """Where it listens for SIP over TLS (given a certificate): the port above `sip_port`."""
        return self.sip_port + 1

    async def command(self, command: str, params: str = "") -> dict[str, object]:
        """Run one ctrl_tcp command (netstring-framed JSON); its response."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
        try:
            body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
            writer.write(str(len(body)).encode() + b":" + body + b",")
            await writer.drain()
            buffer = b""
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                while True:
                    while b":" in buffer:
                        length_text, _, rest = buffer.partition(b":")
                        length = int(length_text)
                        if len(rest) < length + 1:
                            break
                        message = json.loads(rest[:length])
                        buffer = rest[length + 1 :]
                        if message.get("response"):
                            return dict(message)
                    chunk = await reader.read(4096)
                    if not chunk:
                        raise ConnectionError("baresip closed the control connection")
                    buffer += chunk
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def heard(self) -> bytes:
        """PCM16 8 kHz of everything baresip decoded from its calls (sndfile's dumps)."""
        pcm = b""
        for path in sorted(self.directory.glob("dump-*-dec.wav")):
            with contextlib.suppress(wave.Error, EOFError), wave.open(str(path)) as dump:
                pcm += dump.readframes(dump.getnframes())
        return pcm

    def log(self) -> str:
        return self.peer.log()


START_ATTEMPTS = 3


@contextlib.asynccontextmanager
async def running_baresip(
    directory: Path,
    *,
    tone_hz: float = 440.0,
    mediaenc: str | None = None,
    tls: tuple[Path, Path] | None = None,
) -> AsyncIterator[Baresip]:
    """`mediaenc`: the account's media encryption, with the srtp module loaded: `srtp` (RTP/AVP
    with a=crypto, SRTP when the other side takes it) or `srtp-mand` (RTP/SAVP only). `tls` (its
    certificate-and-key bundle, the CA file it verifies peers against): it also listens for SIP
    over TLS on `tls_port`."""
    program = need_program("baresip")
    if mediaenc is not None:
        need(_srtp_module_installed(), f"baresip's srtp module is not installed ({SRTP_MODULE})")
    source = directory / "source.wav"
    with wave.open(str(source), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(sine_pcm16(tone_hz, 20.0, level_dbfs=-12.0))
    # baresip also binds TCP and TLS on the SIP port and the one above it, which free_port() does
    # not check: when another program holds one, it exits at once, and we start it on new ports.
    for attempt in range(1, START_ATTEMPTS + 1):
        sip_port, ctrl_port = free_port(), free_port()
        _write_config(directory, source, sip_port, ctrl_port, mediaenc, tls)
        peer = await Peer("baresip", [program, "-f", str(directory), "-v"], directory).start()
        try:
            await udp_bound(sip_port, peer=peer)
            await tcp_listening(ctrl_port, peer=peer)
        except PeerExited as exited:
            await peer.stop()
            if "Address already in use" in exited.log and attempt < START_ATTEMPTS:
                continue
            raise
        except BaseException:
            await peer.stop()
            raise
        break
    try:
        yield Baresip(peer, directory, sip_port, ctrl_port)
    finally:
        await peer.stop()


def _srtp_module_installed() -> bool:
    return SRTP_MODULE.exists()


def _write_config(
    directory: Path,
    source: Path,
    sip_port: int,
    ctrl_port: int,
    mediaenc: str | None,
    tls: tuple[Path, Path] | None,
) -> None:
    rtp_low = 12000 + (sip_port % 40) * 200  # its own range, below ours and the ephemeral ports
    values = {
        "SIP_PORT": str(sip_port),
        "CTRL_PORT": str(ctrl_port),
        "RTP_LOW": str(rtp_low),
        "RTP_HIGH": str(rtp_low + 100),
        "SOURCE_WAV": str(source),
        "DIRECTORY": str(directory),
        "ACCOUNT_EXTRA": "" if mediaenc is None else f";mediaenc={mediaenc}",
        "EXTRA_MODULES": "" if mediaenc is None else f"module\t\t\t{SRTP_MODULE.name}",
    }
    for name in ("config", "accounts"):
        text = (TEMPLATES / f"{name}.template").read_text()
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        if name == "config" and tls is not None:
            text += f"sip_certificate\t\t{tls[0]}\nsip_cafile\t\t{tls[1]}\n"
        (directory / name).write_text(text)
