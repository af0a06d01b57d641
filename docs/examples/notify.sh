#!/bin/sh
# notifier: post a support event with curl (and openssl for the signature).
# NOTIFIER_URL, NOTIFIER_TOKEN and, if the token has one, NOTIFIER_HMAC_SECRET come from the environment.
set -eu
url="${NOTIFIER_URL:-http://127.0.0.1:8080}/v1/events"
body='{"kind": "contact_request", "site": "shop.example.com", "conversation_id": "conv-curl-1",
 "message": "Rappelez-moi au sujet de ma commande",
 "user": {"name": "Marie", "phone": "+33 6 12 34 56 78", "consent": true}}'
timestamp=$(date +%s)
signature=""
if [ -n "${NOTIFIER_HMAC_SECRET:-}" ]; then
  signature="v1=$(printf '%s.%s' "$timestamp" "$body" | openssl dgst -sha256 -hmac "$NOTIFIER_HMAC_SECRET" | sed 's/^.* //')"
fi
curl -sS --fail-with-body -X POST "$url" \
  -H 'Content-Type: application/json' \
  -H "Authorization: Bearer ${NOTIFIER_TOKEN:-}" \
  -H "X-Notifier-Timestamp: $timestamp" \
  -H "X-Notifier-Signature: $signature" \
  --data-binary "$body"
