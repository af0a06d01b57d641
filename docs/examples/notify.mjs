// notifier: post a support event from Node.js 18+ (server side: the token stays on your server).
import { createHmac } from "node:crypto";
import { fileURLToPath } from "node:url";

const NOTIFIER_URL = process.env.NOTIFIER_URL ?? "http://127.0.0.1:8080";
const NOTIFIER_TOKEN = process.env.NOTIFIER_TOKEN; // events:write, bound to your site
const NOTIFIER_HMAC_SECRET = process.env.NOTIFIER_HMAC_SECRET; // only if the token has one

export async function sendEvent(event) {
  const body = JSON.stringify(event);
  const headers = { "Content-Type": "application/json" };
  if (NOTIFIER_TOKEN) headers.Authorization = `Bearer ${NOTIFIER_TOKEN}`;
  if (NOTIFIER_HMAC_SECRET) {
    const timestamp = String(Math.floor(Date.now() / 1000));
    headers["X-Notifier-Timestamp"] = timestamp;
    headers["X-Notifier-Signature"] =
      "v1=" + createHmac("sha256", NOTIFIER_HMAC_SECRET).update(`${timestamp}.${body}`).digest("hex");
  }
  const response = await fetch(`${NOTIFIER_URL.replace(/\/$/, "")}/v1/events`, {
    method: "POST",
    headers,
    body,
    signal: AbortSignal.timeout(5000),
  });
  const answer = await response.json();
  if (response.status !== 202) throw new Error(`notifier: HTTP ${response.status}: ${answer.error}`);
  return answer; // {id, duplicate, deliveries: [...]}
}

// `node notify.mjs` sends one example request.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const answer = await sendEvent({
    kind: "support_request",
    site: "shop.example.com",
    conversation_id: "conv-node-1",
    message: "Je voudrais parler à un conseiller",
    user: { name: "Marie", email: "marie@example.com", consent: true },
    page: { url: "https://shop.example.com/commande", title: "Suivi de commande" },
  });
  console.log(JSON.stringify(answer));
}
