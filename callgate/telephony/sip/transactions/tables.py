"""The four RFC 3261 §17 transaction state machines (with RFC 6026's Accepted states), as tables.

Theory of operation
-------------------
A transaction is one request and the responses to it, kept reliable over an unreliable
transport by retransmission timers. Each of the four kinds (INVITE / non-INVITE, client /
server) is a table here: for each state, the inputs it reacts to, the state it moves to, and
the effects to carry out, in order. Anything not listed is absorbed: a retransmission that
needs no answer, a late timer, a response after the fact. `machine.py` executes these rows
and nothing else decides what a transaction does, so the tables are the whole behaviour.

Inputs are classified before lookup (layer.py): a response by status class, a 2xx by
whether its To tag was already passed up (`RESPONSE_2XX_SEEN`) or already ACKed by the TU
(`RESPONSE_2XX_ACKED`), a request by whether it is the first or a retransmission. Timers are
inputs too. Each state lists the timers allowed to run in it; entering a state cancels the
others, so rows arm timers, and disarm one only when the state stays. A timer armed with a
zero duration (reliable transports: D, I, J, K) fires at once, within the same call.

Where callgate goes beyond the RFC text (each is explicit in a row below):

- INVITE server, Accepted: RFC 3261 §13.3.1.4 makes the UAS *core* retransmit its 2xx until
  the ACK comes; here the transaction does it (`TIMER_2XX`, T1 doubling to T2, on every
  transport as §13.3.1.4 says) because it already holds the 2xx, the schedule and the one
  deadline the transport arms. The ACK (matched by dialog and CSeq, see layer.py) moves it to
  `ACCEPTED_ACKED`; Timer L then ends it quietly. Without an ACK, Timer L reports "L" so the
  TU can send BYE. RFC 6026 has one Accepted state; the split only records "ACK seen".
- INVITE client, Accepted: the TU hands its ACK for a 2xx to the transaction, which re-sends
  it for every retransmission of that 2xx (§13.2.2.4 asks the core to), so the TU sees each
  answer once. A 2xx from another To tag (forking) still goes up.
- INVITE client, CANCEL: §9.1 abandons an INVITE that gets no final response within 64*T1 of
  its CANCEL; `CANCEL_SENT` arms that guard. The layer holds a CANCEL back until a
  provisional response arrives (§9.1), which is not a transaction state.
- Non-INVITE server: RFC 3261 waits for the TU forever in Trying / Proceeding. `GUARD` (64*T1,
  when the client has given up anyway) frees the entry if the TU never answers.
- 100 Trying: the INVITE server sends it when the TU has sent no provisional response
  `SipTimers.trying_s` after the INVITE (§17.2.1's 200 ms), or at once when that is 0.

INIT is the state before the first input: the request the TU sends (client) or the request
that arrived (server) is the input that starts a transaction, so creation is a row too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

__all__ = [
    "TABLES",
    "TIMERS_IN_STATE",
    "TIMER_INPUT",
    "Arm",
    "Backoff",
    "Disarm",
    "Do",
    "Input",
    "Kind",
    "Row",
    "State",
    "TimerName",
]


class Kind(StrEnum):
    INVITE_CLIENT = "INVITE client"
    NON_INVITE_CLIENT = "non-INVITE client"
    INVITE_SERVER = "INVITE server"
    NON_INVITE_SERVER = "non-INVITE server"


class State(StrEnum):
    INIT = "Init"
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    ACCEPTED = "Accepted"
    ACCEPTED_ACKED = "Accepted+ACK"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class TimerName(StrEnum):
    A = "A"
    B = "B"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    H = "H"
    I = "I"  # noqa: E741 - RFC 3261's name
    J = "J"
    K = "K"
    L = "L"
    M = "M"
    TRYING = "TRYING"  # send 100 Trying on the TU's behalf
    RETRANSMIT_2XX = "2XX"  # retransmit the 2xx until the ACK (§13.3.1.4)
    CANCEL = "CANCEL"  # §9.1: 64*T1 after CANCEL, abandon the INVITE
    GUARD = "GUARD"  # non-INVITE server whose TU never answers


class Input(StrEnum):
    # from the TU
    TU_REQUEST = "TU request"  # the request that creates a client transaction
    TU_1XX = "TU 1xx"
    TU_2XX = "TU 2xx"
    TU_3XX_6XX = "TU 300-699"
    CANCEL_SENT = "CANCEL sent"
    # from the network
    REQUEST = "request"  # the request that creates a server transaction
    REQUEST_AGAIN = "request retransmission"
    ACK = "ACK"
    RESPONSE_1XX = "1xx"
    RESPONSE_2XX = "2xx"
    RESPONSE_2XX_SEEN = "2xx again, TU not yet ACKed"
    RESPONSE_2XX_ACKED = "2xx again, TU ACKed"
    RESPONSE_3XX_6XX = "300-699"
    TRANSPORT_ERROR = "transport error"
    # timers
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TIMER_TRYING = "Timer TRYING"
    TIMER_2XX = "Timer 2XX"
    TIMER_CANCEL = "Timer CANCEL"
    TIMER_GUARD = "Timer GUARD"


class Do(Enum):
    """Effects other than arming timers."""

    SEND_REQUEST = "send the request (again)"
    SEND_ACK = "send the ACK for a non-2xx (built once, §17.1.1.3)"
    SEND_ACK_2XX = "re-send the TU's ACK for this 2xx"
    SEND_RESPONSE = "send the TU's response, remember it"
    RESEND_RESPONSE = "re-send the last response"
    SEND_TRYING = "send 100 Trying, remember it"
    PASS_REQUEST = "RequestReceived to the TU"
    PASS_RESPONSE = "ResponseReceived to the TU"
    PASS_ACK = "AckReceived to the TU"
    REPORT_TIMEOUT = "TransactionTimeout to the TU"
    REPORT_TRANSPORT_ERROR = "TransportFailed to the TU"


class Backoff(Enum):
    INITIAL = "initial value"
    DOUBLE = "twice the last interval"  # Timer A
    DOUBLE_TO_T2 = "twice the last interval, at most T2"  # E, G, 2XX
    T2 = "T2"  # Timer E in Proceeding (§17.1.2.2)


@dataclass(frozen=True, slots=True)
class Arm:
    """Effect: (re)arm `timer`; its duration comes from `SipTimers` and the transport."""

    timer: TimerName
    backoff: Backoff = Backoff.INITIAL


@dataclass(frozen=True, slots=True)
class Disarm:
    """Effect: stop `timer` although the state stays (a provisional answer ends Timer TRYING)."""

    timer: TimerName


Effect = Do | Arm | Disarm


@dataclass(frozen=True, slots=True)
class Row:
    next: State
    effects: tuple[Effect, ...] = ()


S, I, T = State, Input, TimerName  # noqa: E741 - the tables below read better short
_NOTHING: tuple[Effect, ...] = ()

# RFC 3261 Figure 5 (§17.1.1.2) with RFC 6026 §7.2 / Figure 3.
INVITE_CLIENT: dict[State, dict[Input, Row]] = {
    S.INIT: {
        I.TU_REQUEST: Row(S.CALLING, (Do.SEND_REQUEST, Arm(T.A), Arm(T.B))),
    },
    S.CALLING: {
        I.TIMER_A: Row(S.CALLING, (Do.SEND_REQUEST, Arm(T.A, Backoff.DOUBLE))),
        I.TIMER_B: Row(S.TERMINATED, (Do.REPORT_TIMEOUT,)),
        I.RESPONSE_1XX: Row(S.PROCEEDING, (Do.PASS_RESPONSE,)),
        I.RESPONSE_2XX: Row(S.ACCEPTED, (Do.PASS_RESPONSE, Arm(T.M))),
        I.RESPONSE_3XX_6XX: Row(S.COMPLETED, (Do.SEND_ACK, Do.PASS_RESPONSE, Arm(T.D))),
        I.TRANSPORT_ERROR: Row(S.TERMINATED, (Do.REPORT_TRANSPORT_ERROR,)),
    },
    S.PROCEEDING: {
        I.RESPONSE_1XX: Row(S.PROCEEDING, (Do.PASS_RESPONSE,)),
        I.RESPONSE_2XX: Row(S.ACCEPTED, (Do.PASS_RESPONSE, Arm(T.M))),
        I.RESPONSE_3XX_6XX: Row(S.COMPLETED, (Do.SEND_ACK, Do.PASS_RESPONSE, Arm(T.D))),
        I.CANCEL_SENT: Row(S.PROCEEDING, (Arm(T.CANCEL),)),
        I.TIMER_CANCEL: Row(S.TERMINATED, (Do.REPORT_TIMEOUT,)),
    },
    S.ACCEPTED: {
        I.RESPONSE_2XX: Row(S.ACCEPTED, (Do.PASS_RESPONSE,)),  # another To tag: a fork
        I.RESPONSE_2XX_SEEN: Row(S.ACCEPTED, _NOTHING),  # the TU has it and will ACK
        I.RESPONSE_2XX_ACKED: Row(S.ACCEPTED, (Do.SEND_ACK_2XX,)),
        I.TIMER_M: Row(S.TERMINATED, _NOTHING),
    },
    S.COMPLETED: {
        I.RESPONSE_3XX_6XX: Row(S.COMPLETED, (Do.SEND_ACK,)),
        I.TIMER_D: Row(S.TERMINATED, _NOTHING),
        I.TRANSPORT_ERROR: Row(S.TERMINATED, (Do.REPORT_TRANSPORT_ERROR,)),
    },
}

# RFC 3261 Figure 6 (§17.1.2.2).
NON_INVITE_CLIENT: dict[State, dict[Input, Row]] = {
    S.INIT: {
        I.TU_REQUEST: Row(S.TRYING, (Do.SEND_REQUEST, Arm(T.E), Arm(T.F))),
    },
    S.TRYING: {
        I.TIMER_E: Row(S.TRYING, (Do.SEND_REQUEST, Arm(T.E, Backoff.DOUBLE_TO_T2))),
        I.TIMER_F: Row(S.TERMINATED, (Do.REPORT_TIMEOUT,)),
        I.RESPONSE_1XX: Row(S.PROCEEDING, (Do.PASS_RESPONSE,)),
        I.RESPONSE_2XX: Row(S.COMPLETED, (Do.PASS_RESPONSE, Arm(T.K))),
        I.RESPONSE_3XX_6XX: Row(S.COMPLETED, (Do.PASS_RESPONSE, Arm(T.K))),
        I.TRANSPORT_ERROR: Row(S.TERMINATED, (Do.REPORT_TRANSPORT_ERROR,)),
    },
    S.PROCEEDING: {
        I.TIMER_E: Row(S.PROCEEDING, (Do.SEND_REQUEST, Arm(T.E, Backoff.T2))),
        I.TIMER_F: Row(S.TERMINATED, (Do.REPORT_TIMEOUT,)),
        I.RESPONSE_1XX: Row(S.PROCEEDING, (Do.PASS_RESPONSE,)),
        I.RESPONSE_2XX: Row(S.COMPLETED, (Do.PASS_RESPONSE, Arm(T.K))),
        I.RESPONSE_3XX_6XX: Row(S.COMPLETED, (Do.PASS_RESPONSE, Arm(T.K))),
        I.TRANSPORT_ERROR: Row(S.TERMINATED, (Do.REPORT_TRANSPORT_ERROR,)),
    },
    S.COMPLETED: {
        I.TIMER_K: Row(S.TERMINATED, _NOTHING),
    },
}

# RFC 3261 Figure 7 (§17.2.1) with RFC 6026 §7.1 / Figure 5.
INVITE_SERVER: dict[State, dict[Input, Row]] = {
    S.INIT: {
        I.REQUEST: Row(S.PROCEEDING, (Do.PASS_REQUEST, Arm(T.TRYING))),
    },
    S.PROCEEDING: {
        I.REQUEST_AGAIN: Row(S.PROCEEDING, (Do.RESEND_RESPONSE,)),
        I.TIMER_TRYING: Row(S.PROCEEDING, (Do.SEND_TRYING,)),
        I.TU_1XX: Row(S.PROCEEDING, (Do.SEND_RESPONSE, Disarm(T.TRYING))),
        I.TU_2XX: Row(S.ACCEPTED, (Do.SEND_RESPONSE, Arm(T.RETRANSMIT_2XX), Arm(T.L))),
        I.TU_3XX_6XX: Row(S.COMPLETED, (Do.SEND_RESPONSE, Arm(T.G), Arm(T.H))),
        I.TRANSPORT_ERROR: Row(S.TERMINATED, (Do.REPORT_TRANSPORT_ERROR,)),
    },
    S.COMPLETED: {
        I.REQUEST_AGAIN: Row(S.COMPLETED, (Do.RESEND_RESPONSE,)),
        I.TIMER_G: Row(S.COMPLETED, (Do.RESEND_RESPONSE, Arm(T.G, Backoff.DOUBLE_TO_T2))),
        I.ACK: Row(S.CONFIRMED, (Arm(T.I),)),
        I.TIMER_H: Row(S.TERMINATED, (Do.REPORT_TIMEOUT,)),
        I.TRANSPORT_ERROR: Row(S.TERMINATED, (Do.REPORT_TRANSPORT_ERROR,)),
    },
    S.CONFIRMED: {
        I.ACK: Row(S.CONFIRMED, _NOTHING),
        I.TIMER_I: Row(S.TERMINATED, _NOTHING),
    },
    S.ACCEPTED: {
        I.REQUEST_AGAIN: Row(S.ACCEPTED, _NOTHING),  # the 2xx timer re-sends; §13.3.1.4
        I.TU_2XX: Row(S.ACCEPTED, (Do.SEND_RESPONSE,)),
        I.TIMER_2XX: Row(
            S.ACCEPTED, (Do.RESEND_RESPONSE, Arm(T.RETRANSMIT_2XX, Backoff.DOUBLE_TO_T2))
        ),
        I.ACK: Row(S.ACCEPTED_ACKED, (Do.PASS_ACK,)),
        I.TIMER_L: Row(S.TERMINATED, (Do.REPORT_TIMEOUT,)),
        I.TRANSPORT_ERROR: Row(S.TERMINATED, (Do.REPORT_TRANSPORT_ERROR,)),
    },
    S.ACCEPTED_ACKED: {
        I.REQUEST_AGAIN: Row(S.ACCEPTED_ACKED, _NOTHING),
        I.ACK: Row(S.ACCEPTED_ACKED, _NOTHING),  # re-ACKs of our (earlier) 2xx copies
        I.TIMER_L: Row(S.TERMINATED, _NOTHING),
    },
}

# RFC 3261 Figure 8 (§17.2.2).
NON_INVITE_SERVER: dict[State, dict[Input, Row]] = {
    S.INIT: {
        I.REQUEST: Row(S.TRYING, (Do.PASS_REQUEST, Arm(T.GUARD))),
    },
    S.TRYING: {
        I.REQUEST_AGAIN: Row(S.TRYING, _NOTHING),
        I.TU_1XX: Row(S.PROCEEDING, (Do.SEND_RESPONSE,)),
        I.TU_2XX: Row(S.COMPLETED, (Do.SEND_RESPONSE, Arm(T.J))),
        I.TU_3XX_6XX: Row(S.COMPLETED, (Do.SEND_RESPONSE, Arm(T.J))),
        I.TIMER_GUARD: Row(S.TERMINATED, (Do.REPORT_TIMEOUT,)),
    },
    S.PROCEEDING: {
        I.REQUEST_AGAIN: Row(S.PROCEEDING, (Do.RESEND_RESPONSE,)),
        I.TU_1XX: Row(S.PROCEEDING, (Do.SEND_RESPONSE,)),
        I.TU_2XX: Row(S.COMPLETED, (Do.SEND_RESPONSE, Arm(T.J))),
        I.TU_3XX_6XX: Row(S.COMPLETED, (Do.SEND_RESPONSE, Arm(T.J))),
        I.TRANSPORT_ERROR: Row(S.TERMINATED, (Do.REPORT_TRANSPORT_ERROR,)),
        I.TIMER_GUARD: Row(S.TERMINATED, (Do.REPORT_TIMEOUT,)),
    },
    S.COMPLETED: {
        I.REQUEST_AGAIN: Row(S.COMPLETED, (Do.RESEND_RESPONSE,)),
        I.TIMER_J: Row(S.TERMINATED, _NOTHING),
        I.TRANSPORT_ERROR: Row(S.TERMINATED, (Do.REPORT_TRANSPORT_ERROR,)),
    },
}

TABLES: dict[Kind, dict[State, dict[Input, Row]]] = {
    Kind.INVITE_CLIENT: INVITE_CLIENT,
    Kind.NON_INVITE_CLIENT: NON_INVITE_CLIENT,
    Kind.INVITE_SERVER: INVITE_SERVER,
    Kind.NON_INVITE_SERVER: NON_INVITE_SERVER,
}

# The timers that may keep running in each state; entering a state cancels all others.
TIMERS_IN_STATE: dict[Kind, dict[State, frozenset[TimerName]]] = {
    Kind.INVITE_CLIENT: {
        S.CALLING: frozenset({T.A, T.B}),
        S.PROCEEDING: frozenset({T.CANCEL}),
        S.ACCEPTED: frozenset({T.M}),
        S.COMPLETED: frozenset({T.D}),
    },
    Kind.NON_INVITE_CLIENT: {
        S.TRYING: frozenset({T.E, T.F}),
        S.PROCEEDING: frozenset({T.E, T.F}),
        S.COMPLETED: frozenset({T.K}),
    },
    Kind.INVITE_SERVER: {
        S.PROCEEDING: frozenset({T.TRYING}),
        S.COMPLETED: frozenset({T.G, T.H}),
        S.CONFIRMED: frozenset({T.I}),
        S.ACCEPTED: frozenset({T.RETRANSMIT_2XX, T.L}),
        S.ACCEPTED_ACKED: frozenset({T.L}),
    },
    Kind.NON_INVITE_SERVER: {
        S.TRYING: frozenset({T.GUARD}),
        S.PROCEEDING: frozenset({T.GUARD}),
        S.COMPLETED: frozenset({T.J}),
    },
}

# Which input each timer feeds when it fires.
TIMER_INPUT: dict[TimerName, Input] = {
    T.A: I.TIMER_A,
    T.B: I.TIMER_B,
    T.D: I.TIMER_D,
    T.E: I.TIMER_E,
    T.F: I.TIMER_F,
    T.G: I.TIMER_G,
    T.H: I.TIMER_H,
    T.I: I.TIMER_I,
    T.J: I.TIMER_J,
    T.K: I.TIMER_K,
    T.L: I.TIMER_L,
    T.M: I.TIMER_M,
    T.TRYING: I.TIMER_TRYING,
    T.RETRANSMIT_2XX: I.TIMER_2XX,
    T.CANCEL: I.TIMER_CANCEL,
    T.GUARD: I.TIMER_GUARD,
}
