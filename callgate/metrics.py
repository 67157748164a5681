"""Prometheus metrics for `/metrics`: read from the gateway when scraped, counted from call events.

The media path pays nothing for them: figures that the rooms already keep (live calls, the CDR
writer's queue, frames dropped for slow clients, ticks skipped) are read at scrape time by a
collector; what no room keeps (calls ended by disposition and cause, set-up time) is counted from
the `CallCreated` and `CallFinished` events, the only ones the bus hands us, and the media tick's
lateness once per wake-up. A registry of our own, so two gateways in one process (the tests) never
share counters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from callgate.calls.events import BusEvent, CallCreated, CallFinished
from callgate.calls.trunk import ReportsSignalling

if TYPE_CHECKING:
    from callgate.gateway import Gateway

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Set-up (start to answer) in seconds: a PSTN call answers in 2-30 s, a bot's test number in 0.1 s.
SETUP_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 45.0, 60.0)
# Media tick lateness in seconds: under 1 ms is the norm, a frame (20 ms) late is audible.
TICK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.1)
# A call's received interarrival jitter (RFC 3550) in ms: a jitter buffer of 40-60 ms hides 20.
JITTER_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)
# A call's estimated MOS (E-model, callgate/calls/quality.py): 4.4 is clean G.711, under 3.6
# most users are dissatisfied.
MOS_BUCKETS = (1.5, 2.0, 2.5, 3.0, 3.3, 3.6, 3.9, 4.1, 4.3, 4.5)


class GatewayMetrics:
    """Subscribes to the gateway's events and tick; `render()` is the text exposition for a scrape."""

    def __init__(self, gateway: Gateway) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._gateway = gateway
        self._started = PromCounter(
            "callgate_calls_started",
            "Calls placed or offered, by direction.",
            ["direction"],
            registry=self.registry,
        )
        self._ended = PromCounter(
            "callgate_calls_ended",
            "Calls ended, by direction, CDR disposition and hang-up cause (Q.850 code).",
            ["direction", "disposition", "cause"],
            registry=self.registry,
        )
        self._setup = Histogram(
            "callgate_call_setup_seconds",
            "Start to answer of answered calls, observed when the call ends.",
            ["direction"],
            buckets=SETUP_BUCKETS,
            registry=self.registry,
        )
        self._tick_late = Histogram(
            "callgate_media_tick_lateness_seconds",
            "How late each wake-up of the 20 ms media tick ran after its deadline.",
            buckets=TICK_BUCKETS,
            registry=self.registry,
        )
        # Media quality, per call when it ends (from its CDR): the packet path pays nothing.
        self._rtp = PromCounter(
            "callgate_rtp_packets",
            "RTP packets of ended calls, by direction (received, sent, lost: RFC 3550 expected "
            "minus received; late: after their playout time).",
            ["kind"],
            registry=self.registry,
        )
        self._jitter = Histogram(
            "callgate_call_jitter_ms",
            "Each ended call's received interarrival jitter (RFC 3550 A.8), in ms.",
            buckets=JITTER_BUCKETS,
            registry=self.registry,
        )
        self._mos = Histogram(
            "callgate_call_mos",
            "Each ended call's estimated MOS (E-model, ITU-T G.107 simplified).",
            buckets=MOS_BUCKETS,
            registry=self.registry,
        )
        self._underruns = PromCounter(
            "callgate_playout_underruns",
            "Frames the receive jitter buffer had nothing to play for, in ended calls.",
            registry=self.registry,
        )
        self.registry.register(_StateCollector(gateway))
        self._unsubscribe = gateway.bus.subscribe(self._on_event, (CallCreated, CallFinished))
        gateway.ticker.lateness_observer = self._tick_late.observe

    def close(self) -> None:
        self._unsubscribe()
        self._gateway.ticker.lateness_observer = None

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _on_event(self, event: BusEvent) -> None:
        if isinstance(event, CallFinished):
            record = event.record
            self._ended.labels(
                record.direction,
                record.disposition or "UNKNOWN",
                str(record.hangup_cause_code if record.hangup_cause_code is not None else ""),
            ).inc()
            if record.answer_time is not None:
                setup = (record.answer_time - record.start_time).total_seconds()
                self._setup.labels(record.direction).observe(max(0.0, setup))
            quality = record.quality
            if quality is not None:
                self._rtp.labels("received").inc(quality.rx_packets)
                self._rtp.labels("sent").inc(quality.tx_packets)
                self._rtp.labels("lost").inc(max(0, quality.rx_lost))
                self._rtp.labels("late").inc(quality.rx_late)
                self._underruns.inc(quality.rx_underruns)
                if quality.rx_packets:
                    self._jitter.observe(quality.rx_jitter_ms)
                if quality.mos is not None:
                    self._mos.observe(quality.mos)
        elif isinstance(event, CallCreated):
            self._started.labels(event.direction).inc()


class _StateCollector(Collector):
    """Figures read from the rooms when scraped."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        gw = self._gateway
        live = GaugeMetricFamily(
            "callgate_live_calls",
            "Calls not yet ended, by direction and state.",
            labels=["direction", "state"],
        )
        by_kind = Counter((call.record.direction, call.state.value) for call in gw.calls.calls)
        for (direction, state), count in sorted(by_kind.items()):
            live.add_metric([direction, state], count)
        yield live
        yield CounterMetricFamily(
            "callgate_media_tick_skipped_frames",
            "Frames the media tick skipped because the process fell more than 5 frames behind.",
            value=gw.ticker.skipped_frames,
        )
        dropped = CounterMetricFamily(
            "callgate_client_audio_frames_dropped",
            "Audio frames dropped for applications that did not read fast enough, by channel.",
            labels=["channel"],
        )
        for channel in ("socketio", "inbound"):
            dropped.add_metric([channel], gw.calls.client_frames_dropped.get(channel, 0))
        yield dropped
        recorder = gw.recorder
        yield GaugeMetricFamily(
            "callgate_cdr_writer_queued",
            "Call records waiting for the CDR writer's next database write.",
            value=recorder.queued,
        )
        yield GaugeMetricFamily(
            "callgate_cdr_writer_stalled_seconds",
            "How long the CDR write in progress has waited for the database (0 when none is).",
            value=recorder.stalled_s(),
        )
        yield CounterMetricFamily(
            "callgate_cdr_write_failures",
            "Database writes of call records that failed (each is retried).",
            value=recorder.write_failures,
        )
        yield CounterMetricFamily(
            "callgate_cdr_batches_written",
            "Database writes of call records that succeeded.",
            value=recorder.batches_written,
        )
        yield CounterMetricFamily(
            "callgate_database_refusals",
            "Requests refused because their call record could not be committed in time (503).",
            value=gw.requests.refusals.count,
        )
        yield CounterMetricFamily(
            "callgate_calls_dialled",
            "Outbound calls handed to the trunk.",
            value=gw.calls.dialled,
        )
        if gw.webhooks is not None:
            outcomes = CounterMetricFamily(
                "callgate_webhook_deliveries",
                "Webhook deliveries by outcome: delivered (2xx), rejected (a final refusal), "
                "expired (retried past the age limit), dropped (spool full or endpoint removed); "
                "retried counts attempts that will be made again.",
                labels=["outcome"],
            )
            for outcome in ("delivered", "retried", "rejected", "expired", "dropped"):
                outcomes.add_metric([outcome], gw.webhooks.counts[outcome])
            yield outcomes
            yield GaugeMetricFamily(
                "callgate_webhook_pending",
                "Webhook deliveries not yet taken by their endpoint.",
                value=gw.webhooks.pending(),
            )
        if isinstance(gw.trunk, ReportsSignalling):
            sip = gw.trunk.signalling_figures()
            yield GaugeMetricFamily(
                "callgate_sip_transactions",
                "Live SIP transactions (RFC 3261 §17).",
                value=sip.transactions,
            )
            yield GaugeMetricFamily(
                "callgate_sip_calls",
                "Calls the SIP call control holds, those still ending included.",
                value=sip.calls,
            )
            retransmissions = CounterMetricFamily(
                "callgate_sip_retransmissions",
                "SIP messages sent again by our timers (sent) and requests peers sent again "
                "(received): both rise with packet loss.",
                labels=["way"],
            )
            retransmissions.add_metric(["sent"], sip.retransmissions_sent)
            retransmissions.add_metric(["received"], sip.retransmissions_received)
            yield retransmissions
            yield CounterMetricFamily(
                "callgate_sip_requests_refused",
                "SIP requests refused or dropped: untrusted, malformed or over capacity.",
                value=sip.requests_refused,
            )
        held = GaugeMetricFamily(
            "callgate_idle_held",
            "What the gateway holds now, by resource (the idle-state probe, callgate/idle.py): "
            "at rest each is back to its value before the calls.",
            labels=["resource"],
        )
        for resource, count in gw.probe.snapshot().items():
            held.add_metric([resource], count)
        yield held
        recordings = gw.recordings
        yield GaugeMetricFamily(
            "callgate_recordings_active",
            "Calls being recorded now.",
            value=len(recordings.active()),
        )
        yield CounterMetricFamily(
            "callgate_recording_bytes_written",
            "WAV audio bytes the recording writer has written to disk.",
            value=recordings.bytes_written,
        )
        tap = gw.calls.tap
        yield CounterMetricFamily(
            "callgate_recording_chunks_dropped",
            "Seconds of recorded audio replaced by silence because the writer's queue was full.",
            value=tap.dropped_chunks if tap is not None else 0,
        )
        yield CounterMetricFamily(
            "callgate_recording_write_failures",
            "Disk errors of the recording writer (each is logged).",
            value=recordings.failures,
        )
        yield CounterMetricFamily(
            "callgate_recordings_deleted",
            "Recordings deleted by the retention sweep.",
            value=recordings.swept,
        )
