"""The call service: the registry of live calls and the one place calls change state.

API surfaces call its commands (`place_call`, `hangup`, `send_dtmf`); the trunk feeds it `TrunkEvent`s.
Every change is recorded through the `Recorder` and announced on the `EventBus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from callgate.calls.bus import EventBus
from callgate.calls.call import LiveCall
from callgate.calls.causes import Cause, HangupBy, normalize_cause
from callgate.calls.events import (
    AudioReceived,
    CallCreated,
    CallFinished,
    CheckpointReached,
    DialStatus,
    DialStatusChanged,
    DtmfReceived,
    HoldChanged,
    HoldFailed,
    Listened,
    TransferStatusChanged,
)
from callgate.calls.hold import HoldError, holding_trunk
from callgate.calls.ids import new_session_id
from callgate.calls.machine import CallInput, CallState
from callgate.calls.options import CallOptions
from callgate.calls.playout import Interrupted, Playout, PlayoutFull
from callgate.calls.recorder import Recorder, RecordNotDurable
from callgate.calls.recording import RecordingSink, RecordingTap
from callgate.calls.records import Direction, RequestKey
from callgate.calls.transfer import TransferError, check_request, transferring_trunk
from callgate.calls.trunk import (
    ReportsMediaQuality,
    Trunk,
    TrunkAnswered,
    TrunkAudio,
    TrunkDeadAir,
    TrunkDtmf,
    TrunkEvent,
    TrunkHangup,
    TrunkHold,
    TrunkHoldFailed,
    TrunkIncomingCall,
    TrunkMediaQuality,
    TrunkRinging,
    TrunkTransfer,
)
from callgate.clock import Clock, MediaTicker, TickPhase
from callgate.listen.amd import AmdSettings
from callgate.listen.frames import levels_dbfs
from callgate.listen.listener import CallListener, Outcome, Signal
from callgate.listen.options import ListenOptions, MachineDetection
from callgate.media.decoder import AudioDecoder
from callgate.media.dtmf import DIGIT_SET
from callgate.media.errors import AudioFormatError
from callgate.media.pcm import FRAME_MS, SILENCE_FRAME

log = logging.getLogger(__name__)

MAX_DTMF_MS = 1000
# The cause a call's record is closed with when it could not be committed in time: never dialled.
UNRECORDED_CAUSE = Cause.CHANNEL_UNAVAILABLE  # 44, "Resource unavailable"


@dataclass(frozen=True, slots=True)
class CallSettings:
    ring_timeout_s: float = 60.0
    max_call_duration_s: float = 4 * 3600.0
    node: str = "callgate"
    no_client_grace_s: float = (
        60.0  # outbound calls with no application attached this long end; 0: never
    )
    playout_max_s: float = 60.0  # audio a call may have queued
    drain_cap_s: float = 60.0  # longest a hangup waits for queued audio to finish playing
    playout_prebuffer_ms: int = 20  # cushion for audio streamed frame by frame (see playout.py)
    record_timeout_s: float = 2.0  # a call's first record must be committed this soon, or no dial
    record_calls: bool = False  # record calls that do not say (POST /pbx/call's `record`, routes)
    # answering-machine detection's parameters (callgate.listen.amd)
    amd: AmdSettings = field(default_factory=AmdSettings)


class CommandError(ValueError):
    """A command the application may not give in the call's current state; the message says why."""


class CallNotFound(LookupError):
    """No live call with that id for that account (unknown, ended, or another account's)."""


class CallService:
    def __init__(
        self,
        trunk: Trunk,
        clock: Clock,
        ticker: MediaTicker,
        bus: EventBus,
        recorder: Recorder,
        settings: CallSettings,
        recordings: RecordingSink | None = None,
    ) -> None:
        self.trunk = trunk
        self.clock = clock
        self.ticker = ticker
        self.bus = bus
        self.recorder = recorder
        self.settings = settings
        self._calls: dict[str, LiveCall] = {}
        self._by_account: dict[
            str, dict[str, LiveCall]
        ] = {}  # the same calls, for per-account queries
        self._connected: dict[str, LiveCall] = {}  # what the media tick walks
        self._playout_frames = max(1, int(settings.playout_max_s * 1000 / FRAME_MS))
        self._unsubscribe_tick: Callable[[], None] | None = None
        self._unsubscribe_heard: Callable[[], None] | None = None
        # Frames heard this tick by calls that listen: measured together after the trunks ran.
        self._heard: list[tuple[LiveCall, bytes]] = []
        self.on_incoming: Callable[[TrunkIncomingCall], None] | None = None
        # Refused placements whose closing record is not durable yet: their first record may
        # still land, carrying its request's key, and must not be taken for a placed call.
        self._refused: set[str] = set()
        self.dialled = 0  # outbound calls handed to the trunk
        # Audio frames applications missed by reading too slowly, by channel (metrics); each
        # call's own count goes into its CDR.
        self.client_frames_dropped: dict[str, int] = {}
        # Without a sink (no recordings directory wired) no call is recorded, whatever it asked.
        self.tap = RecordingTap(ticker, recordings) if recordings is not None else None
        # callQuality's source: the running figures the trunk's TrunkMediaQuality will carry
        self._quality = trunk if isinstance(trunk, ReportsMediaQuality) else None

    async def start(self) -> None:
        self._unsubscribe_tick = self.ticker.subscribe(self._on_tick, TickPhase.PLAYOUT)
        self._unsubscribe_heard = self.ticker.subscribe(self._listen_tick, TickPhase.AFTER_MEDIA)
        if self.tap is not None:
            self.tap.start()
        await self.trunk.start(self.handle_trunk_event)
        self.ticker.start()

    async def stop(self) -> None:
        """End every live call (network-side clearing, nobody hung up), then stop the trunk."""
        for call in list(self._calls.values()):
            self.trunk.hangup(call.session_id, int(Cause.NORMAL_CLEARING))
            self._end(call, Cause.NORMAL_CLEARING, None, cancelled=not call.answered)
        if self._unsubscribe_tick is not None:
            self._unsubscribe_tick()
        if self._unsubscribe_heard is not None:
            self._unsubscribe_heard()
        if self.tap is not None:
            self.tap.stop()
        await self.trunk.stop()

    # --- queries -------------------------------------------------------------------------------

    def live(self, account: str) -> list[LiveCall]:
        return list(self._by_account.get(account, {}).values())

    def find(self, account: str, session_id: str) -> LiveCall:
        call = self._calls.get(session_id)
        if call is None or call.account != account or call.ended:
            raise CallNotFound(session_id)
        return call

    def count_live(self, account: str) -> int:
        return len(self._by_account.get(account, ()))

    @property
    def calls(self) -> Iterable[LiveCall]:
        return self._calls.values()

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py): every table a call has an entry in."""
        return {
            "live_calls": len(self._calls),
            "call_accounts": len(self._by_account),
            "connected_calls": len(self._connected),
            "refusals_closing": len(self._refused),
        }

    # --- commands ------------------------------------------------------------------------------

    def was_abandoned(self, session_id: str) -> bool:
        """A refused placement whose closed record is still being written."""
        return session_id in self._refused

    async def place_call(
        self,
        account: str,
        destination: str,
        caller_id: str | None = None,
        *,
        request: RequestKey | None = None,
        within_s: float | None = None,
        record_audio: bool | None = None,
        listen: ListenOptions | None = None,
        machine_detection: MachineDetection | None = None,
        options: CallOptions | None = None,
    ) -> LiveCall:
        """Record the call durably, then dial it.

        The record must be committed within `within_s` (default `record_timeout_s`). If it is not,
        or the store fails, the call is never dialled: `RecordNotDurable` is raised and the record
        is closed FAILED with `UNRECORDED_CAUSE`, which is written whenever the store takes it, so
        a first version that lands late never leaves an open call behind. With `record_audio` (None:
        the `record_calls` default) the call's audio is recorded from its answer on. `options`
        (POST /pbx/call's, validated) override the caller ID, the timeouts, and add metadata and
        X- headers.
        """
        options = options or CallOptions()
        caller_id = options.caller_id or caller_id
        call = self._new_call(account, "outbound", destination, caller_id)
        call.max_duration_s = options.max_duration_s
        if options.metadata is not None:
            call.record = call.record.replace(metadata=options.metadata)
        call.record_audio = self.settings.record_calls if record_audio is None else record_audio
        call.listen, call.listen_to_all = listen, listen is not None
        call.machine_detection = machine_detection
        if request is not None:
            call.record = call.record.replace(
                idempotency_key=request.key, idempotency_hash=request.body_hash
            )
        timeout_s = self.settings.record_timeout_s if within_s is None else within_s
        try:
            await self.recorder.commit_within(call.record, timeout_s)
        except (RecordNotDurable, asyncio.CancelledError):
            self._abandon(call)
            raise
        self._register(call)
        self.bus.publish(
            CallCreated(
                call.session_id, account, "outbound", destination, caller_id, options.metadata
            )
        )
        self._publish_status(call, "Dialing")
        ring_s = options.ring_timeout_s or self.settings.ring_timeout_s
        call.timers.append(self.clock.call_later(ring_s, lambda: self._ring_timeout(call)))
        self._arm_grace(call)
        self.dialled += 1
        self.trunk.dial(call.session_id, destination, caller_id, headers=options.sip_headers)
        return call

    def _abandon(self, call: LiveCall) -> None:
        call.end(self.clock.utcnow(), UNRECORDED_CAUSE, None, cancelled=False)
        # The closing version no longer carries the key: a retry of the request places a call.
        call.record = call.record.replace(idempotency_key=None, idempotency_hash=None)
        session_id = call.session_id
        self._refused.add(session_id)
        closing = self.recorder.submit_waiting(call.record)
        closing.add_done_callback(lambda _: self._refused.discard(session_id))

    def hangup(
        self,
        account: str,
        session_id: str,
        *,
        after_playout: bool = False,
        request: RequestKey | None = None,
    ) -> LiveCall:
        """The application side ends the call: a cancel before answer, a hangup after.

        With `after_playout`, a connected call ends once its queued audio has been heard (at most
        `drain_cap_s` later), so a goodbye is never cut off; audio sent meanwhile is refused.
        """
        call = self.find(account, session_id)
        if request is not None:  # written with the closing record
            call.record = call.record.replace(
                hangup_idempotency_key=request.key, hangup_idempotency_hash=request.body_hash
            )
        if after_playout and call.state is CallState.CONNECTED:
            self._flush_tail(
                call
            )  # else a partial last frame would wait for audio that never comes
        if after_playout and call.state is CallState.CONNECTED and not call.playout.idle:
            if call.drain_deadline is None:
                call.drain_deadline = self.clock.monotonic() + self.settings.drain_cap_s
            return call
        self._hangup_now(call)
        return call

    def terminate(self, call: LiveCall, cause: Cause) -> None:
        """The gateway ends the call for a reason of its own (no party hung up): hangupBy is null."""
        if call.ended:
            return
        self.trunk.hangup(call.session_id, int(cause))
        self._end(call, cause, None, cancelled=False)

    # --- audio, checkpoints, attachment ----------------------------------------------------------

    def push_audio(self, account: str, session_id: str, data: bytes, audio_format: str) -> int:
        """Decode the application's audio and queue it to play; returns the audio queued (ms).

        Audio sent before the answer waits and starts playing the moment the call connects.
        """
        call = self._playable(account, session_id)
        decoder = call.decoders.get(audio_format)
        if decoder is None:
            try:
                decoder = call.decoders[audio_format] = AudioDecoder(audio_format)
            except AudioFormatError as exc:
                raise CommandError(str(exc)) from None
        try:
            pcm = decoder.feed(data)
        except AudioFormatError as exc:
            decoder.reset()
            raise CommandError(f"audio could not be decoded as {audio_format}: {exc}") from None
        try:
            call.playout.push(pcm)
        except PlayoutFull as exc:
            raise CommandError(str(exc)) from None
        return call.playout.queued_ms

    def checkpoint(self, account: str, session_id: str, name: str) -> int:
        """Mark the end of the audio queued so far; `CheckpointReached` follows once it has played."""
        call = self._playable(account, session_id)
        for decoder in call.decoders.values():  # what a decoder holds back belongs before the mark
            tail = decoder.flush()
            if tail:
                try:
                    call.playout.push(tail)
                except PlayoutFull as exc:
                    raise CommandError(str(exc)) from None
        call.playout.mark(name)
        return call.playout.queued_ms

    @staticmethod
    def _flush_tail(call: LiveCall) -> None:
        """Queue what the decoders and the frame splitter hold back: the audio has ended."""
        for decoder in call.decoders.values():
            tail = decoder.flush()
            if tail:
                with contextlib.suppress(
                    PlayoutFull
                ):  # a full queue: the tail is lost, not the call
                    call.playout.push(tail)
        call.playout.flush()

    def interrupt(self, account: str, session_id: str) -> Interrupted:
        """Barge-in: stop playing now, discard the queue, answer pending checkpoints as cleared."""
        call = self.find(account, session_id)
        result = call.playout.interrupt()
        for decoder in call.decoders.values():
            decoder.reset()
        for checkpoint in result.cleared:
            self.bus.publish(
                CheckpointReached(call.session_id, call.account, checkpoint.name, checkpoint.status)
            )
        return result

    def listen(self, call: LiveCall, options: ListenOptions) -> ListenOptions:
        """A client asks to hear this call (joinRoom's `listen`); the options in force are returned:
        the first asked win, later clients share them."""
        if call.listen is None:
            call.listen = options
            if call.state is CallState.CONNECTED:
                self._start_listening(call)
        elif call.listener is not None and call.listener.options is None:  # AMD only so far
            call.listener.options = call.listen
        return call.listen

    def resume(self, account: str, session_id: str) -> int:
        """Play on: off our hold (callgate.calls.hold) if we hold the call, and after a barge-in
        `pause` from where it stopped; returns the audio queued (ms). CommandError when the
        trunk cannot take the call off hold now (nothing changed then)."""
        call = self.find(account, session_id)
        if call.held_by_us:
            try:
                holding_trunk(self.trunk, call).resume(session_id)
            except ValueError as exc:  # HoldError, or the trunk's refusal
                raise CommandError(str(exc)) from None
            call.held_by_us = False
        call.playout.resume()
        call.paused_for_speech = False
        return call.playout.queued_ms

    def hold(self, account: str, session_id: str) -> int:
        """Put the call on hold (callgate.calls.hold): the trunk offers sendonly and plays music
        on hold, the playout stands still; returns the audio queued (ms). CommandError when the
        call cannot be held now (callgate.calls.hold says when)."""
        call = self.find(account, session_id)
        try:
            trunk = holding_trunk(self.trunk, call)
            if call.held_by_us:
                raise HoldError(f"call {session_id} is on hold already: resume it first")
            trunk.hold(session_id)
        except ValueError as exc:  # HoldError, or the trunk's refusal
            raise CommandError(str(exc)) from None
        call.held_by_us = True
        return call.playout.queued_ms

    def _hold_changed(self, call: LiveCall, event: TrunkHold) -> None:
        if event.by_remote:
            if call.held_by_remote == event.held:
                return
            call.held_by_remote = event.held
        self.bus.publish(
            HoldChanged(
                call.session_id, call.account, event.held, "remote" if event.by_remote else "local"
            )
        )

    def _hold_failed(self, call: LiveCall, event: TrunkHoldFailed) -> None:
        if event.held:  # the trunk stopped the music: the playout goes on
            call.held_by_us = False
        action: Literal["hold", "resume"] = "hold" if event.held else "resume"
        self.bus.publish(HoldFailed(call.session_id, call.account, action, event.sip_status))

    def _start_listening(self, call: LiveCall) -> None:
        call.listener = CallListener(call.listen, call.machine_detection, self.settings.amd)
        # a late start keeps the call's timeline: milliseconds of audio since the answer
        call.listener.speech.frame_no = max(0, self.ticker.tick_no - call.answered_tick)

    def _listen_tick(self, tick_no: int) -> None:
        """Every listening call's frame of this tick, after the trunks delivered them: the same
        tick as the frame (a barge-in still cuts the very next frame), with their levels measured
        in one pass."""
        heard, self._heard = self._heard, []
        if not heard:
            return
        levels = levels_dbfs([frame for _, frame in heard])
        for (call, frame), level in zip(heard, levels, strict=True):
            listener = call.listener
            if listener is None or call.ended:
                continue  # ended by an event earlier in this tick
            outcome = listener.heard(frame, level)
            if outcome.events or outcome.signal is not None:
                self._listened(call, outcome)

    def _listened(self, call: LiveCall, outcome: Outcome) -> None:
        """Publish what the listener heard; act on barge-in as the call's mode says."""
        publish, sid, account, to_all = (
            self.bus.publish,
            call.session_id,
            call.account,
            call.listen_to_all,
        )
        for heard in outcome.events:
            # AMD is asked on POST /pbx/call only: the call's clients all get its result
            everyone = to_all or heard.event in ("machineDetection", "beep")
            publish(Listened(sid, account, heard.event, heard.fields, everyone))
            if heard.event == "machineDetection":
                call.record = call.record.replace(machine_detection=heard.fields["result"])
        signal, options, playout = outcome.signal, call.listen, call.playout
        if signal is None or options is None or options.barge_in in ("off", "notify"):
            return
        if call.held_by_us or call.held_by_remote:
            return  # the playout stands still on hold (hold.py): nothing to barge in on
        protected = playout.played_in_stretch_ms < options.protect_ms
        if options.barge_in == "auto":
            if signal is Signal.CONFIRMED and playout.playing and not protected:
                result = self.interrupt(account, sid)
                fields = {
                    "atMs": outcome.at_ms,
                    "mode": "auto",
                    "playedMs": result.played_ms,
                    "discardedMs": result.discarded_ms,
                }
                publish(Listened(sid, account, "bargeIn", fields, to_all))
            return
        if signal is Signal.ONSET and playout.playing and not protected:
            playout.pause()
            call.paused_for_speech = True
        elif signal is Signal.REJECTED and call.paused_for_speech:
            playout.resume()
            call.paused_for_speech = False
        elif signal is Signal.CONFIRMED and call.paused_for_speech:
            fields = {
                "atMs": outcome.at_ms,
                "mode": "pause",
                "playedMs": playout.played_in_stretch_ms,
                "queuedMs": playout.queued_ms,
            }
            publish(Listened(sid, account, "bargeIn", fields, to_all))

    def _report_quality(self, call: LiveCall) -> None:
        """`callQuality`: the figures since the answer, as the CDR's quality fields will read
        them (callgate/calls/quality.py). We send no RTCP and read none: no round-trip time."""
        source = self._quality
        quality = None if source is None else source.media_quality(call.session_id)
        if quality is None:
            return
        fields = {
            "lossPct": round(quality.loss_percent, 2),
            "jitterMs": round(quality.rx_jitter_ms, 2),
            "rttMs": None,
            "mos": quality.mos,
        }
        sid, account = call.session_id, call.account
        self.bus.publish(Listened(sid, account, "callQuality", fields, call.listen_to_all))

    def attach(self, call: LiveCall) -> None:
        """An application client now follows this call (joined its room, or its inbound socket)."""
        call.clients += 1
        if call.grace_timer is not None:
            call.grace_timer.cancel()
            call.grace_timer = None

    def detach(self, call: LiveCall) -> None:
        call.clients = max(0, call.clients - 1)
        if call.clients == 0 and not call.ended:
            self._arm_grace(call)

    def _playable(self, account: str, session_id: str) -> LiveCall:
        call = self.find(account, session_id)
        if call.drain_deadline is not None:
            raise CommandError("the call is hanging up after its queued audio; no more audio")
        return call

    def _arm_grace(self, call: LiveCall) -> None:
        grace_s = self.settings.no_client_grace_s
        if grace_s <= 0 or call.record.direction != "outbound" or call.grace_timer is not None:
            return
        call.grace_timer = self.clock.call_later(grace_s, lambda: self._abandoned(call))

    def _abandoned(self, call: LiveCall) -> None:
        call.grace_timer = None
        if call.ended or call.clients:
            return
        log.info(
            "call %s has had no application attached for %.0f s; hanging up",
            call.session_id,
            self.settings.no_client_grace_s,
        )
        self.trunk.hangup(call.session_id, int(Cause.RECOVERY_ON_TIMER_EXPIRY))
        self._end(call, Cause.RECOVERY_ON_TIMER_EXPIRY, None, cancelled=not call.answered)

    def _hangup_now(self, call: LiveCall) -> None:
        self.trunk.hangup(call.session_id, int(Cause.NORMAL_CLEARING))
        self._end(call, Cause.NORMAL_CLEARING, call.local_party(), cancelled=not call.answered)

    def _on_tick(self, tick_no: int) -> None:
        """One 20 ms step of playout for every connected call."""
        now = self.clock.monotonic()
        for call in list(self._connected.values()):
            if call.held_by_us or call.held_by_remote:  # the playout stands still (hold.py)
                call.said = SILENCE_FRAME
                self.trunk.send_audio(call.session_id, SILENCE_FRAME)
                if call.drain_deadline is not None and now >= call.drain_deadline:
                    self._hangup_now(call)
                continue
            frame, reached = call.playout.tick()
            call.said = frame = frame or SILENCE_FRAME
            self.trunk.send_audio(call.session_id, frame)
            if call.listener is not None:
                call.listener.said(frame)
                options = call.listen
                if options is not None and options.call_quality:
                    elapsed = tick_no - call.answered_tick
                    if elapsed > 0 and elapsed % (options.quality_every_ms // FRAME_MS) == 0:
                        self._report_quality(call)
            for checkpoint in reached:
                self.bus.publish(
                    CheckpointReached(call.session_id, call.account, checkpoint.name, "played")
                )
            if call.drain_deadline is not None and (
                call.playout.idle or now >= call.drain_deadline
            ):
                self._hangup_now(call)

    def note_client_drop(self, session_id: str, channel: str) -> None:
        """An application on `channel` missed a frame of this call's audio (it read too slowly)."""
        self.client_frames_dropped[channel] = self.client_frames_dropped.get(channel, 0) + 1
        call = self._calls.get(session_id)
        if call is not None:
            call.client_frames_dropped += 1

    def send_dtmf(self, account: str, session_id: str, digit: str, duration_ms: int) -> None:
        if digit not in DIGIT_SET:
            raise CommandError(f"invalid DTMF digit {digit!r}: use 0-9, *, #, A-D")
        if not 0 < duration_ms <= MAX_DTMF_MS:
            raise CommandError(f"DTMF duration must be 1..{MAX_DTMF_MS} ms, got {duration_ms}")
        call = self.find(account, session_id)
        if call.state is not CallState.CONNECTED:
            raise CommandError("DTMF can be sent only once the call is connected")
        self.trunk.send_dtmf(session_id, digit, duration_ms)

    def transfer(self, account: str, session_id: str, target: object, mode: object) -> LiveCall:
        """Blind-transfer an answered call to `target` (callgate.calls.transfer): CallNotFound,
        or TransferError with the status to answer; `TransferStatusChanged` events follow."""
        target = check_request(target, mode)
        call = self.find(account, session_id)
        trunk = transferring_trunk(self.trunk, call)
        call.transfer_target = target
        try:
            trunk.transfer(session_id, target)
        except ValueError as exc:
            call.transfer_target = None
            raise TransferError(400, str(exc)) from None
        return call

    def _transfer_status(self, call: LiveCall, event: TrunkTransfer) -> None:
        target = call.transfer_target
        if target is None:
            return  # none asked (or it already ended): nothing to report
        if event.state in ("succeeded", "failed"):
            call.transfer_target = None
        self.bus.publish(
            TransferStatusChanged(
                call.session_id, call.account, event.state, event.sip_status, target
            )
        )
        if event.state == "succeeded":  # the far party is with the target now: our leg ends
            call.record = call.record.replace(transferred_to=target)
            self._hangup_now(call)

    def answer_inbound(self, call: LiveCall) -> None:
        if call.state is CallState.RINGING and call.record.direction == "inbound":
            self._answered(call)  # the answer time is now, whatever the trunk then takes
            self.trunk.answer(call.session_id)

    def refuse_inbound(self, event: TrunkIncomingCall, cause: Cause) -> None:
        """Turn down an offered inbound call that was never registered (no route, no record)."""
        self.trunk.hangup(event.session_id, int(cause))

    async def register_inbound(
        self,
        event: TrunkIncomingCall,
        account: str,
        *,
        record_audio: bool | None = None,
        listen: ListenOptions | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> LiveCall:
        """Record an offered inbound call and make it live (Ringing) for `account`; with
        `record_audio` (None: the `record_calls` default) its audio is recorded from the answer.
        `metadata`: its route's and its offer's (callgate/calls/options.py, inbound_metadata)."""
        call = self._new_call(
            account, "inbound", event.did_number, event.caller_id, event.session_id
        )
        if metadata is not None:
            call.record = call.record.replace(metadata=metadata)
        call.record_audio = self.settings.record_calls if record_audio is None else record_audio
        call.listen, call.listen_to_all = listen, listen is not None
        await self.recorder.submit_waiting(call.record)
        self._register(call)
        self.bus.publish(
            CallCreated(
                call.session_id, account, "inbound", event.did_number, event.caller_id, metadata
            )
        )
        self._publish_status(call, "Ringing")
        return call

    # --- trunk events --------------------------------------------------------------------------

    def handle_trunk_event(self, event: TrunkEvent) -> None:
        # 50 times a second per call: the shortest way through, and the only one audio takes.
        if type(event) is TrunkAudio:
            call = self._calls.get(event.session_id)
            if call is not None and not call.ended:
                call.heard = event.frame
                if call.recording is not None:
                    call.recording.heard = event.frame
                if call.listener is not None and call.state is CallState.CONNECTED:
                    self._heard.append((call, event.frame))
                self.bus.publish(AudioReceived(call.session_id, call.account, event.frame))
            return
        if isinstance(event, TrunkIncomingCall):
            if self.on_incoming is None:
                log.warning("inbound call %s refused: no inbound route", event.session_id)
                self.refuse_inbound(event, Cause.BEARER_NOT_IMPLEMENTED)
            else:
                self.on_incoming(event)
            return
        call = self._calls.get(event.session_id)
        if call is None or call.ended:
            return  # late event for a call that is over
        match event:
            case TrunkMediaQuality(quality=quality):
                call.quality = quality
            case TrunkDeadAir(ms=ms):
                options = call.listen
                if options is not None and options.dead_air and call.state is CallState.CONNECTED:
                    fields = {"ms": ms}
                    sid = call.session_id
                    self.bus.publish(
                        Listened(sid, call.account, "deadAir", fields, call.listen_to_all)
                    )
            case TrunkDtmf(digit=digit):
                self.bus.publish(DtmfReceived(call.session_id, call.account, digit))
            case TrunkRinging():
                if call.apply(CallInput.RING, self.clock.utcnow()):
                    self._publish_status(call, "Ringing")
            case TrunkAnswered():
                self._answered(call)
            case TrunkTransfer():
                self._transfer_status(call, event)
            case TrunkHold():
                self._hold_changed(call, event)
            case TrunkHoldFailed():
                self._hold_failed(call, event)
            case TrunkHangup(cause=cause, by_remote=by_remote):
                # An inbound caller hanging up before the answer cancels its call; an outbound
                # callee that ends an unanswered call is refusing it (busy, declined...).
                cancelled = by_remote and not call.answered and call.record.direction == "inbound"
                by = call.remote_party() if by_remote and (call.answered or cancelled) else None
                self._end(call, normalize_cause(cause), by, cancelled=cancelled)

    # --- internals -----------------------------------------------------------------------------

    def _new_call(
        self,
        account: str,
        direction: Direction,
        destination: str,
        caller_id: str | None,
        session_id: str | None = None,
    ) -> LiveCall:
        call = LiveCall.new(
            session_id=session_id or new_session_id(),
            account=account,
            direction=direction,
            destination=destination,
            caller_id=caller_id,
            now=self.clock.utcnow(),
            node=self.settings.node,
        )
        call.playout = Playout(self._playout_frames, self.settings.playout_prebuffer_ms // FRAME_MS)
        return call

    def _register(self, call: LiveCall) -> None:
        self._calls[call.session_id] = call
        self._by_account.setdefault(call.account, {})[call.session_id] = call

    def _forget(self, call: LiveCall) -> None:
        self._calls.pop(call.session_id, None)
        mine = self._by_account.get(call.account)
        if mine is not None:
            mine.pop(call.session_id, None)
            if not mine:
                del self._by_account[call.account]

    def _answered(self, call: LiveCall) -> None:
        if not call.apply(CallInput.ANSWER, self.clock.utcnow()):
            return
        self._connected[call.session_id] = call
        for timer in call.timers:  # the ring timeout
            timer.cancel()
        limit_s = call.max_duration_s or self.settings.max_call_duration_s
        call.timers = [self.clock.call_later(limit_s, lambda: self._too_long(call))]
        if call.record_audio and self.tap is not None:
            call.recording = self.tap.begin(
                call,
                call.session_id,
                outbound=call.record.direction == "outbound",
                now=self.clock.utcnow(),
            )
            call.record = call.record.replace(recorded=True)
        call.answered_tick = self.ticker.tick_no
        if call.listen is not None or call.machine_detection is not None:
            self._start_listening(call)
        self.recorder.submit(call.record)
        self._publish_status(call, "Connected")

    def _ring_timeout(self, call: LiveCall) -> None:
        if call.ended or call.answered:
            return
        self.trunk.hangup(call.session_id, int(Cause.NO_ANSWER))
        self._end(call, Cause.NO_ANSWER, None, cancelled=False)

    def _too_long(self, call: LiveCall) -> None:
        if call.ended:
            return
        log.info("call %s reached its maximum duration; hanging up", call.session_id)
        self.trunk.hangup(call.session_id, int(Cause.NORMAL_CLEARING))
        self._end(call, Cause.NORMAL_CLEARING, None, cancelled=False)

    def _end(self, call: LiveCall, cause: Cause, by: HangupBy | None, *, cancelled: bool) -> None:
        if not call.end(self.clock.utcnow(), cause, by, cancelled=cancelled):
            return
        self._forget(call)
        self._connected.pop(call.session_id, None)
        if call.recording is not None and self.tap is not None:
            self.tap.end(call.recording, self.clock.utcnow())
            call.recording = None
        self.recorder.submit(call.record)
        if not call.answered and cause in (Cause.USER_BUSY, Cause.CALL_REJECTED):
            self._publish_status(call, "Busy")
        self.bus.publish(CallFinished(call.session_id, call.account, call.record))

    def _publish_status(self, call: LiveCall, status: DialStatus) -> None:
        self.bus.publish(
            DialStatusChanged(call.session_id, call.account, status, call.record.metadata)
        )
