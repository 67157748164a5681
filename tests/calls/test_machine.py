from callgate.calls.machine import TRANSITIONS, CallInput, CallState, next_state


def test_every_state_can_end_except_ended() -> None:
    for state in CallState:
        expected = None if state is CallState.ENDED else CallState.ENDED
        assert next_state(state, CallInput.END) is expected


def test_forward_only() -> None:
    assert next_state(CallState.DIALING, CallInput.RING) is CallState.RINGING
    assert next_state(CallState.RINGING, CallInput.ANSWER) is CallState.CONNECTED
    assert next_state(CallState.DIALING, CallInput.ANSWER) is CallState.CONNECTED
    # A late 180 after the answer, or a second answer, is ignored.
    assert next_state(CallState.CONNECTED, CallInput.RING) is None
    assert next_state(CallState.CONNECTED, CallInput.ANSWER) is None
    assert next_state(CallState.RINGING, CallInput.RING) is None


def test_nothing_leaves_ended() -> None:
    assert not [key for key in TRANSITIONS if key[0] is CallState.ENDED]
