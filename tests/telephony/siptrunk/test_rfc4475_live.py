"""RFC 4475's 49 torture messages thrown at the live trunk's UDP socket; then a normal call.

Every request gets the answer `validate_request`'s policy gives it (tests/telephony/sip/
test_rfc4475.py holds the verdicts), or none where none can be formed; a well-formed INVITE gets
403 because it comes from an untrusted address (127.0.0.2), or 481 when it names a dialog
(a To tag) that does not exist; OPTIONS gets 200; responses and ACKs are never answered.
The sender is a stranger, so every answer goes back to the address and port its packet came
from, whatever its Via says (a Via port, `received`, `maddr` or a pre-filled `rport` must never
aim our answers elsewhere); the test also listens on 127.0.0.2 at the corpus's Via ports and the
defaults (5050, 5060, 5061) and checks that nothing arrives there.

Two messages of the corpus share a transaction identifier (cparam01 and cparam02: same branch,
method and sent-by), so the second is, rightly, a retransmission of the first. The corpus goes
in waves with no shared identifier, and the trunk runs with a short T1 so each wave's
transactions are gone (64*T1) before the next. Afterwards the trunk still places a call to sipp
(on 127.0.0.3, the trunk host) with media.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import defaultdict

import pytest

from callgate.calls.ids import new_session_id
from callgate.telephony.sip import SipParseError, SipRequest, SipResponse, TransactionKey, parse
from callgate.telephony.sip.headers import stand_in
from callgate.telephony.sip.transactions import server_key
from tests.peers.sipp import errors, running_sipp
from tests.support import need
from tests.telephony.sip.corpus import rfc4475, rfc4475_names
from tests.telephony.sip.test_rfc4475 import VERDICTS

from .harness import running_trunk

pytestmark = pytest.mark.peers

SENDER_HOST = "127.0.0.2"  # not trusted: not the trunk host, not configured
TRUNK_HOST = "127.0.0.3"
CATCH_PORTS = (5050, 5060, 5061)  # the Via ports of the corpus (5061: the TLS default)
T1_S = 0.01
COLLECT_S = 1.0  # longer than 64*T1: the wave's transactions have ended by then
STAND_IN_CALL_ID = stand_in("Call-ID", "", None)


def expected_status(name: str, data: bytes) -> int | None:
    """What the trunk must answer `name` with, or None for silence."""
    verdict = VERDICTS[name]
    if verdict.stage == "discard" or not verdict.respond:
        return None
    if verdict.stage in ("validate", "parse"):
        return verdict.status
    message = parse(data)
    if not isinstance(message, SipRequest):
        return None  # a response ("accept" stage): never answered
    if message.method == "INVITE":
        # A To tag makes it a re-INVITE, for a dialog that does not exist (wsinv): 481.
        # Otherwise a new call, from a source that may not start calls: 403.
        return 481 if message.to_tag else 403
    return 200 if message.method == "OPTIONS" else None


def call_id_of(data: bytes) -> str | None:
    for line in data.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"call-id", b"i"):
            return value.strip().decode("utf-8", "replace")
    return None


def waves(corpus: dict[str, bytes]) -> list[list[bytes]]:
    """The messages in groups where no two share a server transaction identifier."""
    groups: list[tuple[set[TransactionKey], list[bytes]]] = []
    for data in corpus.values():
        try:
            message = parse(data)
        except SipParseError:
            key = None  # answered statelessly: no transaction
        else:
            key = server_key(message) if isinstance(message, SipRequest) else None
        group = next((g for g in groups if key is None or key not in g[0]), None)
        if group is None:
            group = (set(), [])
            groups.append(group)
        if key is not None:
            group[0].add(key)
        group[1].append(data)
    return [wave for _, wave in groups]


def bind_catcher(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((SENDER_HOST, port))
    except OSError as exc:
        sock.close()
        need(False, f"cannot listen on {SENDER_HOST}:{port} for the answers: {exc}")
    sock.setblocking(False)
    return sock


async def test_the_corpus_over_udp_then_a_normal_call(tmp_path):
    names = rfc4475_names()
    need(len(names) == 49, "the RFC 4475 corpus is not available")
    corpus = {name: rfc4475(name) for name in names}
    answers: dict[str, list[int]] = defaultdict(list)
    # The catchers close however the test ends, a skip for a missing sipp included (an open socket
    # would fail the next test on its ResourceWarning).
    sockets = contextlib.ExitStack()
    with sockets:
        sender = sockets.enter_context(bind_catcher(0))
        catchers = [sender, *(sockets.enter_context(bind_catcher(p)) for p in CATCH_PORTS)]
        sipp_ctx = running_sipp(tmp_path, builtin="uas", ip=TRUNK_HOST, extra=("-rtp_echo",))
        async with (
            sipp_ctx as (sipp, sipp_port),
            running_trunk(sipp_port, trunk_host=TRUNK_HOST, t1_s=T1_S) as t,
        ):
            misdirected: dict[str, list[int]] = defaultdict(list)
            for wave in waves(corpus):
                for data in wave:
                    sender.sendto(data, ("127.0.0.1", t.port))
                await _collect([sender], answers, catchers[1:], misdirected)
            sockets.close()
            assert not misdirected, f"answers sent elsewhere than their source: {misdirected}"

            for name, data in corpus.items():
                want = expected_status(name, data)
                got = answers.get(call_id_of(data) or "", [])
                if want is None:
                    assert not got, f"{name}: answered {got}, expected silence"
                else:
                    assert got, f"{name}: no answer, expected {want}"
                    assert set(got) == {want}, f"{name}: answered {got}, expected {want}"
            assert t.trunk.engine.stats["untrusted"] >= 1

            # Still serving: a call with media, placed and ended normally.
            call = new_session_id()
            t.trunk.dial(call, "1000", None)
            await t.answered(call)
            t.play(call, 600.0)
            await t.wait_for(lambda: len(t.audio[call]) >= 8000, "echoed audio")
            t.trunk.hangup(call, 16)
            await t.drained()
            assert await sipp.wait(10.0) == 0, errors(tmp_path)


async def _collect(
    sources: list[socket.socket],
    answers: dict[str, list[int]],
    elsewhere: list[socket.socket],
    misdirected: dict[str, list[int]],
) -> None:
    """Read every answer that arrives within COLLECT_S, keyed by Call-ID: at the sender into
    `answers`, anywhere else into `misdirected`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + COLLECT_S
    while loop.time() < deadline:
        for sock in sources + elsewhere:
            bucket = answers if sock in sources else misdirected
            while True:
                try:
                    data = sock.recv(65535)
                except BlockingIOError:
                    break
                with contextlib.suppress(SipParseError):
                    message = parse(data)
                    if isinstance(message, SipResponse) and message.status >= 200:
                        # A request without a Call-ID (insuf) is answered with a stand-in.
                        call_id = message.call_id or ""
                        bucket["" if call_id == STAND_IN_CALL_ID else call_id].append(
                            message.status
                        )
        await asyncio.sleep(0.02)
