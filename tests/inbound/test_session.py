"""The session engine: the ordering table from both ends, error budgets and deadlines, with scripted time."""

from __future__ import annotations

import pytest

from callgate.inbound.protocol import (
    Answer,
    AppDtmf,
    AppHangup,
    AudioFrame,
    CallerDtmf,
    CallerHangup,
    CloseCode,
    IncomingCall,
    encode,
)
from callgate.inbound.session import (
    NEXT_STATE,
    RULES,
    AppSession,
    CallEnded,
    CallStateError,
    GatewaySession,
    Ignored,
    Rule,
    SessionState,
    Violation,
)

INCOMING = encode(IncomingCall("0812", "021", "s-1"))
FRAME = bytes(320)


def test_the_table_covers_every_message_in_every_state() -> None:
    for rules in RULES.values():
        assert set(rules) == set(SessionState)
    # Nothing is ever accepted after the end; the end is reached only by hangup.
    assert all(rules[SessionState.ENDED] is not Rule.ACCEPT for rules in RULES.values())
    assert [kind for kind, state in NEXT_STATE.items() if state is SessionState.ENDED] == ["hangup"]


def ringing_app(now: float = 0.0) -> AppSession:
    session = AppSession(now)
    assert session.receive(INCOMING, now) == IncomingCall("0812", "021", "s-1")
    assert session.state is SessionState.RINGING
    return session


def test_app_side_full_flow() -> None:
    session = ringing_app()
    assert session.incoming == IncomingCall("0812", "021", "s-1")
    assert session.send(Answer(), 0.0) == '{"event":"answer"}'
    assert session.state is SessionState.ANSWERED
    assert session.receive(FRAME, 0.02) == AudioFrame(FRAME)
    assert session.receive('{"event":"dtmf","digit":"1"}', 0.1) == CallerDtmf("1")
    session.send_audio(0.1)
    assert session.send(AppDtmf("1"), 2.0) == '{"event":"dtmf","digit":"1","duration":200}'
    assert session.receive('{"event":"hangup"}', 3.0) == CallerHangup()
    assert session.state is SessionState.ENDED
    assert (session.violations, session.ignored) == (0, 0)


def test_app_answer_and_hangup_are_idempotent() -> None:
    session = ringing_app()
    assert session.send(Answer(), 0.0) is not None
    assert session.send(Answer(), 0.0) is None
    assert session.send(AppHangup(), 1.0) == '{"event":"hangup"}'
    assert session.send(AppHangup(), 1.0) is None


def test_app_may_reject_a_ringing_call() -> None:
    session = ringing_app()
    assert session.send(AppHangup(), 0.0) == '{"event":"hangup"}'
    assert session.state is SessionState.ENDED


def test_app_dtmf_before_answer_is_the_apps_error_but_audio_is_not() -> None:
    session = ringing_app()
    with pytest.raises(CallStateError, match="answer\\(\\) first"):
        session.send(AppDtmf("1"), 0.0)
    session.send_audio(0.0)  # a greeting queued while ringing: the gateway plays it from the answer
    assert session.state is SessionState.RINGING


def test_app_sends_after_the_end_raise_call_ended() -> None:
    session = ringing_app()
    session.send(Answer(), 0.0)
    session.receive('{"event":"hangup"}', 1.0)
    with pytest.raises(CallEnded):
        session.send_audio(1.0)
    with pytest.raises(CallEnded):
        session.send(AppDtmf("2"), 1.0)
    with pytest.raises(CallEnded):
        session.send(Answer(), 1.0)


def test_app_cannot_act_before_the_call_exists() -> None:
    session = AppSession(0.0)
    with pytest.raises(CallStateError, match="awaiting_call"):
        session.send(Answer(), 0.0)
    # The app may always walk away.
    assert session.send(AppHangup(), 0.0) == '{"event":"hangup"}'


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (FRAME, CloseCode.POLICY_VIOLATION),
        ('{"event":"dtmf","digit":"1"}', CloseCode.POLICY_VIOLATION),
        ("not json", CloseCode.INVALID_DATA),
        ('{"event":"dtmf","digit":"X"}', CloseCode.POLICY_VIOLATION),
        (bytes(321), CloseCode.INVALID_DATA),
    ],
)
def test_anything_wrong_before_incoming_call_is_fatal(data: str | bytes, code: CloseCode) -> None:
    session = AppSession(0.0)
    outcome = session.receive(data, 0.0)
    assert isinstance(outcome, Violation)
    assert outcome.fatal
    assert outcome.error.close_code is code
    assert session.state is SessionState.ENDED


def test_unknown_events_are_ignored_even_before_incoming_call() -> None:
    session = AppSession(0.0)
    outcome = session.receive('{"event":"ping","t":1}', 0.0)
    assert outcome == Ignored("unknown event 'ping' from the gateway: ignored", notable=True)
    assert session.state is SessionState.AWAITING_CALL
    assert session.violations == 0


def test_hangup_before_incoming_call_ends_quietly() -> None:
    session = AppSession(0.0)
    assert session.receive('{"event":"hangup"}', 1.0) == CallerHangup()
    assert session.state is SessionState.ENDED


def test_errors_during_a_call_drop_the_message_until_the_budget_is_spent() -> None:
    session = AppSession(0.0, max_violations=3)
    session.receive(INCOMING, 0.0)
    session.send(Answer(), 0.0)
    first = session.receive("{oops", 1.0)
    assert isinstance(first, Violation)
    assert not first.fatal
    assert first.error.close_code is CloseCode.INVALID_DATA
    second = session.receive(INCOMING, 1.0)  # a second incoming_call on one connection
    assert isinstance(second, Violation)
    assert not second.fatal
    assert "sent incoming_call in state answered" in second.error.message
    # The call is still up and working between errors.
    assert session.receive(FRAME, 1.1) == AudioFrame(FRAME)
    third = session.receive('{"event":"dtmf","digit":"Z"}', 1.2)
    assert isinstance(third, Violation)
    assert third.fatal
    assert session.state is SessionState.ENDED
    assert session.violations == 3


def test_oversized_messages_are_always_fatal() -> None:
    session = ringing_app()
    outcome = session.receive(bytes(64 * 1024 + 2), 0.0)
    assert isinstance(outcome, Violation)
    assert outcome.fatal
    assert outcome.error.close_code is CloseCode.TOO_BIG


def test_everything_after_the_end_is_ignored_without_parsing() -> None:
    session = ringing_app()
    session.receive('{"event":"hangup"}', 1.0)
    for data in (FRAME, "garbage", '{"event":"hangup"}', INCOMING, bytes(3)):
        outcome = session.receive(data, 2.0)
        assert isinstance(outcome, Ignored)
        assert not outcome.notable
    assert session.violations == 0
    assert session.ignored == 5


def test_empty_audio_is_ignored() -> None:
    session = ringing_app()
    assert isinstance(session.receive(b"", 0.0), Ignored)


def test_incoming_call_deadline_with_scripted_time() -> None:
    session = AppSession(100.0, incoming_call_timeout_s=30.0)
    assert session.deadline == 130.0
    assert session.check_deadline(129.999) is None
    outcome = session.check_deadline(130.0)
    assert isinstance(outcome, Violation)
    assert outcome.fatal
    assert outcome.error.close_code is CloseCode.POLICY_VIOLATION
    assert outcome.error.message == "the gateway sent no incoming_call within 30 s"
    assert session.state is SessionState.ENDED
    assert session.deadline is None


def test_the_deadline_goes_away_with_the_call() -> None:
    session = ringing_app(5.0)
    assert session.deadline is None
    assert session.check_deadline(1e9) is None
    assert AppSession(0.0, incoming_call_timeout_s=None).deadline is None


def test_max_violations_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AppSession(0.0, max_violations=0)


# --- the gateway's end ---


def ringing_gateway(now: float = 0.0, answer_timeout_s: float | None = None) -> GatewaySession:
    session = GatewaySession(now, answer_timeout_s=answer_timeout_s)
    assert session.send(IncomingCall("0812", "021", "s-1"), now) == INCOMING
    return session


def test_gateway_side_full_flow() -> None:
    session = ringing_gateway()
    assert session.receive('{"event":"answer"}', 0.5) == Answer()
    assert session.state is SessionState.ANSWERED
    session.send_audio(0.52)
    assert session.receive(bytes(1000), 0.6) == AudioFrame(bytes(1000))
    assert session.send(CallerDtmf("7"), 1.0) == '{"event":"dtmf","digit":"7"}'
    assert session.receive('{"event":"dtmf","digit":"1","duration":200}', 2.5) == AppDtmf("1")
    assert session.receive('{"event":"hangup"}', 12.5) == AppHangup()
    assert session.state is SessionState.ENDED
    with pytest.raises(CallEnded):
        session.send_audio(12.6)
    assert session.send(CallerHangup(), 12.6) is None


def test_gateway_keeps_app_audio_before_answer_but_ignores_dtmf() -> None:
    session = ringing_gateway()
    assert session.receive(bytes(640), 0.1) == AudioFrame(bytes(640))
    outcome = session.receive('{"event":"dtmf","digit":"1"}', 0.1)
    assert outcome == Ignored("application sent dtmf before answer: dropped", notable=True)
    assert session.violations == 0
    assert session.state is SessionState.RINGING


def test_app_audio_may_be_cut_anywhere_but_gateway_audio_is_whole_samples() -> None:
    # The README promises apps "chunks of any size": an odd byte count is fine going to the
    # gateway (it carries the split sample over). The gateway's own audio is whole 320-byte frames,
    # so an odd size arriving at an app means a broken gateway.
    gateway = ringing_gateway()
    assert gateway.receive(bytes(777), 0.1) == AudioFrame(bytes(777))
    assert gateway.violations == 0
    app = AppSession(0.0)
    app.receive(INCOMING, 0.0)
    outcome = app.receive(bytes(777), 0.1)
    assert isinstance(outcome, Violation)
    assert outcome.error.close_code is CloseCode.INVALID_DATA


def test_gateway_ignores_a_second_answer() -> None:
    session = ringing_gateway()
    session.receive('{"event":"answer"}', 0.1)
    assert session.receive('{"event":"answer"}', 0.2) == Ignored("application repeated answer")


def test_gateway_cannot_send_caller_events_before_incoming_call() -> None:
    session = GatewaySession(0.0)
    with pytest.raises(CallStateError):
        session.send_audio(0.0)
    with pytest.raises(CallStateError):
        session.send(CallerDtmf("1"), 0.0)


def test_gateway_answer_deadline() -> None:
    session = ringing_gateway(10.0, answer_timeout_s=5.0)
    assert session.deadline == 15.0
    assert session.check_deadline(14.9) is None
    outcome = session.check_deadline(15.0)
    assert isinstance(outcome, Violation)
    assert outcome.error.message == "the application did not answer within 5 s"
    answered = ringing_gateway(10.0, answer_timeout_s=5.0)
    answered.receive('{"event":"answer"}', 11.0)
    assert answered.deadline is None


def test_app_messages_before_incoming_call_are_a_violation_for_the_gateway() -> None:
    session = GatewaySession(0.0)
    outcome = session.receive('{"event":"answer"}', 0.0)
    assert isinstance(outcome, Violation)
    assert outcome.fatal
