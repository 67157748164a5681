"""The OpenAPI document describes the API exactly, checked by schemathesis against a live server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callgate.api.auth import create_token
from tests.api.conftest import Api
from tests.served import served as serve

SECRET = "openapi-test-secret-" + "o" * 40
# Bounded: schemathesis stops generating when its budget is spent; the process is killed after.
BUDGET_S = 30
SEED = int(os.environ.get("CALLGATE_SCHEMATHESIS_SEED", "1"))


async def test_the_document_states_auth_errors_and_parameters(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "callgate token create --account NAME",
    }
    assert document["security"] == [{"bearerAuth": []}]
    paths: dict[str, Any] = document["paths"]
    assert paths["/health"]["get"]["security"] == []
    call = paths["/pbx/call"]["post"]
    number = call["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert number["phoneNumber"]["pattern"] == r"^\+?[0-9]{3,20}$"
    assert set(call["responses"]) == {"200", "400", "401", "409", "413", "415", "429", "503"}
    assert "Retry-After" in call["responses"]["429"]["headers"]
    assert "Retry-After" in call["responses"]["503"]["headers"]
    assert {p["name"] for p in call["parameters"]} == {"Idempotency-Key"}
    listing = paths["/v1/cdr"]["get"]
    names = {param["name"] for param in listing["parameters"]}
    assert {"page", "limit", "sortBy", "filter.destination", "filter.startTime"} <= names
    assert set(listing["responses"]) == {"200", "400", "401", "429", "503"}
    assert "422" not in paths["/v1/cdr/{sessionId}"]["get"]["responses"]
    simulate = paths["/v1/simulate/inbound"]["post"]["requestBody"]["content"]
    assert simulate["application/json"]["schema"]["required"] == ["callerId", "didNumber"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`callgate serve` on its defaults (SQLite, the simulated carrier) on a free port."""
    log = tmp_path / "server.log"
    with serve(tmp_path / "data", log, jwt_secret=SECRET, log_level="warning") as url:
        yield url
    errors = log.read_text(errors="replace")
    assert "Traceback" not in errors, errors[-3000:]


def test_schemathesis_finds_no_failure_with_every_check(served: str, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "run",
        f"{served}/openapi.json",
        "--checks",
        "all",  # undocumented status codes, schema conformance, negative data rejected...
        "--header",
        f"Authorization: Bearer {create_token(SECRET, 'acme')}",
        "--max-time",
        str(BUDGET_S),
        "--max-examples",
        "30",
        "--seed",
        str(SEED),
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=BUDGET_S + 60, check=False
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


async def test_what_the_document_made_exact_in_the_code(api: Api) -> None:
    # A number with leading zeros is the same number, however many (was: over 18 digits, a 400).
    zeros = "0" * 30 + "5"
    response = await api.client.get(f"/v1/cdr?filter.duration=$lte:{zeros}", headers=api.auth())
    assert response.status_code == 200, response.text
    # record is a boolean, as documented (was: anything, read as true or false by Python).
    response = await api.client.post(
        "/v1/simulate/inbound",
        json={"callerId": "0811", "didNumber": "0215", "record": "no"},
        headers=api.auth(),
    )
    assert response.status_code == 400
    assert response.json()["errors"] == "record must be true or false"
