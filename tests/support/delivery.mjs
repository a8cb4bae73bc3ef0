// What the durable-delivery suites share: the admin routes, the ledger read directly from D1,
// and a receiver for result webhooks that checks their signature.
import assert from "node:assert/strict";
import http from "node:http";
import { signature } from "../../sandbox/webhook.mjs";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A request to an admin route with `Authorization: Bearer <token>`. */
export function admin(relay, method, pathname, token = ADMIN_TOKEN) {
  return relay.request(method, pathname, { headers: { authorization: `Bearer ${token}` } });
}

/** Polls GET /v1/deliveries/{id} until the delivery reaches `status` (or fails the test). */
export async function waitForStatus(relay, id, status, { ms = 20_000, token = ADMIN_TOKEN } = {}) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await admin(relay, "GET", `/v1/deliveries/${encodeURIComponent(id)}`, token);
    if (last.status === 200 && last.json.status === status) return last.json;
    await sleep(100);
  }
  assert.fail(`delivery ${id} did not become ${status}; last: ${last?.status} ${last?.text}`);
}

/** The ledger row of `id`, read straight from D1 (snake_case columns), or null. */
export async function ledgerRow(relay, id) {
  const db = await relay.mf.getD1Database("LEDGER");
  return db.prepare("SELECT * FROM deliveries WHERE webhook_id = ?1").bind(id).first();
}

/** Polls the ledger row of `id` until `predicate` holds (or fails the test naming `what`). */
export async function waitForRow(relay, id, predicate, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await ledgerRow(relay, id);
    if (last && predicate(last)) return last;
    await sleep(100);
  }
  assert.fail(`delivery ${id} did not become ${what}; last: ${JSON.stringify(last)}`);
}

/**
 * A receiver for the relay's result webhooks. Keeps each POST's method, path, headers, raw text,
 * JSON, id and timestamp; `valid` says whether its Standard Webhooks signature verifies with
 * `secret`, and `verifiesWith` names those of `candidates` ({name: secret}) it verifies with.
 */
export async function startResultReceiver(secret, candidates = {}, { respond } = {}) {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const id = req.headers["webhook-id"];
      const timestamp = req.headers["webhook-timestamp"];
      const given = String(req.headers["webhook-signature"] ?? "").split(" ");
      const verifies = (s) => given.includes(signature({ secret: s, id, timestamp, body }));
      const text = body.toString("utf8");
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      const entry = {
        method: req.method, path: req.url, headers: { ...req.headers }, text, json, id, timestamp,
        valid: verifies(secret),
        verifiesWith: Object.entries(candidates).filter(([, s]) => verifies(s)).map(([name]) => name),
      };
      received.push(entry);
      // `respond(entry)` scripts the answer: {status, json} (default 200 {}), or "hang".
      const answer = respond?.(entry) ?? { status: 200, json: {} };
      if (answer === "hang") return;
      res.writeHead(answer.status ?? 200, { "content-type": "application/json" }).end(JSON.stringify(answer.json ?? {}));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/results`,
    received,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
