"""Webhooks: signed call events POSTed to each account's endpoint, at least once, from a spool
that survives restarts (see `hooks.py` for the wiring, `signing.py` for the scheme)."""

from callgate.webhooks.hooks import Webhooks
from callgate.webhooks.settings import WebhookSettings
from callgate.webhooks.signing import SIGNATURE_HEADER, sign, verify

__all__ = ["SIGNATURE_HEADER", "WebhookSettings", "Webhooks", "sign", "verify"]
