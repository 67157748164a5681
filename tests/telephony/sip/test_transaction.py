"""The four §17 state machines: every row of every table, and the retransmission schedules.

The expectations below restate RFC 3261 Figures 5-8 (and RFC 6026's Accepted states) on their
own, so a wrong row in tables.py fails here rather than being tested against itself.
"""

from __future__ import annotations

import pytest

from callgate.telephony.sip import (
    AckReceived,
    Action,
    LayerConfig,
    RequestReceived,
    ResponseReceived,
    Send,
    SipRequest,
    SipResponse,
    SipTimers,
    Target,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
    response_for,
)
from callgate.telephony.sip.transactions.machine import Transaction
from callgate.telephony.sip.transactions.matching import client_key, server_key
from callgate.telephony.sip.transactions.tables import TABLES, Input, Kind, State, TimerName

from .factory import PEER, answer, invite, our_request, req, request_from_peer

UDP = Target(PEER, 5060)
TCP = Target(PEER, 5060, "TCP")
I, S, T = Input, State, TimerName  # noqa: E741 - as in tables.py

# --- every row ------------------------------------------------------------------------------

# (kind, state, input) -> (next state, what is sent / reported, timers running afterwards)
EXPECTED: dict[tuple[Kind, State, Input], tuple[State, list[str], set[TimerName]]] = {
    # INVITE client, RFC 3261 Figure 5 + RFC 6026
    (Kind.INVITE_CLIENT, S.INIT, I.TU_REQUEST): (S.CALLING, ["send INVITE"], {T.A, T.B}),
    (Kind.INVITE_CLIENT, S.CALLING, I.TIMER_A): (S.CALLING, ["send INVITE"], {T.A, T.B}),
    (Kind.INVITE_CLIENT, S.CALLING, I.TIMER_B): (S.TERMINATED, ["timeout B"], set()),
    (Kind.INVITE_CLIENT, S.CALLING, I.RESPONSE_1XX): (S.PROCEEDING, ["pass 180"], set()),
    (Kind.INVITE_CLIENT, S.CALLING, I.RESPONSE_2XX): (S.ACCEPTED, ["pass 200"], {T.M}),
    (Kind.INVITE_CLIENT, S.CALLING, I.RESPONSE_3XX_6XX): (
        S.COMPLETED,
        ["send ACK", "pass 486"],
        {T.D},
    ),
    (Kind.INVITE_CLIENT, S.CALLING, I.TRANSPORT_ERROR): (S.TERMINATED, ["transport"], set()),
    (Kind.INVITE_CLIENT, S.PROCEEDING, I.RESPONSE_1XX): (S.PROCEEDING, ["pass 180"], set()),
    (Kind.INVITE_CLIENT, S.PROCEEDING, I.RESPONSE_2XX): (S.ACCEPTED, ["pass 200"], {T.M}),
    (Kind.INVITE_CLIENT, S.PROCEEDING, I.RESPONSE_3XX_6XX): (
        S.COMPLETED,
        ["send ACK", "pass 486"],
        {T.D},
    ),
    (Kind.INVITE_CLIENT, S.PROCEEDING, I.CANCEL_SENT): (S.PROCEEDING, [], {T.CANCEL}),
    (Kind.INVITE_CLIENT, S.PROCEEDING, I.TIMER_CANCEL): (S.TERMINATED, ["timeout CANCEL"], set()),
    (Kind.INVITE_CLIENT, S.ACCEPTED, I.RESPONSE_2XX): (S.ACCEPTED, ["pass 200"], {T.M}),
    (Kind.INVITE_CLIENT, S.ACCEPTED, I.RESPONSE_2XX_SEEN): (S.ACCEPTED, [], {T.M}),
    (Kind.INVITE_CLIENT, S.ACCEPTED, I.RESPONSE_2XX_ACKED): (S.ACCEPTED, ["send ACK"], {T.M}),
    (Kind.INVITE_CLIENT, S.ACCEPTED, I.TIMER_M): (S.TERMINATED, [], set()),
    (Kind.INVITE_CLIENT, S.COMPLETED, I.RESPONSE_3XX_6XX): (S.COMPLETED, ["send ACK"], {T.D}),
    (Kind.INVITE_CLIENT, S.COMPLETED, I.TIMER_D): (S.TERMINATED, [], set()),
    (Kind.INVITE_CLIENT, S.COMPLETED, I.TRANSPORT_ERROR): (S.TERMINATED, ["transport"], set()),
    # non-INVITE client, Figure 6
    (Kind.NON_INVITE_CLIENT, S.INIT, I.TU_REQUEST): (S.TRYING, ["send OPTIONS"], {T.E, T.F}),
    (Kind.NON_INVITE_CLIENT, S.TRYING, I.TIMER_E): (S.TRYING, ["send OPTIONS"], {T.E, T.F}),
    (Kind.NON_INVITE_CLIENT, S.TRYING, I.TIMER_F): (S.TERMINATED, ["timeout F"], set()),
    (Kind.NON_INVITE_CLIENT, S.TRYING, I.RESPONSE_1XX): (S.PROCEEDING, ["pass 180"], {T.E, T.F}),
    (Kind.NON_INVITE_CLIENT, S.TRYING, I.RESPONSE_2XX): (S.COMPLETED, ["pass 200"], {T.K}),
    (Kind.NON_INVITE_CLIENT, S.TRYING, I.RESPONSE_3XX_6XX): (S.COMPLETED, ["pass 486"], {T.K}),
    (Kind.NON_INVITE_CLIENT, S.TRYING, I.TRANSPORT_ERROR): (S.TERMINATED, ["transport"], set()),
    (Kind.NON_INVITE_CLIENT, S.PROCEEDING, I.TIMER_E): (
        S.PROCEEDING,
        ["send OPTIONS"],
        {T.E, T.F},
    ),
    (Kind.NON_INVITE_CLIENT, S.PROCEEDING, I.TIMER_F): (S.TERMINATED, ["timeout F"], set()),
    (Kind.NON_INVITE_CLIENT, S.PROCEEDING, I.RESPONSE_1XX): (
        S.PROCEEDING,
        ["pass 180"],
        {T.E, T.F},
    ),
    (Kind.NON_INVITE_CLIENT, S.PROCEEDING, I.RESPONSE_2XX): (S.COMPLETED, ["pass 200"], {T.K}),
    (Kind.NON_INVITE_CLIENT, S.PROCEEDING, I.RESPONSE_3XX_6XX): (
        S.COMPLETED,
        ["pass 486"],
        {T.K},
    ),
    (Kind.NON_INVITE_CLIENT, S.PROCEEDING, I.TRANSPORT_ERROR): (
        S.TERMINATED,
        ["transport"],
        set(),
    ),
    (Kind.NON_INVITE_CLIENT, S.COMPLETED, I.TIMER_K): (S.TERMINATED, [], set()),
    # INVITE server, Figure 7 + RFC 6026 (PROCEEDING is reached after a TU 180 here)
    (Kind.INVITE_SERVER, S.INIT, I.REQUEST): (S.PROCEEDING, ["pass INVITE"], {T.TRYING}),
    (Kind.INVITE_SERVER, S.PROCEEDING, I.REQUEST_AGAIN): (S.PROCEEDING, ["send 180"], set()),
    (Kind.INVITE_SERVER, S.PROCEEDING, I.TIMER_TRYING): (S.PROCEEDING, ["send 100"], set()),
    (Kind.INVITE_SERVER, S.PROCEEDING, I.TU_1XX): (S.PROCEEDING, ["send 180"], set()),
    (Kind.INVITE_SERVER, S.PROCEEDING, I.TU_2XX): (
        S.ACCEPTED,
        ["send 200"],
        {T.RETRANSMIT_2XX, T.L},
    ),
    (Kind.INVITE_SERVER, S.PROCEEDING, I.TU_3XX_6XX): (S.COMPLETED, ["send 486"], {T.G, T.H}),
    (Kind.INVITE_SERVER, S.PROCEEDING, I.TRANSPORT_ERROR): (S.TERMINATED, ["transport"], set()),
    (Kind.INVITE_SERVER, S.COMPLETED, I.REQUEST_AGAIN): (S.COMPLETED, ["send 486"], {T.G, T.H}),
    (Kind.INVITE_SERVER, S.COMPLETED, I.TIMER_G): (S.COMPLETED, ["send 486"], {T.G, T.H}),
    (Kind.INVITE_SERVER, S.COMPLETED, I.ACK): (S.CONFIRMED, [], {T.I}),
    (Kind.INVITE_SERVER, S.COMPLETED, I.TIMER_H): (S.TERMINATED, ["timeout H"], set()),
    (Kind.INVITE_SERVER, S.COMPLETED, I.TRANSPORT_ERROR): (S.TERMINATED, ["transport"], set()),
    (Kind.INVITE_SERVER, S.CONFIRMED, I.ACK): (S.CONFIRMED, [], {T.I}),
    (Kind.INVITE_SERVER, S.CONFIRMED, I.TIMER_I): (S.TERMINATED, [], set()),
    (Kind.INVITE_SERVER, S.ACCEPTED, I.REQUEST_AGAIN): (
        S.ACCEPTED,
        [],
        {T.RETRANSMIT_2XX, T.L},
    ),
    (Kind.INVITE_SERVER, S.ACCEPTED, I.TU_2XX): (
        S.ACCEPTED,
        ["send 200"],
        {T.RETRANSMIT_2XX, T.L},
    ),
    (Kind.INVITE_SERVER, S.ACCEPTED, I.TIMER_2XX): (
        S.ACCEPTED,
        ["send 200"],
        {T.RETRANSMIT_2XX, T.L},
    ),
    (Kind.INVITE_SERVER, S.ACCEPTED, I.ACK): (S.ACCEPTED_ACKED, ["pass ACK"], {T.L}),
    (Kind.INVITE_SERVER, S.ACCEPTED, I.TIMER_L): (S.TERMINATED, ["timeout L"], set()),
    (Kind.INVITE_SERVER, S.ACCEPTED, I.TRANSPORT_ERROR): (S.TERMINATED, ["transport"], set()),
    (Kind.INVITE_SERVER, S.ACCEPTED_ACKED, I.REQUEST_AGAIN): (S.ACCEPTED_ACKED, [], {T.L}),
    (Kind.INVITE_SERVER, S.ACCEPTED_ACKED, I.ACK): (S.ACCEPTED_ACKED, [], {T.L}),
    (Kind.INVITE_SERVER, S.ACCEPTED_ACKED, I.TIMER_L): (S.TERMINATED, [], set()),
    # non-INVITE server, Figure 8
    (Kind.NON_INVITE_SERVER, S.INIT, I.REQUEST): (S.TRYING, ["pass OPTIONS"], {T.GUARD}),
    (Kind.NON_INVITE_SERVER, S.TRYING, I.REQUEST_AGAIN): (S.TRYING, [], {T.GUARD}),
    (Kind.NON_INVITE_SERVER, S.TRYING, I.TU_1XX): (S.PROCEEDING, ["send 180"], {T.GUARD}),
    (Kind.NON_INVITE_SERVER, S.TRYING, I.TU_2XX): (S.COMPLETED, ["send 200"], {T.J}),
    (Kind.NON_INVITE_SERVER, S.TRYING, I.TU_3XX_6XX): (S.COMPLETED, ["send 486"], {T.J}),
    (Kind.NON_INVITE_SERVER, S.TRYING, I.TIMER_GUARD): (S.TERMINATED, ["timeout GUARD"], set()),
    (Kind.NON_INVITE_SERVER, S.PROCEEDING, I.REQUEST_AGAIN): (
        S.PROCEEDING,
        ["send 180"],
        {T.GUARD},
    ),
    (Kind.NON_INVITE_SERVER, S.PROCEEDING, I.TU_1XX): (S.PROCEEDING, ["send 180"], {T.GUARD}),
    (Kind.NON_INVITE_SERVER, S.PROCEEDING, I.TU_2XX): (S.COMPLETED, ["send 200"], {T.J}),
    (Kind.NON_INVITE_SERVER, S.PROCEEDING, I.TU_3XX_6XX): (S.COMPLETED, ["send 486"], {T.J}),
    (Kind.NON_INVITE_SERVER, S.PROCEEDING, I.TRANSPORT_ERROR): (
        S.TERMINATED,
        ["transport"],
        set(),
    ),
    (Kind.NON_INVITE_SERVER, S.PROCEEDING, I.TIMER_GUARD): (
        S.TERMINATED,
        ["timeout GUARD"],
        set(),
    ),
    (Kind.NON_INVITE_SERVER, S.COMPLETED, I.REQUEST_AGAIN): (S.COMPLETED, ["send 200"], {T.J}),
    (Kind.NON_INVITE_SERVER, S.COMPLETED, I.TIMER_J): (S.TERMINATED, [], set()),
    (Kind.NON_INVITE_SERVER, S.COMPLETED, I.TRANSPORT_ERROR): (
        S.TERMINATED,
        ["transport"],
        set(),
    ),
}

# How each state is reached from INIT.
PATHS: dict[Kind, dict[State, list[Input]]] = {
    Kind.INVITE_CLIENT: {
        S.INIT: [],
        S.CALLING: [I.TU_REQUEST],
        S.PROCEEDING: [I.TU_REQUEST, I.RESPONSE_1XX],
        S.ACCEPTED: [I.TU_REQUEST, I.RESPONSE_2XX],
        S.COMPLETED: [I.TU_REQUEST, I.RESPONSE_3XX_6XX],
    },
    Kind.NON_INVITE_CLIENT: {
        S.INIT: [],
        S.TRYING: [I.TU_REQUEST],
        S.PROCEEDING: [I.TU_REQUEST, I.RESPONSE_1XX],
        S.COMPLETED: [I.TU_REQUEST, I.RESPONSE_2XX],
    },
    Kind.INVITE_SERVER: {
        S.INIT: [],
        S.PROCEEDING: [I.REQUEST, I.TU_1XX],
        S.COMPLETED: [I.REQUEST, I.TU_3XX_6XX],
        S.CONFIRMED: [I.REQUEST, I.TU_3XX_6XX, I.ACK],
        S.ACCEPTED: [I.REQUEST, I.TU_2XX],
        S.ACCEPTED_ACKED: [I.REQUEST, I.TU_2XX, I.ACK],
    },
    Kind.NON_INVITE_SERVER: {
        S.INIT: [],
        S.TRYING: [I.REQUEST],
        S.PROCEEDING: [I.REQUEST, I.TU_1XX],
        S.COMPLETED: [I.REQUEST, I.TU_2XX],
    },
}


def _request(kind: Kind) -> SipRequest:
    if kind is Kind.INVITE_CLIENT:
        return our_request("INVITE", "z9hG4bKc1")
    if kind is Kind.NON_INVITE_CLIENT:
        return our_request("OPTIONS", "z9hG4bKc2")
    if kind is Kind.INVITE_SERVER:
        return req(invite())
    return req(request_from_peer("OPTIONS", "z9hG4bKs2"))


def _message(kind: Kind, event: Input, request: SipRequest) -> SipRequest | SipResponse | None:
    if event in (I.REQUEST, I.REQUEST_AGAIN):
        return request
    if event is I.ACK:
        return req(request_from_peer("ACK", "z9hG4bKack", cseq=14723))
    if event is I.RESPONSE_1XX:
        return answer(request, 180)
    if event in (I.RESPONSE_2XX, I.RESPONSE_2XX_SEEN, I.RESPONSE_2XX_ACKED):
        return answer(request, 200)
    if event is I.RESPONSE_3XX_6XX:
        return answer(request, 486)
    status = {I.TU_1XX: 180, I.TU_2XX: 200, I.TU_3XX_6XX: 486}.get(event)
    return None if status is None else response_for(request, status, to_tag="cg-77e0b3")


def summary(actions: list[Action]) -> list[str]:
    """What a reader of a trace would note about each action."""
    out = []
    for action in actions:
        if isinstance(action, Send):
            message = action.message
            out.append(
                f"send {message.method if isinstance(message, SipRequest) else message.status}"
            )
        elif isinstance(action, ResponseReceived):
            out.append(f"pass {action.response.status}")
        elif isinstance(action, RequestReceived):
            out.append(f"pass {action.request.method}")
        elif isinstance(action, AckReceived):
            out.append("pass ACK")
        elif isinstance(action, TransactionTimeout):
            out.append(f"timeout {action.timer}")
        elif isinstance(action, TransportFailed):
            out.append("transport")
        else:
            out.append(type(action).__name__)
    return out


def _transaction(kind: Kind, state: State) -> tuple[Transaction, SipRequest]:
    request = _request(kind)
    key = server_key(request) if kind.value.endswith("server") else client_key(request)
    assert key is not None
    tx = Transaction(kind, key, request, UDP, SipTimers(), source=UDP)
    now = 0.0
    for event in PATHS[kind][state]:
        tx.handle(event, now, _message(kind, event, request))
    assert tx.state is state
    return tx, request


def test_expectations_cover_every_row_of_every_table() -> None:
    rows = {
        (kind, state, event)
        for kind, table in TABLES.items()
        for state, row in table.items()
        for event in row
    }
    assert rows == set(EXPECTED)


@pytest.mark.parametrize(("kind", "state", "event"), sorted(EXPECTED, key=str), ids=str)
def test_row(kind: Kind, state: State, event: Input) -> None:
    tx, request = _transaction(kind, state)
    message = _message(kind, event, request)
    if event is I.RESPONSE_2XX_ACKED:
        ack = our_request("ACK", "z9hG4bKa2")
        tx.acks_2xx["XKj3r0g8"] = Send(ack, bytes(ack), UDP, tx.key)
    expected_state, expected_actions, expected_timers = EXPECTED[kind, state, event]
    actions = tx.handle(event, 1.0, message)
    assert tx.state is expected_state
    assert summary(actions) == expected_actions
    assert set(tx.armed) == expected_timers


def test_an_input_without_a_row_is_absorbed() -> None:
    tx, request = _transaction(Kind.INVITE_CLIENT, S.COMPLETED)
    before = tx.armed
    assert tx.handle(I.RESPONSE_2XX, 2.0, answer(request, 200)) == []
    assert tx.state is S.COMPLETED
    assert tx.armed == before


def test_the_ack_for_a_non_2xx_is_built_once_and_resent_byte_for_byte() -> None:
    tx, request = _transaction(Kind.INVITE_CLIENT, S.CALLING)
    first = tx.handle(I.RESPONSE_3XX_6XX, 1.0, answer(request, 486))[0]
    again = tx.handle(I.RESPONSE_3XX_6XX, 2.0, answer(request, 486))[0]
    assert isinstance(first, Send)
    assert again == first
    ack = first.message
    assert isinstance(ack, SipRequest)
    # §17.1.1.3: the INVITE's Request-URI, Call-ID, From, CSeq number and top Via; the
    # response's To (with its tag); no body.
    assert ack.method == "ACK"
    assert ack.uri == request.uri
    assert ack.get_all("Via") == request.get_all("Via")[:1]
    assert ack.cseq is not None
    assert (ack.cseq.number, ack.cseq.method) == (1, "ACK")
    assert ack.to_tag == "XKj3r0g8"
    assert ack.from_tag == request.from_tag
    assert ack.call_id == request.call_id
    assert ack.body == b""


# --- retransmission schedules, through the layer ---------------------------------------------


def run(layer: TransactionLayer, until: float) -> list[tuple[float, Action]]:
    """Step time from deadline to deadline as the transport's one timer would."""
    trace = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        trace += [(deadline, action) for action in layer.expire(deadline)]
    return trace


def sends(trace: list[tuple[float, Action]]) -> list[float]:
    return [when for when, action in trace if isinstance(action, Send)]


def events(trace: list[tuple[float, Action]]) -> list[tuple[float, str]]:
    return [(when, s) for when, action in trace for s in summary([action]) if "send" not in s]


def test_invite_over_udp_is_retransmitted_at_doubling_intervals_until_timer_b() -> None:
    layer = TransactionLayer()
    _, actions = layer.send_request(our_request("INVITE", layer.new_branch()), UDP, 0.0)
    assert summary(actions) == ["send INVITE"]
    trace = run(layer, 100)
    assert sends(trace) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert events(trace) == [(32.0, "timeout B"), (32.0, "TransactionTerminated")]
    assert len(layer) == 0
    assert layer.next_deadline() is None


def test_invite_over_tcp_is_sent_once_and_still_times_out_at_64_t1() -> None:
    layer = TransactionLayer()
    layer.send_request(our_request("INVITE", layer.new_branch()), TCP, 0.0)
    trace = run(layer, 100)
    assert sends(trace) == []
    assert events(trace) == [(32.0, "timeout B"), (32.0, "TransactionTerminated")]


def test_timers_come_from_configuration() -> None:
    timers = SipTimers(t1_s=0.1, t2_s=0.4, t4_s=1.0)
    layer = TransactionLayer(LayerConfig(timers=timers))
    layer.send_request(our_request("OPTIONS", layer.new_branch()), UDP, 10.0)
    trace = run(layer, 100)
    # E: 0.1, 0.2, 0.4, then T2 = 0.4 until F = 64 * 0.1 = 6.4 s after the start.
    expected = [10.1, 10.3, 10.7] + [10.7 + 0.4 * n for n in range(1, 15)]
    assert sends(trace) == pytest.approx(expected)
    when, what = events(trace)[0]
    assert what == "timeout F"
    assert when == pytest.approx(16.4)


def test_non_invite_backs_off_to_t2_and_holds_t2_once_proceeding() -> None:
    layer = TransactionLayer()
    request = our_request("OPTIONS", layer.new_branch())
    layer.send_request(request, UDP, 0.0)
    trace = run(layer, 4.0)
    assert sends(trace) == [0.5, 1.5, 3.5]
    # A provisional at 5.0: Timer E, due at 7.5, then restarts at T2 each time (§17.1.2.2).
    assert summary(layer.receive(answer(request, 100), UDP, 5.0)) == ["pass 100"]
    trace = run(layer, 100)
    assert sends(trace) == [7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events(trace)[0] == (32.0, "timeout F")


def test_non_invite_client_waits_t4_for_stray_responses_over_udp_and_not_over_tcp() -> None:
    for target, ends_at in ((UDP, 6.0), (TCP, 1.0)):
        layer = TransactionLayer()
        request = our_request("OPTIONS", layer.new_branch())
        layer.send_request(request, target, 0.0)
        actions = layer.receive(answer(request, 200), target, 1.0)
        if target.reliable:  # Timer K is zero: Completed lasts no time at all
            assert summary(actions) == ["pass 200", "TransactionTerminated"]
            continue
        assert summary(actions) == ["pass 200"]
        assert layer.receive(answer(request, 200), target, 3.0) == []  # absorbed
        assert events(run(layer, 100)) == [(ends_at, "TransactionTerminated")]


def test_invite_client_completed_resends_the_ack_for_each_retransmitted_final() -> None:
    layer = TransactionLayer()
    request = our_request("INVITE", layer.new_branch())
    layer.send_request(request, UDP, 0.0)
    assert summary(layer.receive(answer(request, 486), UDP, 0.2)) == ["send ACK", "pass 486"]
    assert summary(layer.receive(answer(request, 486), UDP, 0.9)) == ["send ACK"]
    assert events(run(layer, 100)) == [(32.2, "TransactionTerminated")]  # Timer D


def test_invite_client_over_tcp_terminates_on_the_final_response() -> None:
    layer = TransactionLayer()
    request = our_request("INVITE", layer.new_branch())
    layer.send_request(request, TCP, 0.0)
    actions = layer.receive(answer(request, 486), TCP, 0.2)
    assert summary(actions) == ["send ACK", "pass 486", "TransactionTerminated"]


def _serve_invite(layer: TransactionLayer, at: float = 0.0) -> RequestReceived:
    actions = layer.receive_data(invite(), UDP, at)
    received = [a for a in actions if isinstance(a, RequestReceived)]
    assert len(received) == 1
    return received[0]


def test_invite_server_retransmits_a_failure_at_g_intervals_until_timer_h() -> None:
    layer = TransactionLayer()
    new = _serve_invite(layer)
    layer.respond(new.key, response_for(new.request, 180, to_tag="cg"), 0.1)
    actions = layer.respond(new.key, response_for(new.request, 486, to_tag="cg"), 1.0)
    assert summary(actions) == ["send 486"]
    trace = run(layer, 100)
    assert sends(trace) == [1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5]
    assert events(trace) == [(33.0, "timeout H"), (33.0, "TransactionTerminated")]


def test_invite_server_stops_retransmitting_on_the_ack_and_absorbs_acks_for_t4() -> None:
    layer = TransactionLayer()
    new = _serve_invite(layer)
    layer.respond(new.key, response_for(new.request, 486, to_tag="cg"), 0.0)
    assert sends(run(layer, 2.0)) == [0.5, 1.5]
    ack = request_from_peer("ACK", "z9hG4bKPjin1", cseq=14723, to_tag="cg")
    assert layer.receive_data(ack, UDP, 2.0) == []  # absorbed, not passed up (§17.2.1)
    assert layer.state(new.key) is S.CONFIRMED
    assert layer.receive_data(ack, UDP, 3.0) == []
    assert events(run(layer, 100)) == [(7.0, "TransactionTerminated")]  # Timer I = T4


def test_invite_server_retransmits_its_2xx_until_the_ack() -> None:
    layer = TransactionLayer()
    new = _serve_invite(layer)
    ok = response_for(new.request, 200, to_tag="cg-77e0b3")
    assert summary(layer.respond(new.key, ok, 0.0)) == ["send 200"]
    trace = run(layer, 8.0)
    assert sends(trace) == [0.5, 1.5, 3.5, 7.5]
    ack = request_from_peer("ACK", "z9hG4bKPjack2", cseq=14723)  # its own branch (§17.1.1.3)
    actions = layer.receive_data(ack, UDP, 9.0)
    assert len(actions) == 1
    assert isinstance(actions[0], AckReceived)
    assert actions[0].invite == new.key
    assert layer.receive_data(ack, UDP, 9.5) == []  # a re-ACK is not passed up twice
    trace = run(layer, 100)
    assert sends(trace) == []
    assert events(trace) == [(32.0, "TransactionTerminated")]  # Timer L, quietly


def test_a_2xx_never_acked_reports_timer_l_so_the_tu_sends_bye() -> None:
    layer = TransactionLayer()
    new = _serve_invite(layer)
    layer.respond(new.key, response_for(new.request, 200, to_tag="cg-77e0b3"), 0.0)
    trace = run(layer, 100)
    # T1 doubling to T2 (§13.3.1.4), on every transport.
    assert sends(trace) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events(trace) == [(32.0, "timeout L"), (32.0, "TransactionTerminated")]


def test_the_2xx_is_retransmitted_over_tcp_too() -> None:
    layer = TransactionLayer()
    actions = layer.receive_data(invite(), TCP, 0.0)
    new = next(a for a in actions if isinstance(a, RequestReceived))
    layer.respond(new.key, response_for(new.request, 200, to_tag="cg-77e0b3"), 0.0)
    assert sends(run(layer, 2.0)) == [0.5, 1.5]


def test_100_trying_goes_out_after_200_ms_unless_the_tu_was_quicker() -> None:
    layer = TransactionLayer()
    new = _serve_invite(layer)
    trace = run(layer, 1.0)
    assert [(when, summary([a])) for when, a in trace] == [(0.2, ["send 100"])]
    assert layer.receive_data(invite(), UDP, 0.5) == [trace[0][1]]  # retransmission: the 100

    quick = TransactionLayer()
    new = _serve_invite(quick)
    quick.respond(new.key, response_for(new.request, 180, to_tag="cg"), 0.1)
    assert run(quick, 1.0) == []


@pytest.mark.parametrize(
    ("trying_s", "expected"), [(0.0, ["pass INVITE", "send 100"]), (None, ["pass INVITE"])]
)
def test_100_trying_at_once_or_never(trying_s: float | None, expected: list[str]) -> None:
    layer = TransactionLayer(LayerConfig(timers=SipTimers(trying_s=trying_s)))
    assert summary(layer.receive_data(invite(), UDP, 0.0)) == expected
    if trying_s is None:
        assert layer.next_deadline() is None


def test_non_invite_server_absorbs_retransmissions_for_timer_j() -> None:
    layer = TransactionLayer()
    actions = layer.receive_data(request_from_peer("OPTIONS", "z9hG4bKo1"), UDP, 0.0)
    new = actions[0]
    assert isinstance(new, RequestReceived)
    assert layer.receive_data(request_from_peer("OPTIONS", "z9hG4bKo1"), UDP, 0.3) == []
    ok = layer.respond(new.key, response_for(new.request, 200, to_tag="cg"), 0.4)
    again = layer.receive_data(request_from_peer("OPTIONS", "z9hG4bKo1"), UDP, 1.0)
    assert again == ok  # the same bytes to the same place
    assert events(run(layer, 100)) == [(32.4, "TransactionTerminated")]


def test_non_invite_server_over_tcp_ends_with_its_final_response() -> None:
    layer = TransactionLayer()
    new = layer.receive_data(request_from_peer("OPTIONS", "z9hG4bKo1"), TCP, 0.0)[0]
    assert isinstance(new, RequestReceived)
    actions = layer.respond(new.key, response_for(new.request, 200, to_tag="cg"), 0.4)
    assert summary(actions) == ["send 200", "TransactionTerminated"]


def test_a_tu_that_never_answers_a_non_invite_request_does_not_leak_it() -> None:
    layer = TransactionLayer()
    layer.receive_data(request_from_peer("OPTIONS", "z9hG4bKo1"), UDP, 0.0)
    assert events(run(layer, 100)) == [(32.0, "timeout GUARD"), (32.0, "TransactionTerminated")]
    assert len(layer) == 0


def test_transport_error_ends_the_transaction_and_tells_the_tu() -> None:
    layer = TransactionLayer()
    key, _ = layer.send_request(our_request("INVITE", layer.new_branch()), TCP, 0.0)
    actions = layer.transport_failed(key, 0.01)
    assert actions == [TransportFailed(key), TransactionTerminated(key)]
    assert layer.transport_failed(key, 0.02) == []


def test_a_thousand_calls_time_out_on_schedule() -> None:
    layer = TransactionLayer()
    for n in range(1000):
        layer.send_request(our_request("INVITE", layer.new_branch()), UDP, n / 1000)
    trace = run(layer, 100)
    assert sum(isinstance(a, Send) for _, a in trace) == 6000
    assert sum(isinstance(a, TransactionTimeout) for _, a in trace) == 1000
    assert len(layer) == 0
