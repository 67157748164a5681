"""SIP over TLS with baresip, a real softphone, both ways: each side verifies the other's
certificate against the test's CA (tests/peers/certificates.py), audio flows both ways, and a
gateway given another CA refuses baresip's certificate before anything is sent."""

from __future__ import annotations

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup
from tests.peers.baresip import running_baresip
from tests.peers.certificates import Certificates, make_certificates

from .harness import running_trunk
from .test_baresip import SECOND_OF_AUDIO, loud_frequency, outbound_call_both_ways

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


async def test_outbound_call_to_baresip_over_tls_carries_audio_both_ways(tmp_path, certificates):
    tls = (certificates.bundle, certificates.ca)
    async with running_baresip(tmp_path, tone_hz=440.0, tls=tls) as phone:
        trunk = running_trunk(phone.tls_port, transport="tls", tls_ca_file=str(certificates.ca))
        async with trunk as t:
            await outbound_call_both_ways(t, phone)
        assert loud_frequency(phone.heard()) == pytest.approx(700.0, abs=5.0)


async def test_inbound_call_from_baresip_over_tls_is_answered_and_ended_on_its_connection(
    tmp_path, certificates
):
    tls = (certificates.bundle, certificates.ca)
    async with running_baresip(tmp_path, tone_hz=440.0, tls=tls) as phone:
        trunk = running_trunk(
            phone.tls_port,
            transport="tls",
            tls_ca_file=str(certificates.ca),
            tls_cert_file=str(certificates.cert),
            tls_key_file=str(certificates.key),
        )
        async with trunk as t:  # baresip is the trunk host: trusted
            response = await phone.command("dial", f"sip:4146@127.0.0.1:{t.port};transport=tls")
            assert response.get("ok"), response
            offered = await t.incoming()
            assert (offered.caller_id, offered.did_number) == ("bob", "4146")
            await t.wait_for(
                lambda: len(t.audio[offered.session_id]) >= 2 * SECOND_OF_AUDIO, "2 s of audio"
            )
            # Our BYE must reach baresip over the connection it opened (its Contact names its
            # TLS listener, a second connection would do too; the far end behind NAT has none).
            t.trunk.hangup(offered.session_id, 16)
            await t.drained()
            await t.wait_for(lambda: " terminated (duration" in phone.log(), "baresip to end it")
            assert t.tone_hz(offered.session_id) == pytest.approx(440.0, abs=5.0)
        assert loud_frequency(phone.heard()) == pytest.approx(440.0, abs=5.0)


async def test_a_baresip_certificate_from_another_ca_is_refused(tmp_path, certificates):
    tls = (certificates.bundle, certificates.ca)
    async with running_baresip(tmp_path, tls=tls) as phone:
        trunk = running_trunk(
            phone.tls_port, transport="tls", tls_ca_file=str(certificates.other_ca)
        )
        async with trunk as t:
            call = new_session_id()
            t.trunk.dial(call, "bob", None)
            assert await t.hangup(call) == TrunkHangup(call, 38, by_remote=False)
        assert "INVITE" not in phone.log()
