"""Blind transfer in call control, sans-I/O: our REFER and the carrier's NOTIFYs, calls either way."""

from __future__ import annotations

import pytest

from callgate.calls.trunk import TrunkTransfer
from callgate.telephony.sip import SipRequest, SipResponse, make_request, parse_address
from callgate.telephony.siptrunk.call import Phase

from .kit import (
    LOCAL,
    RTP_PORT,
    Run,
    engine,
    events,
    inbound_invite,
    peer_sdp,
    reply,
    requests,
    responses,
)

CALL = "call-1"


def outbound() -> tuple[Run, str, SipResponse, bool]:
    run = Run(engine())
    run.step(run.engine.dial(CALL, "+15551230000", None, RTP_PORT, run.now))
    (invite,) = requests(run.outputs, "INVITE")
    ok = reply(invite, 200, sdp=peer_sdp())
    run.feed(ok)
    return run, CALL, ok, True


def inbound() -> tuple[Run, str, SipResponse, bool]:
    from .kit import in_dialog

    run = Run(engine())
    call = events(run.feed(inbound_invite()))[0].session_id
    (ok,) = responses(run.step(run.engine.answer(call, RTP_PORT, run.now)), 200)
    run.feed(in_dialog("ACK", ok, cseq=1, branch="z9hG4bK-ack1", ours_is_from=False))
    assert run.engine.phase(call) is Phase.CONFIRMED
    return run, call, ok, False


BOTH_WAYS = pytest.mark.parametrize("connected", [outbound, inbound], ids=["outbound", "inbound"])


def notify(
    refer: SipRequest,
    cseq: int,
    frag: str | None,
    *,
    state: str = "active;expires=60",
    event: str = "refer",
) -> SipRequest:
    """The transferee's NOTIFY in the dialog of our REFER."""
    assert refer.from_ is not None
    assert refer.to is not None
    assert refer.call_id is not None
    body = f"SIP/2.0 {frag}\r\n".encode() if frag else b""
    return make_request(
        "NOTIFY",
        LOCAL.endpoint.contact.uri,
        via=f"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-notify-{cseq}",
        from_=refer.to,
        to=refer.from_,
        call_id=refer.call_id,
        cseq=cseq,
        contact=parse_address("<sip:carrier@192.0.2.1:5060>"),
        headers=(("Event", event), ("Subscription-State", state)),
        body=body,
        content_type="message/sipfrag;version=2.0" if body else None,
    )


def transfers(outputs: list[object]) -> list[tuple[str, int | None]]:
    return [(e.state, e.sip_status) for e in outputs if isinstance(e, TrunkTransfer)]


def start(run: Run, call: str, target: str = "0215550100") -> SipRequest:
    (refer,) = requests(run.step(run.engine.transfer(call, target, run.now)), "REFER")
    return refer


@BOTH_WAYS
def test_refer_accepted_and_notified_to_success(connected):
    run, call, ok, outbound_call = connected()
    refer = start(run, call)
    assert refer.get("Refer-To") == "<sip:0215550100@192.0.2.1>"
    assert refer.get("Referred-By") is not None
    assert "sip:" in refer.get("Referred-By")
    assert refer.contacts  # REFER refreshes the target: it names our Contact
    assert refer.call_id == ok.call_id
    assert refer.cseq is not None
    assert refer.cseq.method == "REFER"
    ours = ok.from_tag if outbound_call else ok.to_tag
    assert refer.from_tag == ours
    assert str(refer.uri) == "sip:carrier@192.0.2.1:5060"  # the dialog's remote target
    assert transfers(run.feed(reply(refer, 202))) == [("trying", 202)]
    got = []
    for cseq, frag in ((10, "100 Trying"), (11, "180 Ringing")):
        out = run.feed(notify(refer, cseq, frag))
        assert [r.status for r in responses(out)] == [200]
        got += transfers(out)
    out = run.feed(notify(refer, 12, "200 OK", state="terminated;reason=noresource"))
    assert [r.status for r in responses(out)] == [200]
    got += transfers(out)
    assert got == [("trying", 100), ("ringing", 180), ("succeeded", 200)]
    assert run.engine.held()["sip_transfers"] == 0
    # The call is still up: the domain ends it (BYE) when it hears `succeeded`.
    assert run.engine.phase(call) is Phase.CONFIRMED
    (bye,) = requests(run.step(run.engine.hangup(call, 16, run.now)), "BYE")
    assert bye.cseq is not None
    assert bye.cseq.number == refer.cseq.number + 1


@BOTH_WAYS
@pytest.mark.parametrize("status", [403, 405, 603])
def test_a_refused_refer_fails_and_keeps_the_call(connected, status):
    run, call, _, _ = connected()
    refer = start(run, call)
    assert transfers(run.feed(reply(refer, status))) == [("failed", status)]
    assert run.engine.phase(call) is Phase.CONFIRMED
    # A NOTIFY now belongs to no subscription of ours.
    assert [r.status for r in responses(run.feed(notify(refer, 10, "100 Trying")))] == [481]


def test_notify_of_another_package_gets_489_and_one_without_a_dialog_481():
    run, call, _, _ = outbound()
    refer = start(run, call)
    run.feed(reply(refer, 202))
    out = run.feed(notify(refer, 10, "100 Trying", event="presence"))
    assert [r.status for r in responses(out)] == [489]
    assert transfers(out) == []
    stray = notify(refer, 11, "100 Trying")
    stray = stray.without_header("Call-ID").with_header("Call-ID", "nobody@192.0.2.1")
    assert [r.status for r in responses(run.feed(stray))] == [481]


def test_the_deadline_fails_a_transfer_the_far_end_never_finishes():
    run, call, _, _ = outbound()
    run.engine.transfer_timeout_s = 20.0
    refer = start(run, call)
    run.feed(reply(refer, 202))
    assert transfers(run.advance(19.0)) == []
    assert transfers(run.advance(1.5)) == [("failed", 408)]
    assert run.engine.phase(call) is Phase.CONFIRMED
    assert run.engine.held()["sip_transfers"] == 0


def test_no_answer_to_the_refer_fails_with_408():
    run, call, _, _ = outbound()
    start(run, call)
    out = run.advance(40.0)  # Timer F: 64*T1
    assert transfers(out) == [("failed", 408)]


def test_a_second_transfer_while_one_runs_is_ignored_and_a_bad_target_raises():
    run, call, _, _ = outbound()
    refer = start(run, call)
    out = run.step(run.engine.transfer(call, "0215550101", run.now))
    assert requests(out, "REFER") == []
    assert transfers(out) == []
    assert transfers(run.feed(reply(refer, 202))) == [("trying", 202)]  # the first goes on
    with pytest.raises(ValueError, match="neither"):
        run.engine.transfer(call, "bob", run.now)


def test_an_inbound_call_awaiting_its_ack_fails_the_transfer_at_once():
    run = Run(engine())
    call = events(run.feed(inbound_invite()))[0].session_id
    run.step(run.engine.answer(call, RTP_PORT, run.now))
    assert run.engine.phase(call) is Phase.ANSWERED
    out = run.step(run.engine.transfer(call, "0215550100", run.now))
    assert requests(out, "REFER") == []
    assert transfers(out) == [("failed", None)]


def test_a_call_that_ends_drops_its_transfer():
    run, call, _, _ = outbound()
    refer = start(run, call)
    run.feed(reply(refer, 202))
    run.step(run.engine.hangup(call, 16, run.now))
    assert run.engine.held()["sip_transfers"] == 0
    assert transfers(run.feed(notify(refer, 10, "200 OK"))) == []
