"""``notifier token new``: make an API token and the ``channels.yaml`` lines that allow it.

The token itself is printed once, for the client; only its hash goes into the file::

    $ notifier token new --name shop-bot --scope events:write --site shop.example.com
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import secrets
import sys

from notifier.auth import ENV_TOKEN, Authenticator, hash_token, new_token
from notifier.config.auth import SCOPES, AuthConfig

__all__ = ["add_arguments", "exposure_refusal", "exposure_warning", "run"]


def exposure_refusal(host: str, auth: AuthConfig, env_token: str | None, insecure: bool) -> str | None:
    """Why ``serve`` must not listen on ``host``, or ``None``.

    Without any token the API hands out users' personal data and replays deliveries to
    whoever asks, so it only listens on loopback unless ``--insecure`` says otherwise.
    """
    if insecure or exposure_warning(host, auth, env_token) is None:
        return None
    return (f"refusing to listen on {host} without any API token: anyone who reaches it could read users' "
            f"data and replay deliveries; add auth.tokens to channels.yaml (`notifier token new`) or set "
            f"{ENV_TOKEN}, or pass --insecure if a proxy in front already checks access")


def exposure_warning(host: str, auth: AuthConfig, env_token: str | None) -> str | None:
    """The warning ``serve --insecure`` prints when it does listen unguarded beyond loopback."""
    if Authenticator(auth.tokens, env_token).enabled or _loopback(host):
        return None
    return f"warning: --insecure: the API on {host} answers anyone, without a token"


def _loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name could resolve to anything


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``token`` command's arguments."""
    sub = parser.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    p = sub.add_parser("new", help="make a token; print it and the channels.yaml entry holding its hash")
    p.add_argument("--name", default=None, help="shown in errors and logs (default: a random name)")
    p.add_argument("--scope", action="append", choices=SCOPES, default=None,
                   help="events:write, read or admin; repeat for several (default: events:write)")
    p.add_argument("--site", action="append", default=None, help="only this site; repeat for several")
    p.add_argument("--hmac", action="store_true",
                   help="also make a secret the client must sign its event bodies with")
    p = sub.add_parser("webhook-secret", help="make a signing_secret (whsec_…) for a webhook channel")


def run(args: argparse.Namespace) -> int:
    """Print a new token and its ``auth.tokens`` entry, or a webhook signing secret."""
    if args.token_command == "webhook-secret":
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        sys.stdout.write(f"{secret}\n\nset it on the webhook channel (and give it to the receiver):\n"
                         f"  signing_secret: \"${{HOOK_SIGNING_SECRET}}\"   # HOOK_SIGNING_SECRET={secret}\n")
        return 0
    token = new_token()
    name = args.name or f"token-{secrets.token_hex(3)}"
    scopes = list(dict.fromkeys(args.scope or ["events:write"]))
    lines = [f"    - name: {_quote(name)}",
             f"      secret: \"{hash_token(token)}\"",
             f"      scopes: [{', '.join(scopes)}]"]
    if args.site:
        lines.append(f"      sites: [{', '.join(_quote(s) for s in dict.fromkeys(args.site))}]")
    hmac_secret = None
    if args.hmac:
        hmac_secret = secrets.token_urlsafe(32)
        env = "NOTIFIER_HMAC_" + "".join(c if c.isalnum() else "_" for c in name.upper())
        lines.append(f"      hmac_secret: \"${{{env}}}\"   # set {env} in the server's environment")
    out = sys.stdout
    out.write(f"token (give it to the client; it is not stored anywhere):\n  {token}\n")
    if hmac_secret:
        out.write(f"signing secret (the client signs with it; the server reads it from the environment):\n"
                  f"  {hmac_secret}\n")
    out.write("\nadd to channels.yaml:\n\nauth:\n  tokens:\n" + "\n".join(lines) + "\n")
    return 0


def _quote(text: str) -> str:
    # JSON strings are valid YAML flow scalars, so any name or site is written safely.
    import json

    return json.dumps(text, ensure_ascii=False)
