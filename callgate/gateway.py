"""The running gateway: wires clock, trunk, call service, CDR store and writer, and runs their lifecycle.

Only this module and the entry points (`app.py`, `cli.py`) know every room.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from callgate.api.auth import load_or_create_secret
from callgate.api.idempotency import CallRequests
from callgate.api.limits import CallAdmission, QueryGate
from callgate.calls.bus import EventBus
from callgate.calls.recorder import Recorder, recover_orphans
from callgate.calls.recordstore import RecordStore
from callgate.calls.service import CallService, CallSettings
from callgate.calls.trunk import Trunk
from callgate.clock import Clock, LoopClock, MediaTicker
from callgate.config import Config
from callgate.idle import IdleProbe
from callgate.inbound.connector import InboundConnector, InboundSettings
from callgate.nodes.hangups import remote_hangup, serve_hangups
from callgate.nodes.lease import NodeIdInUse, NodeLease
from callgate.nodes.limits import GlobalAdmission
from callgate.nodes.relay import NodeRelay
from callgate.store import SqlRecordStore
from callgate.store.recordings import WavRecordings
from callgate.telephony.simulated import SimulatedCarrier
from callgate.telephony.siptrunk import SipTrunk
from callgate.webhooks import Webhooks

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    config: Config
    clock: Clock
    ticker: MediaTicker
    store: RecordStore
    recorder: Recorder
    bus: EventBus
    trunk: Trunk
    calls: CallService
    admission: CallAdmission
    inbound: InboundConnector
    requests: CallRequests
    recordings: WavRecordings
    jwt_secret: str
    secret_generated: bool = False
    cdr_queries: QueryGate = field(default_factory=QueryGate)
    webhooks: Webhooks | None = None
    lease: NodeLease | None = None  # with redis_url: this node's lease, and the reaper
    probe: IdleProbe = field(default_factory=IdleProbe)  # what a finished call must give back
    relay: NodeRelay | None = None  # with redis_url: messages to and from the other nodes
    started: bool = field(default=False, init=False)
    refusal: str = field(default="", init=False)  # why start() refused (another node's node_id)

    @classmethod
    def build(
        cls,
        config: Config,
        *,
        clock: Clock | None = None,
        ticker: MediaTicker | None = None,
        store: RecordStore | None = None,
        trunk: Trunk | None = None,
    ) -> Gateway:
        """Wire a gateway; a `trunk` passed in must run on the same `clock` and `ticker`."""
        clock = clock or LoopClock()
        ticker = ticker or MediaTicker(clock)
        ticker.on_error = lambda exc: log.error("media tick listener failed: %r", exc)
        store = store or SqlRecordStore(
            config.effective_database_url,
            # The listings' slots, plus two so single-record reads rarely wait for a connection.
            read_connections=config.cdr_queries_total + 2,
            query_budget_s=config.cdr_query_budget_s,
        )
        recorder = Recorder(store, clock, node=config.node_id)
        bus = EventBus()
        if trunk is None:
            sip = config.sip
            trunk = (
                SipTrunk(sip, clock, ticker)
                if sip is not None
                else SimulatedCarrier(clock, ticker, config.simulator_scripts)
            )
        settings = CallSettings(
            ring_timeout_s=config.ring_timeout_s,
            max_call_duration_s=config.max_call_duration_s,
            node=config.node_id,
            no_client_grace_s=config.no_client_grace_s,
            playout_max_s=config.playout_max_s,
            drain_cap_s=config.hangup_drain_cap_s,
            playout_prebuffer_ms=config.playout_prebuffer_ms,
            record_timeout_s=config.call_record_timeout_s,
            record_calls=config.record_calls,
        )
        recordings = WavRecordings(
            config.effective_recordings_dir,
            clock,
            retention_days=config.recording_retention_days,
            also_in=config.recordings_also,
        )
        service = CallService(trunk, clock, ticker, bus, recorder, settings, recordings)
        inbound = InboundConnector(
            service,
            InboundSettings(
                routes=config.all_inbound_routes,
                connect_timeout_s=config.inbound_connect_timeout_s,
                answer_timeout_s=config.inbound_answer_timeout_s,
            ),
        )
        service.on_incoming = inbound.offer
        admission = CallAdmission(
            clock, config.calls_per_second, config.calls_burst, config.max_concurrent_calls
        )
        requests = CallRequests(clock, store, service, admission)
        lease, relay = _nodes(config, store, clock)
        if relay is not None:
            relay.follow(bus)
            serve_hangups(relay, service)
            requests.remote_hangup = remote_hangup(relay)
            shared = GlobalAdmission(
                relay.redis,
                clock,
                admission,
                rate_per_s=config.calls_per_second,
                burst=config.calls_burst,
                max_concurrent=config.max_concurrent_calls,
            )
            shared.follow(bus, relay.queue_job)
            requests.shared_admission = shared
            if lease is not None:
                lease.after_round.append(shared.refresh)
        if config.jwt_secret:
            secret, generated = config.jwt_secret, False
        else:
            secret, generated = load_or_create_secret(config.data_dir)
        gateway = cls(
            config=config,
            clock=clock,
            ticker=ticker,
            store=store,
            recorder=recorder,
            bus=bus,
            trunk=trunk,
            calls=service,
            admission=admission,
            cdr_queries=QueryGate(
                config.cdr_queries_per_account,
                config.cdr_queries_total,
                wait_s=config.cdr_query_budget_s,
            ),
            inbound=inbound,
            requests=requests,
            recordings=recordings,
            jwt_secret=secret,
            secret_generated=generated,
            webhooks=(
                Webhooks(config.webhooks, config.data_dir / "webhooks", clock)
                if config.webhooks
                else None
            ),
            lease=lease,
            relay=relay,
        )
        gateway.probe = IdleProbe(
            (clock, ticker, bus, service, trunk, inbound, recorder, gateway.requests)
        )
        return gateway

    async def start(self) -> None:
        if self.config.effective_database_url.startswith("sqlite"):
            self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await self.store.open()
        if self.lease is not None:
            # Before the orphans are closed: they are another live node's calls if it holds the
            # lease (NodeIdInUse stops the start), and before the first call is placed here.
            try:
                await self.lease.claim()
            except NodeIdInUse as exc:
                self.refusal = str(exc)
                raise
        await recover_orphans(self.store, self.config.node_id, self.clock.utcnow())
        self.recorder.start()
        if self.relay is not None:
            await self.relay.start()
        if self.lease is not None:
            self.lease.start()
        await self.recordings.start()  # repairs what a killed process left unfinished
        if self.webhooks is not None:
            await self.webhooks.start(self.bus.subscribe)
        await self.calls.start()
        self.started = True

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        await self.calls.stop()
        await self.recordings.stop()  # after the calls: their files are closed and renamed
        if self.webhooks is not None:
            await self.webhooks.stop()  # after the calls: their call.ended is spooled
        await self.inbound.close()
        self.ticker.stop()
        await self.recorder.stop()
        if self.relay is not None:
            await self.relay.stop()  # after the calls: their ends were relayed
        if self.lease is not None:
            await self.lease.stop()  # after the recorder: this node's records are closed
        await self.store.close()


def _nodes(
    config: Config, store: RecordStore, clock: Clock
) -> tuple[NodeLease | None, NodeRelay | None]:
    if not config.redis_url:
        return None, None
    from redis.asyncio import Redis  # only a node that shares state needs the client

    redis = Redis.from_url(config.redis_url)
    return NodeLease(redis, store, clock, config.node_id), NodeRelay(redis, config.node_id)
