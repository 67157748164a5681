"""SIP over TLS on loopback (RFC 3261 §26.2) with a carrier of the test's own, on uvloop.

Certificates come from the `openssl` program, made for the test (tests/peers/certificates.py): a
CA that issued the carrier's certificate (an IP SAN for 127.0.0.1, the trunk host), and another CA
the carrier's certificate does not chain to. The trunk verifies the carrier against the configured
CA file and the trunk host; with the wrong CA it sends nothing and the call fails with cause 38.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup
from callgate.telephony.sip import SipRequest, SipResponse, response_for
from tests.peers.certificates import Certificates, make_certificates
from tests.support import free_port

from .harness import running_trunk
from .test_tcp import WAIT_S, Carrier, options


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@contextlib.asynccontextmanager
async def tls_carrier(certs: Certificates) -> AsyncIterator[tuple[int, asyncio.Queue[Carrier]]]:
    """A TLS listener on 127.0.0.1 with the carrier's certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert, certs.key)
    accepted: asyncio.Queue[Carrier] = asyncio.Queue()
    carriers: list[Carrier] = []

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        carrier = Carrier(reader, writer)
        carriers.append(carrier)
        accepted.put_nowait(carrier)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        for carrier in carriers:
            await carrier.close()
        server.close()
        await server.wait_closed()


async def test_an_outbound_call_over_tls_verifies_the_carrier_and_sends_its_invite(certificates):
    async with (
        tls_carrier(certificates) as (port, accepted),
        running_trunk(port, transport="tls", tls_ca_file=str(certificates.ca)) as t,
    ):
        call = new_session_id()
        t.trunk.dial(call, "1000", None)
        carrier = await asyncio.wait_for(accepted.get(), WAIT_S)
        invite = await carrier.next()
        assert isinstance(invite, SipRequest)
        assert invite.method == "INVITE"
        assert invite.top_via is not None
        assert invite.top_via.transport == "TLS"
        assert "transport=tls" in str(invite.uri)
        carrier.send(response_for(invite, 486, to_tag="busy-tls"))
        assert await t.hangup(call) == TrunkHangup(call, 17, by_remote=True)


async def test_a_carrier_certificate_from_another_ca_is_refused(certificates):
    async with (
        tls_carrier(certificates) as (port, accepted),
        running_trunk(port, transport="tls", tls_ca_file=str(certificates.other_ca)) as t,
    ):
        call = new_session_id()
        t.trunk.dial(call, "1000", None)
        assert await t.hangup(call) == TrunkHangup(call, 38, by_remote=False)  # network failure
        assert accepted.empty() or not await _sent_anything(accepted.get_nowait())


async def _sent_anything(carrier: Carrier) -> bool:
    try:
        return bool(await asyncio.wait_for(carrier.reader.read(1), 0.5))
    except (TimeoutError, ConnectionError, ssl.SSLError):
        return False


async def test_a_request_over_tls_to_our_listener_is_answered(certificates):
    # The gateway serves the same certificate here (a test shortcut: any certificate the
    # client trusts will do).
    async with running_trunk(
        5061,
        transport="tls",
        tls_ca_file=str(certificates.ca),
        tls_cert_file=str(certificates.cert),
        tls_key_file=str(certificates.key),
    ) as t:
        context = ssl.create_default_context(cafile=str(certificates.ca))
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", t.port, ssl=context), WAIT_S
        )
        carrier = Carrier(reader, writer)
        try:
            writer.write(options(t.port, "tls-in").replace(b"/TCP ", b"/TLS "))
            answer = await carrier.next()
            assert isinstance(answer, SipResponse)
            assert answer.status == 200
            assert answer.top_via is not None
            assert answer.top_via.transport == "TLS"
        finally:
            await carrier.close()


def _answer_sdp(rtp_port: int) -> bytes:
    return (
        "v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    ).encode()


async def test_a_sips_trunk_uses_sips_uris_and_keeps_the_dialog_on_its_tls_connection(
    certificates,
):
    async with (
        tls_carrier(certificates) as (port, accepted),
        running_trunk(port, transport="tls", sips=True, tls_ca_file=str(certificates.ca)) as t,
    ):
        call = new_session_id()
        t.trunk.dial(call, "1000", "5551234")
        carrier = await asyncio.wait_for(accepted.get(), WAIT_S)
        invite = await carrier.next()
        assert isinstance(invite, SipRequest)
        assert str(invite.uri).startswith("sips:1000@127.0.0.1:")
        assert "transport=" not in str(invite.uri)  # implied by sips (RFC 5630 §3.1.3)
        assert str(invite.from_.uri).startswith("sips:5551234@")
        assert str(invite.to.uri).startswith("sips:1000@")
        (contact,) = invite.contacts
        assert str(contact.uri).startswith("sips:")
        assert "transport=" not in str(contact.uri)
        carrier.send(
            response_for(
                invite,
                200,
                to_tag="tls-answer",
                headers=(
                    ("Contact", "<sips:carrier@127.0.0.1:5061>"),
                    ("Content-Type", "application/sdp"),
                ),
                body=_answer_sdp(free_port()),
            )
        )
        await t.answered(call)
        ack = await carrier.next()  # on the INVITE's connection, not a new one
        assert isinstance(ack, SipRequest)
        assert ack.method == "ACK"
        assert str(ack.uri) == "sips:carrier@127.0.0.1:5061"
        t.trunk.hangup(call, 16)
        bye = await carrier.next()
        assert isinstance(bye, SipRequest)
        assert bye.method == "BYE"
        carrier.send(response_for(bye, 200))
        await t.drained()
        assert accepted.empty(), "the dialog's requests opened another connection"
