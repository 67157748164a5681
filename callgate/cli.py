"""The `callgate` command: `serve`, and `token create` for API tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
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


def _serve(config: Config) -> int:
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
        token = create_token(gateway.jwt_secret, "default", 30 * DAY_S)
        origin = "generated" if gateway.secret_generated else "kept"
        url = f"http://{config.host}:{config.port}"
        print(
            f"callgate: signing secret {origin} in {config.data_dir}/jwt_secret\n"
            f"callgate: development token for account 'default' (30 days):\n\n"
            f"  export TOKEN={token}\n\n"
            f"callgate: API on {url}  docs {url}/docs",
            flush=True,
        )
    uvicorn.run(create_app(gateway), **server_options(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
