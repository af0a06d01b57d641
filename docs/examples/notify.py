"""notifier: post a support event from Python with httpx (on your server)."""

import hashlib
import hmac
import json
import os
import time

import httpx

NOTIFIER_URL = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8080")
NOTIFIER_TOKEN = os.environ.get("NOTIFIER_TOKEN")  # events:write, bound to your site
NOTIFIER_HMAC_SECRET = os.environ.get("NOTIFIER_HMAC_SECRET")  # only if the token has one


def send_event(event: dict) -> dict:
    """Post one event; returns notifier's answer {id, duplicate, deliveries}."""
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if NOTIFIER_TOKEN:
        headers["Authorization"] = f"Bearer {NOTIFIER_TOKEN}"
    if NOTIFIER_HMAC_SECRET:
        timestamp = str(int(time.time()))
        mac = hmac.new(NOTIFIER_HMAC_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        headers["X-Notifier-Timestamp"] = timestamp
        headers["X-Notifier-Signature"] = "v1=" + mac.hexdigest()
    response = httpx.post(f"{NOTIFIER_URL.rstrip('/')}/v1/events", content=body, headers=headers, timeout=5)
    if response.status_code != 202:
        raise RuntimeError(f"notifier: HTTP {response.status_code}: {response.text}")
    return response.json()


if __name__ == "__main__":  # `python notify.py` sends one example request
    print(json.dumps(send_event({
        "kind": "support_request",
        "site": "shop.example.com",
        "conversation_id": "conv-python-1",
        "message": "Je voudrais parler à un conseiller",
        "user": {"name": "Marie", "email": "marie@example.com", "consent": True},
        "page": {"url": "https://shop.example.com/commande", "title": "Suivi de commande"},
    })))
