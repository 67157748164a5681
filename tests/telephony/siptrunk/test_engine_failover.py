"""RFC 3263 §4.3 in the engine, sans-I/O: a request that times out, cannot be sent or gets 503 is
sent again (same request, new branch) to the trunk's next target; anything else is the answer."""

from __future__ import annotations

from callgate.calls.trunk import TrunkAnswered, TrunkHangup
from callgate.telephony.sip import Target
from callgate.telephony.siptrunk.call import Phase

from .kit import RTP_PORT, Run, engine, events, peer_sdp, reply, requests

CALL = "call-1"
FIRST = Target("192.0.2.1", 5060, "UDP")
SECOND = Target("192.0.2.2", 5070, "UDP")
THIRD = Target("192.0.2.3", 5060, "UDP")


def sends(outputs, method):
    """(target, request) of every `method` request sent, retransmissions included."""
    return [(o.target, r) for o in outputs if hasattr(o, "data") for r in requests([o], method)]


def dialled(*targets: Target, **settings: object) -> Run:
    run = Run(engine(**settings))
    run.engine.route(targets)
    run.step(run.engine.dial(CALL, "+15551230000", None, RTP_PORT, run.now))
    return run


def test_a_503_sends_the_same_invite_with_a_new_branch_to_the_next_target():
    run = dialled(FIRST, SECOND)
    ((target, invite),) = sends(run.outputs, "INVITE")
    assert target == FIRST
    moved = run.feed(reply(invite, 503), source=FIRST)
    assert [t for t, _ in sends(moved, "ACK")] == [FIRST]  # the 503 is ACKed where it came from
    ((target, again),) = sends(moved, "INVITE")
    assert target == SECOND
    assert again.top_via.branch != invite.top_via.branch
    same = ("call_id", "from_tag", "cseq", "body", "uri")
    assert [getattr(again, f) for f in same] == [getattr(invite, f) for f in same]
    assert events(moved) == []
    assert run.engine.stats["failed_over"] == 1
    connected = run.feed(reply(again, 200, sdp=peer_sdp()), source=SECOND)
    assert events(connected) == [TrunkAnswered(CALL)]
    assert run.engine.phase(CALL) is Phase.CONFIRMED


def test_a_retransmitted_503_from_the_first_target_does_not_fail_over_twice():
    run = dialled(FIRST, SECOND, THIRD)
    ((_, invite),) = sends(run.outputs, "INVITE")
    run.feed(reply(invite, 503), source=FIRST)
    again = run.feed(reply(invite, 503), source=FIRST)
    assert sends(again, "INVITE") == []
    assert run.engine.stats["failed_over"] == 1


def test_silence_fails_over_after_timer_b_and_the_last_target_ends_the_call_with_102():
    run = dialled(FIRST, SECOND, THIRD, t1_s=0.5)
    first = run.advance(31.9)  # Timer B is 64*T1 = 32 s
    assert {t for t, _ in sends(first, "INVITE")} == {FIRST}  # retransmissions, no failover yet
    moved = run.advance(0.2)
    assert {t for t, _ in sends(moved, "INVITE")} == {SECOND}
    assert events(moved) == []
    assert {t for t, _ in sends(run.advance(31.8), "INVITE")} == {SECOND}
    assert {t for t, _ in sends(run.advance(0.2), "INVITE")} == {THIRD}
    assert events(run.advance(31.8)) == []
    assert events(run.advance(0.2)) == [TrunkHangup(CALL, 102, by_remote=False)]
    assert CALL not in run.engine


def test_a_transport_error_fails_over_at_once():
    run = dialled(FIRST, SECOND)
    (send,) = [o for o in run.outputs if hasattr(o, "data")]
    moved = run.step(run.engine.transport_failed(send.key, run.now))
    assert [t for t, _ in sends(moved, "INVITE")] == [SECOND]
    (last,) = [o for o in moved if hasattr(o, "data")]
    ended = run.step(run.engine.transport_failed(last.key, run.now))
    assert events(ended) == [TrunkHangup(CALL, 38, by_remote=False)]


def test_other_refusals_are_the_answer_and_are_not_tried_elsewhere():
    run = dialled(FIRST, SECOND)
    ((_, invite),) = sends(run.outputs, "INVITE")
    ended = run.feed(reply(invite, 486), source=FIRST)
    assert sends(ended, "INVITE") == []
    assert events(ended) == [TrunkHangup(CALL, 17, by_remote=True)]


def test_the_last_targets_503_ends_the_call_with_its_cause():
    run = dialled(FIRST, SECOND)
    ((_, invite),) = sends(run.outputs, "INVITE")
    ((_, again),) = sends(run.feed(reply(invite, 503), source=FIRST), "INVITE")
    ended = run.feed(reply(again, 503), source=SECOND)
    assert sends(ended, "INVITE") == []
    assert events(ended) == [TrunkHangup(CALL, 41, by_remote=True)]  # RFC 3398: 503 is 41


def test_a_call_being_cancelled_is_not_tried_elsewhere():
    run = dialled(FIRST, SECOND)
    ((_, invite),) = sends(run.outputs, "INVITE")
    run.feed(reply(invite, 180), source=FIRST)
    run.step(run.engine.hangup(CALL, 16, run.now))
    assert sends(run.feed(reply(invite, 503), source=FIRST), "INVITE") == []


def test_a_challenge_after_failover_is_answered_at_the_target_that_sent_it():
    run = dialled(FIRST, SECOND, username="alice", password="s3cret")
    ((_, invite),) = sends(run.outputs, "INVITE")
    ((_, again),) = sends(run.feed(reply(invite, 503), source=FIRST), "INVITE")
    challenge = (("Proxy-Authenticate", 'Digest realm="carrier", nonce="n1"'),)
    retried = run.feed(reply(again, 407, headers=challenge), source=SECOND)
    ((target, retry),) = sends(retried, "INVITE")
    assert target == SECOND
    assert retry.get("Proxy-Authorization")


def test_the_via_names_the_transport_of_the_target():
    run = dialled(Target("192.0.2.1", 5060, "TCP"))
    ((_, invite),) = sends(run.outputs, "INVITE")
    assert invite.top_via.transport == "TCP"


def test_register_fails_over_on_timeout_and_on_503():
    run = Run(engine(username="gw", password="pw", register=True, t1_s=0.5))
    run.engine.route((FIRST, SECOND, THIRD))
    run.step(run.engine.start(run.now))
    ((target, register),) = sends(run.outputs, "REGISTER")
    assert target == FIRST
    moved = run.advance(32.1)  # Timer F: 64*T1
    second = [r for t, r in sends(moved, "REGISTER") if t == SECOND]
    assert second
    assert second[0].top_via.branch != register.top_via.branch
    third = run.feed(reply(second[0], 503), source=SECOND)
    ((target, _),) = sends(third, "REGISTER")
    assert target == THIRD
    assert run.engine.registration is not None
    assert run.engine.registration.failures == 0  # nothing failed for good yet
