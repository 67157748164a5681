"""The simulated carrier: the embedded default trunk, so the whole product runs with no carrier."""

from callgate.telephony.simulated.carrier import SimulatedCarrier
from callgate.telephony.simulated.scripts import (
    DEFAULT_SCRIPTS,
    CalleeScript,
    CallerScript,
    ScriptError,
)

__all__ = ["DEFAULT_SCRIPTS", "CalleeScript", "CallerScript", "ScriptError", "SimulatedCarrier"]
