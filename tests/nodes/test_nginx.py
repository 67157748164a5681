"""The shipped nginx configuration (docs/nginx.conf), run by the real nginx in front of two real
`callgate serve` nodes on Redis and PostgreSQL: REST spread over both, a WebSocket client and a
long-polling client (the official socket.io-client) each carrying a whole call through it."""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.nodes.test_two_nodes import control_a_call, redis_url, running_nodes
from tests.support import free_port, need_program, tcp_open
from tests.test_crash_recovery import CONFIG, Server, wait_for

__all__ = ["redis_url"]

SHIPPED = Path(__file__).resolve().parents[2] / "docs" / "nginx.conf"

MAIN = """daemon off;
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/callgate.conf;
}}
"""


@contextlib.contextmanager
def nginx_in_front(directory: Path, a: Server, b: Server) -> Iterator[str]:
    """The real nginx (not a daemon: a child of this test) with docs/nginx.conf, its nodes being
    `a` and `b` and its port one of 127.0.0.1's; yields its URL."""
    nginx = need_program("nginx")
    directory.mkdir()
    port = free_port()
    snippet = SHIPPED.read_text()
    for placeholder in ("127.0.0.1:8081", "127.0.0.1:8082", "listen 80;"):
        assert placeholder in snippet, placeholder
    snippet = (
        snippet.replace("127.0.0.1:8081", f"127.0.0.1:{a.port}")
        .replace("127.0.0.1:8082", f"127.0.0.1:{b.port}")
        .replace("listen 80;", f"listen 127.0.0.1:{port};")
    )
    (directory / "callgate.conf").write_text(snippet)
    # Run as root, nginx's workers would switch to nobody and could not use the temp dirs here.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    (directory / "nginx.conf").write_text(MAIN.format(dir=directory, user=user))
    argv = [nginx, "-p", str(directory), "-c", str(directory / "nginx.conf")]
    argv += ["-e", str(directory / "error.log")]
    log = directory / "error.log"
    with log.open("ab") as output:
        proc = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is not None or tcp_open("127.0.0.1", port), 10)
        assert proc.poll() is None, log.read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def node_of(url: str) -> str:
    node: str = httpx.get(f"{url}/health", timeout=5).json()["data"]["nodeId"]
    return node


def socketio_sessions(server: Server) -> int:
    idle = httpx.get(f"{server.url}/health", params={"idle": 1}, timeout=5).json()["data"]["idle"]
    count: int = idle["socketio_library_sessions"]
    return count


def test_a_call_through_nginx_over_websocket_and_long_polling(
    tmp_path: Path, redis_url: str
) -> None:
    need_program("nginx")  # before the nodes are started for nothing
    with (
        running_nodes(tmp_path, redis_url, CONFIG) as (a, b),
        nginx_in_front(tmp_path / "nginx", a, b) as balancer,
    ):
        # REST is spread over both nodes.
        assert {node_of(balancer) for _ in range(10)} == {node_of(a.url), node_of(b.url)}
        # The Socket.IO sessions of this address all go to one node: find which.
        handshake = httpx.get(
            f"{balancer}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=5
        )
        assert handshake.status_code == 200, handshake.text
        counts = {server.port: socketio_sessions(server) for server in (a, b)}
        assert sorted(counts.values()) == [0, 1], counts
        sticky, other = (a, b) if counts[a.port] == 1 else (b, a)
        # WebSocket through nginx, the call placed through nginx's REST (on either node).
        control_a_call(tmp_path, balancer, balancer, "acme-ws", logs=(a, b))
        # Long polling through nginx: every poll and emit must reach the node of its session.
        control_a_call(
            tmp_path, balancer, sticky.url, "acme-poll", logs=(a, b), transports="polling"
        )
        # The WebSocket client through nginx, controlling a call the other node owns.
        control_a_call(tmp_path, balancer, other.url, "acme-far", logs=(a, b))
