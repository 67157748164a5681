"""The ASGI application: REST routes, the docs, and the spec's error envelope for every failure."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callgate import __version__, collector
from callgate.api.context import ApiContext
from callgate.api.envelope import ApiError, error_response
from callgate.api.openapi import build_openapi
from callgate.api.realtime import Realtime
from callgate.api.rest import router
from callgate.api.simulate import router as simulate_router
from callgate.calls.history import CallHistory
from callgate.console import STATIC_DIR as CONSOLE_DIR
from callgate.gateway import Gateway
from callgate.metrics import CONTENT_TYPE, GatewayMetrics
from callgate.nodes.watch import OwnerWatch
from callgate.telephony.simulated import SimulatedCarrier

log = logging.getLogger(__name__)

DESCRIPTION = """The Outgoing Call Service of callgate: place and end calls, read call detail records.
Every endpoint but `/health` and the docs needs `Authorization: Bearer <token>`
(`callgate token create --account NAME`). Errors use the envelope `{status, errors, data: null}`."""


def create_app(gateway: Gateway, *, manage_lifecycle: bool = True) -> socketio.ASGIApp:
    """REST and Socket.IO (at /socket.io/) for `gateway`, as one ASGI app.

    With `manage_lifecycle` the app's lifespan starts and stops the gateway; the Realtime surface is
    reachable as `rest_app(app).state.realtime`.
    """
    realtime = Realtime(gateway.calls, gateway.jwt_secret, relay=gateway.relay)
    unprobe = gateway.probe.add(realtime)
    if gateway.relay is not None and gateway.lease is not None:
        lease = gateway.lease
        watch = OwnerWatch(gateway.relay, gateway.store, realtime, lease.key)
        lease.after_round.append(watch.check)
    metrics = GatewayMetrics(gateway)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await gateway.start()
            collector.settle()  # full collections stall media for every call: callgate/collector.py
        try:
            yield
        finally:
            metrics.close()
            await realtime.close()
            unprobe()
            if manage_lifecycle:
                await gateway.stop()

    app = FastAPI(
        title="callgate",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    app.state.api = api_context(gateway)
    # The simulator's routes are mounted either way; without the simulated carrier they answer 404.
    app.state.simulator = gateway.trunk if isinstance(gateway.trunk, SimulatedCarrier) else None
    app.state.realtime = realtime
    app.include_router(router)
    app.include_router(simulate_router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        refusal = _metrics_refusal(request, gateway.config.metrics_token)
        if refusal is not None:
            raise ApiError(*refusal)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    # The operator's console: static files over the public API (callgate/console).
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        messages = {404: "Not found", 405: "Method not allowed"}
        message = messages.get(exc.status_code, str(exc.detail))
        return error_response(exc.status_code, message, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(400, f"Invalid request: {where}: {first.get('msg', 'invalid')}")

    # Inside Starlette's ServerErrorMiddleware, which would answer too but then re-raise: the
    # server logs a second traceback and drops the keep-alive connection.
    app.add_middleware(EnvelopeOnCrash)

    return socketio.ASGIApp(realtime.sio, other_asgi_app=app, socketio_path="socket.io")


def api_context(gateway: Gateway) -> ApiContext:
    """The part of `gateway` the HTTP surfaces use."""
    config = gateway.config
    return ApiContext(
        jwt_secret=gateway.jwt_secret,
        calls=gateway.calls,
        requests=gateway.requests,
        history=CallHistory(gateway.recorder, gateway.store),
        cdr_queries=gateway.cdr_queries,
        cdr_default_limit=config.cdr_default_limit,
        cdr_max_limit=config.cdr_max_limit,
        started=lambda: gateway.started,
        recordings=gateway.recordings,
        idle=gateway.probe.snapshot,
        caller_ids=config.caller_ids(),
        node_id=config.node_id,
    )


def _metrics_refusal(request: Request, token: str) -> tuple[int, str] | None:
    """Why this scrape is refused, or None. With `metrics_token` set, its bearer token is needed;
    without, only a loopback client that came through no proxy (a proxy on the same host would
    make every outside request look local)."""
    if token:
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        return 401, "Metrics need 'Authorization: Bearer <metrics_token>'"
    host = request.client.host if request.client is not None else ""
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if local and not proxied:
        return None
    return 403, "Metrics are served to loopback clients only; set metrics_token to scrape remotely"


class EnvelopeOnCrash:
    """A bug's exception becomes one logged traceback and a 500 envelope; the connection lives on."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, watched)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for an answer: the server ends the response
            await error_response(500, "Internal server error; the incident is logged")(
                scope, receive, send
            )


def rest_app(app: socketio.ASGIApp) -> FastAPI:
    inner: FastAPI = app.other_asgi_app
    return inner
