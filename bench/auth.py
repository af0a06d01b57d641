"""What checking a token and a signed body costs per request.

    python bench/auth.py [--tokens 1,10,100] [--body 2000]

Times, in microseconds per call, the lookup of a bearer token among N configured tokens
(every one compared in constant time) and the verification of a signed event body, the
two checks `POST /v1/events` adds when `auth.tokens` is set. Numbers vary with the
machine; run it on the one you deploy to.
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from notifier.auth import Authenticator, hash_token, new_token, sign_body, signature_problem  # noqa: E402
from notifier.config.auth import TokenConfig  # noqa: E402


def per_call(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", default="1,10,100")
    parser.add_argument("--body", type=int, default=2000, help="bytes of the signed body")
    args = parser.parse_args()
    print(f"{'tokens':>7}  {'identify µs':>12}  {'wrong token µs':>15}")
    for n in (int(x) for x in args.tokens.split(",")):
        tokens = [new_token() for _ in range(n)]
        auth = Authenticator([TokenConfig(name=f"t{i}", secret=hash_token(t), scopes=["events:write"])
                              for i, t in enumerate(tokens)])
        good, bad = f"Bearer {tokens[-1]}", f"Bearer {new_token()}"
        found = per_call(partial(auth.identify, good), 2000)
        missed = per_call(partial(auth.identify, bad), 2000)
        print(f"{n:>7}  {found:>12.1f}  {missed:>15.1f}")
    body = b"x" * args.body
    secret, now = "a-shared-hmac-secret-0123456789", int(time.time())
    signature = sign_body(secret, now, body)
    us = per_call(lambda: signature_problem(secret, str(now), signature, body, now), 2000)
    print(f"\nsigned body of {args.body} bytes verified in {us:.1f} µs")


if __name__ == "__main__":
    main()
