"""Pipecat tests run on the loop `callgate serve` runs on: uvloop (as the telephony tests do).

Its transports are not asyncio's classes (a uvloop TCP transport is no `asyncio.Transport`), so a
transport test on the stdlib loop can pass while `serve` fails every connection (issue 12, defect 1).
"""

from __future__ import annotations

import pytest
import uvloop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    return {"uvloop": uvloop.new_event_loop}
