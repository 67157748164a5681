"""The operator's console at `/console`: static HTML, CSS and a little JavaScript over the public API.

No build step and no server-side state: the page asks for a token, keeps it in the tab's session
storage, and uses the same REST endpoints an application does (`/v1/calls` for live calls and their
level meters, `/pbx/hangup`, `/v1/cdr` with the query language). What it may see is what that
token's account may see.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
