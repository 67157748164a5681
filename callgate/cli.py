"""The `callgate` command: `serve`, and `token create` for API tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from callgate.api.auth import create_token, load_or_create_secret
from callgate.appkit import echo as echo_parser
from callgate.client import commands as client_commands
from callgate.config import Config, ConfigError, load_config

DAY_S = 86400


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callgate", description="Self-hosted voice-call gateway")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port, each a node (needs redis_url and PostgreSQL)",
    )
    serve.add_argument("--worker", help=argparse.SUPPRESS)  # I/N: run by the supervisor

    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="print a Bearer token for an account")
    create.add_argument("--account", required=True, help="account the token acts for")
    create.add_argument(
        "--ttl-days", type=float, default=365.0, help="validity in days; 0 for no expiry"
    )

    simulate = commands.add_parser(
        "simulate", help="drive the simulated carrier of a running gateway"
    )
    simulate_commands = simulate.add_subparsers(dest="simulate_command", required=True)
    inbound = simulate_commands.add_parser(
        "inbound", help="a simulated caller dials one of your numbers"
    )
    inbound.add_argument("--from", dest="caller_id", required=True, help="the caller's number")
    inbound.add_argument(
        "--to", dest="did_number", required=True, help="your number (DID) it dials"
    )
    inbound.add_argument(
        "--hangup-after", type=float, help="caller hangs up this many s after answer"
    )
    inbound.add_argument(
        "--url", help="the gateway's base URL (default http://HOST:PORT from config)"
    )

    echo_parser.build_parser(
        commands.add_parser("inbound-echo", help="run the reference inbound application (echo)")
    )
    client_commands.add_commands(commands)

    args = parser.parse_args(argv)
    try:
        if args.command == "inbound-echo":
            return echo_parser.run_from_args(args)
        if args.command in ("call", "cdr"):
            return client_commands.run(args, lambda: _local_token(args.config))
        if args.command == "serve":
            config = load_config(args.config, host=args.host, port=args.port)
            if args.worker:
                return _serve_worker(config, args.worker)
            if args.workers != 1:
                return _supervise(config, args.config, args.workers)
            return _serve(config)
        config = load_config(args.config)
        if args.command == "simulate":
            return _simulate_inbound(config, args)
        return _token_create(config, args.account, args.ttl_days)
    except ConfigError as exc:
        print(f"callgate: configuration error: {exc}", file=sys.stderr)
        return 2


def _local_token(config_path: Path | None) -> str:
    """No token given: one for account 'default' from this machine's signing secret (as `make run`
    prints), valid for an hour."""
    config = load_config(config_path)
    secret, _ = _secret(config)
    return create_token(secret, "default", 3600)


def _secret(config: Config) -> tuple[str, bool]:
    if config.jwt_secret:
        return config.jwt_secret, False
    return load_or_create_secret(config.data_dir)


def _token_create(config: Config, account: str, ttl_days: float) -> int:
    secret, _ = _secret(config)
    try:
        token = create_token(secret, account, ttl_days * DAY_S if ttl_days > 0 else None)
    except ValueError as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _simulate_inbound(config: Config, args: argparse.Namespace) -> int:
    secret, _ = _secret(config)
    url = args.url or f"http://{config.host}:{config.port}"
    body: dict[str, object] = {"callerId": args.caller_id, "didNumber": args.did_number}
    if args.hangup_after is not None:
        body["hangupAfterS"] = args.hangup_after
    request = urllib.request.Request(
        f"{url}/v1/simulate/inbound",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {create_token(secret, 'default', 60)}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        print(f"callgate: {json.loads(exc.read()).get('errors')}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"callgate: cannot reach the gateway at {url}: {exc}", file=sys.stderr)
        return 1
    print(payload["data"]["sessionId"])
    return 0


def _supervise(config: Config, config_path: Path | None, count: int) -> int:
    from callgate.logs import configure
    from callgate.nodes.workers import Supervisor, check_port, check_workers

    check_workers(config, count)
    check_port(config.host, config.port)
    configure(config.log_level, config.log_format)
    secret, generated = _secret(config)  # made once here, so the workers read one secret
    if not config.jwt_secret:
        _print_token(config, secret, generated)
    print(
        f"callgate: {count} workers on http://{config.host}:{config.port}, "
        f"nodes {config.node_id}-1 to {config.node_id}-{count}",
        flush=True,
    )
    head = [sys.executable, "-m", "callgate"]
    if config_path is not None:
        head += ["--config", str(config_path)]
    head += ["serve", "--host", config.host, "--port", str(config.port)]
    return Supervisor(lambda index: [*head, "--worker", f"{index}/{count}"], count).run()


def _serve_worker(config: Config, worker: str) -> int:
    from callgate.nodes.workers import REFUSED, check_workers, reuse_port_socket, worker_config

    index_text, _, count_text = worker.partition("/")
    index, count = int(index_text), int(count_text)
    check_workers(config, count)
    secret, _ = _secret(config)
    config = worker_config(config, index, count, secret)
    try:
        sock = reuse_port_socket(config.host, config.port)
    except OSError as exc:
        print(f"callgate: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    refused = _serve(config, sock)
    return REFUSED if refused else 0


def _print_token(config: Config, secret: str, generated: bool) -> None:
    token = create_token(secret, "default", 30 * DAY_S)
    origin = "generated" if generated else "kept"
    url = f"http://{config.host}:{config.port}"
    print(
        f"callgate: signing secret {origin} in {config.data_dir}/jwt_secret\n"
        f"callgate: development token for account 'default' (30 days):\n\n"
        f"  export TOKEN={token}\n\n"
        f"callgate: API on {url}  docs {url}/docs",
        flush=True,
    )


def _serve(config: Config, sock: socket.socket | None = None) -> int:
    """Run the gateway (on `sock` if given, a worker's shared port); 2 if it refused to start."""
    import uvicorn

    from callgate.api.http_server import server_options
    from callgate.app import create_app
    from callgate.gateway import Gateway
    from callgate.logs import configure

    configure(config.log_level, config.log_format)
    if sys.platform != "win32":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    gateway = Gateway.build(config)
    if not config.jwt_secret:
        _print_token(config, gateway.jwt_secret, gateway.secret_generated)
    server = uvicorn.Server(uvicorn.Config(create_app(gateway), **server_options(config)))
    try:
        server.run(sockets=None if sock is None else [sock])
    except SystemExit:  # uvicorn's exit on a failed start-up
        if not gateway.refusal:
            raise
    if gateway.refusal:
        print(f"callgate: {gateway.refusal}", file=sys.stderr)
        return 2
    return 0 if server.started else 3  # uvicorn's status for a failed start-up


if __name__ == "__main__":
    sys.exit(main())
