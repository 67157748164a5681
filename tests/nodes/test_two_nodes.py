"""Two real `callgate serve` nodes sharing PostgreSQL and Redis: a client on one controls calls the
other owns (the official JavaScript socket.io-client), REST hangups reach the owner, and the
clients of a killed node's calls are told `hangup` then `cdr`."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from callgate.api.auth import create_token
from callgate.media.signals import align, dominant_frequency_hz, sine_pcm16
from tests.api.test_js_client import JS_DIR, node_with_client
from tests.support import need, postgres_database
from tests.test_crash_recovery import CONFIG, SECRET, Server, wait_for

REDIS_URL = "redis://127.0.0.1:6379/11"  # this suite's own db number


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        up = bool(client.ping())
    except redis.ConnectionError:
        up = False
    need(up, "no Redis on 127.0.0.1:6379 (redis-server)")
    yield REDIS_URL
    client.close()


@pytest.fixture
def nodes(tmp_path: Path, redis_url: str) -> Iterator[tuple[Server, Server]]:
    with running_nodes(tmp_path, redis_url, CONFIG) as pair:
        yield pair


@contextlib.contextmanager
def running_nodes(tmp_path: Path, redis_url: str, config: str) -> Iterator[tuple[Server, Server]]:
    tag = uuid.uuid4().hex[:8]
    with postgres_database("cg_nodes2") as database_url:
        pair = []
        for name in ("a", "b"):
            data_dir = tmp_path / name
            data_dir.mkdir()
            server = Server(data_dir, database_url, config)
            server.env["CALLGATE_NODE_ID"] = f"node-{name}-{tag}"
            server.env["CALLGATE_REDIS_URL"] = redis_url
            pair.append(server)
        a, b = pair
        try:
            a.start()
            b.start()
            yield a, b
        finally:
            a.stop()
            b.stop()


def token(account: str) -> str:
    return create_token(SECRET, account)


def test_a_client_on_one_node_controls_a_call_the_other_owns(
    tmp_path: Path, nodes: tuple[Server, Server]
) -> None:
    a, b = nodes
    account = f"acme-{uuid.uuid4().hex[:6]}"
    control_a_call(tmp_path, a.url, b.url, account, logs=(a, b))
    # The call was B's: its live list had it, A's never did, and the record says so.
    headers = {"Authorization": f"Bearer {token(account)}"}
    records = httpx.get(f"{a.url}/v1/cdr", headers=headers, timeout=10).json()["data"]
    assert [r["hangupBy"] for r in records] == ["CALLER"]


def control_a_call(
    tmp_path: Path,
    socket_url: str,
    call_url: str,
    account: str,
    *,
    logs: tuple[Server, ...],
    transports: str = "websocket",
) -> None:
    """two_nodes.mjs: a client on `socket_url` controls a call placed through `call_url`: audio
    both ways checked by content, checkpoint, interruption, dtmf, hangup and cdr."""
    node = node_with_client()
    tone = sine_pcm16(700.0, 1.0)
    tone_file = tmp_path / "tone.pcm"
    tone_file.write_bytes(tone)
    args = [socket_url, call_url, token(account), "089608675796", str(tone_file)]
    result = subprocess.run(
        [node, "two_nodes.mjs", *args],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=40,
        env={**os.environ, "SIO_TRANSPORTS": transports},
    )
    assert result.returncode == 0, result.stderr + "".join(s.log.read_text() for s in logs)
    output = json.loads(result.stdout)
    seen = output["seen"]
    statuses = [entry[1] for entry in seen if entry[0] == "dialStatus"]
    # The simulated callee rings 100 ms after the dial: a join through Redis may land after it,
    # and then, like any late joiner, learns the state the call is in (never a step back).
    assert statuses in (["Dialing", "Ringing", "Connected"], ["Ringing", "Connected"])
    assert [entry for entry in seen if entry[0] != "dialStatus"] == [
        ["newSession", "outbound"],  # from the call's node, through Redis if not the client's
        ["roomJoined", "success"],
        ["checkPointAck", True],
        ["checkPoint", "tone-end", "played"],
        ["interruptionAck", True],
        ["dtmfAck", True],
        ["dtmf", "7"],
        ["hangupAck", True],
        ["hangup"],
        ["cdr", "ANSWERED", "CALLER", 16],
    ]
    # Most of the three seconds queued was discarded by the interruption, run on the owner.
    assert output["interrupted"]["discardedMs"] > 2000
    heard = base64.b64decode(output["heard"])
    alignment = align(tone, heard)  # the echo callee sent the tone back, whole
    assert alignment.peak > 0.99
    start = alignment.lag_samples * 2
    assert abs(dominant_frequency_hz(heard[start : start + len(tone)]) - 700.0) < 5


def test_a_hangup_posted_to_another_node_ends_the_call(nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    headers = {"Authorization": f"Bearer {token(f'acme-{uuid.uuid4().hex[:6]}')}"}
    with httpx.Client(headers=headers, timeout=10) as client:
        placed = client.post(f"{b.url}/pbx/call", json={"phoneNumber": "7000001"}).json()
        session_id = placed["data"]["sessionId"]
        wait_for(
            lambda: (
                [c["status"] for c in client.get(f"{b.url}/v1/calls").json()["data"]]
                == ["Connected"]
            )
        )
        answer = client.post(f"{a.url}/pbx/hangup", json={"sessionId": session_id})
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == {"sessionId": session_id}
        wait_for(lambda: client.get(f"{b.url}/v1/calls").json()["data"] == [])
        record = client.get(f"{a.url}/v1/cdr/{session_id}").json()["data"]
        assert (record["hangupBy"], record["hangupCauseCode"]) == ("CALLER", 16)
        missing = client.post(f"{a.url}/pbx/hangup", json={"sessionId": str(uuid.uuid4())})
        assert missing.status_code == 404


def test_clients_of_a_killed_nodes_calls_are_told_within_30_s(
    nodes: tuple[Server, Server],
) -> None:
    node = node_with_client()
    a, b = nodes
    account = f"acme-{uuid.uuid4().hex[:6]}"
    headers = {"Authorization": f"Bearer {token(account)}"}
    with httpx.Client(base_url=b.url, headers=headers, timeout=10) as client:
        placed = [
            client.post("/pbx/call", json={"phoneNumber": f"70000{i:02d}"}).json()["data"][
                "sessionId"
            ]
            for i in range(20)
        ]
        wait_for(
            lambda: (
                [c["status"] for c in client.get("/v1/calls").json()["data"]] == ["Connected"] * 20
            )
        )
    with subprocess.Popen(
        [node, "follow_calls.mjs", a.url, token(account), *placed],
        cwd=JS_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follower:
        try:
            assert follower.stdout is not None
            assert json.loads(follower.stdout.readline()) == ["joined", 20]
            b.kill()
            killed = time.monotonic()
            lines = [json.loads(line) for line in follower.stdout]
            told_s = time.monotonic() - killed
            assert follower.wait(5) == 0, follower.stderr.read() if follower.stderr else ""
        finally:
            if follower.poll() is None:
                follower.kill()
    assert told_s < 30
    for session_id in placed:
        mine = [line for line in lines if line[1] == session_id]
        assert mine == [["hangup", session_id], ["cdr", session_id, 127, True]]
    # New calls go to the survivor.
    with httpx.Client(base_url=a.url, headers=headers, timeout=10) as client:
        assert client.post("/pbx/call", json={"phoneNumber": "7000099"}).status_code == 200


def test_the_account_limits_hold_across_nodes(tmp_path: Path, redis_url: str) -> None:
    # TOML keys after a table belong to it: the limits go first.
    config = "max_concurrent_calls = 3\ncalls_per_second = 0.05\ncalls_burst = 4\n" + CONFIG
    with running_nodes(tmp_path, redis_url, config) as (a, b):
        headers = {"Authorization": f"Bearer {token(f'acme-{uuid.uuid4().hex[:6]}')}"}
        with httpx.Client(headers=headers, timeout=10) as client:

            def place(server: Server, number: str) -> httpx.Response:
                return client.post(f"{server.url}/pbx/call", json={"phoneNumber": number})

            placed = [place(a, "7000001"), place(b, "7000002"), place(a, "7000003")]
            assert [r.status_code for r in placed] == [200] * 3, placed[2].text
            # Three live calls over both nodes: the fourth is refused on either.
            for server in (a, b):
                refused = place(server, "7000004")
                assert refused.status_code == 429, refused.text
                assert "concurrent" in refused.json()["errors"]
            session_id = placed[1].json()["data"]["sessionId"]
            assert client.post(f"{a.url}/pbx/hangup", json={"sessionId": session_id}).is_success
            wait_for(lambda: client.get(f"{b.url}/v1/calls").json()["data"] == [])
            # A slot is free again; the bucket (4 at once, then one every 20 s) has one token left.
            assert place(b, "7000005").status_code == 200
            session_id = placed[0].json()["data"]["sessionId"]
            assert client.post(f"{a.url}/pbx/hangup", json={"sessionId": session_id}).is_success
            wait_for(lambda: len(client.get(f"{a.url}/v1/calls").json()["data"]) == 1)
            refused = place(b, "7000006")
            assert refused.status_code == 429, refused.text
            assert "per second" in refused.json()["errors"]
