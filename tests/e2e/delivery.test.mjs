// Durable delivery end to end: the D1 ledger, idempotency by webhook-id, queued retries, dead
// letters, manual retry and the result webhook, with a fake Baidu scripted to fail.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { prepareBuild, startPair, KEYS, ROUTE, PATHS } from "../support/e2e.mjs";
import { ADMIN_TOKEN, admin, waitForStatus, startResultReceiver } from "../support/delivery.mjs";

const FAST_RETRIES = { MAX_ATTEMPTS: "8", RETRY_BASE_DELAY_SECONDS: "0", RETRY_MAX_DELAY_SECONDS: "0", ADMIN_TOKEN };

let buildDir;
before(async () => {
  buildDir = await prepareBuild();
});

let orderSeq = 3_000_000_000;
const nextOrder = () => ({ orderId: ++orderSeq, userId: 4188819900 });


async function waitFor(predicate, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const callsFor = (baidu, orderId) => baidu.calls.filter((c) => c.params?.orderId === String(orderId));

const NUOMI_METHOD = "nuomi.cashier.syncorderstatus";

/**
 * What is wrong with a cashier call against the contract's form (baidu-api.md §2), as text; "" when
 * nothing is: a POST form with orderId, userId, type=3, appKey and rsaSign (plus method on the nuomi
 * host), each once and nothing else, for this order, and an rsaSign that verifies.
 */
function contractProblems(call, { orderId, userId, appKey }) {
  const problems = [];
  if (call.method !== "POST") problems.push(`method ${call.method}`);
  if (!/^application\/x-www-form-urlencoded/.test(call.headers["content-type"] ?? "")) problems.push(`content-type ${call.headers["content-type"]}`);
  if (Object.keys(call.query).length) problems.push(`query string ${JSON.stringify(call.query)}`);
  const keys = (call.paramList ?? []).map(([k]) => k);
  if (new Set(keys).size !== keys.length) problems.push(`duplicate form parameters ${keys}`);
  const expected = { orderId: String(orderId), userId: String(userId), type: "3", appKey, rsaSign: call.params?.rsaSign };
  if (call.path === PATHS.nuomi) expected.method = NUOMI_METHOD;
  else if (call.path !== PATHS.etrade) problems.push(`path ${call.path}`);
  try { assert.deepEqual(call.params, expected); } catch { problems.push(`form ${JSON.stringify(call.params)}, expected ${JSON.stringify(expected)}`); }
  if (call.signatureValid !== true || call.valid !== true) problems.push(`rsaSign does not verify over ${call.canonical}`);
  return problems.join("; ");
}

describe("retries", () => {
  let pair;
  let results;
  before(async () => {
    results = await startResultReceiver("whsec_" + Buffer.alloc(32, 7).toString("base64"));
    pair = await startPair({
      buildDir,
      key: KEYS["2048 PKCS#8 PEM"],
      secret: "whsec_" + Buffer.alloc(32, 7).toString("base64"),
      RESULT_WEBHOOK_URL: results.url,
      ...FAST_RETRIES,
      MAX_ATTEMPTS: "3",
    });
  });
  after(async () => {
    await pair?.close();
    await results?.close();
  });

  test("Baidu fails twice, then succeeds: 202 queued, delivered exactly once after 3 attempts, one result webhook", async () => {
    const order = nextOrder();
    pair.baidu.respondForOrder(String(order.orderId), "http500", { times: 2 });
    const r = await pair.relay.post(ROUTE, order);
    assert.equal(r.status, 202, r.text);
    assert.deepEqual({ id: r.json.id, status: r.json.status, attempts: r.json.attempts, lastError: r.json.lastError },
      { id: r.webhookId, status: "queued", attempts: 1, lastError: "upstream_unavailable" });

    const row = await waitForStatus(pair.relay, r.webhookId, "delivered");
    assert.equal(row.attempts, 3);
    assert.equal(row.answer.status, 200);
    assert.equal(row.answer.body.status, "delivered");
    assert.deepEqual(row.baidu, { errno: 0, msg: "success", data: [] });
    const calls = callsFor(pair.baidu, order.orderId);
    assert.equal(calls.length, 3);
    assert.ok(calls.every((c) => c.signatureValid));

    await waitFor(() => results.received.some((e) => e.json.id === r.webhookId), "the result webhook");
    await new Promise((r2) => setTimeout(r2, 300));
    const events = results.received.filter((e) => e.json.id === r.webhookId);
    assert.equal(events.length, 1);
    assert.equal(events[0].valid, true, "result webhook signature verifies");
    assert.deepEqual(
      { type: events[0].json.type, status: events[0].json.status, attempts: events[0].json.attempts, answerStatus: events[0].json.answer.status },
      { type: "delivery.finished", status: "delivered", attempts: 3, answerStatus: 200 },
    );

    // The sender's duplicate now gets the stored answer, and Baidu sees nothing new.
    const again = await pair.relay.post(ROUTE, order, { id: r.webhookId });
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("idempotent-replayed"), "true");
    assert.equal(again.json.status, "delivered");
    assert.equal(callsFor(pair.baidu, order.orderId).length, 3);
  });

  test("Baidu always 5xx: dead-lettered after the maximum attempts, failed, then a manual retry delivers it", async () => {
    const order = nextOrder();
    pair.baidu.respondForOrder(String(order.orderId), "http500");
    const r = await pair.relay.post(ROUTE, order);
    assert.equal(r.status, 202, r.text);
    const row = await waitForStatus(pair.relay, r.webhookId, "failed");
    assert.equal(row.attempts, 3);
    assert.equal(row.lastError, "upstream_unavailable");
    assert.equal(row.answer.status, 502);
    assert.equal(row.answer.body.error.code, "delivery_failed");
    assert.equal(callsFor(pair.baidu, order.orderId).length, 3);
    await waitFor(() => results.received.some((e) => e.json.id === r.webhookId), "the failure result webhook");
    const failedEvent = results.received.find((e) => e.json.id === r.webhookId);
    assert.equal(failedEvent.json.status, "failed");
    assert.equal(failedEvent.valid, true);

    // A duplicate of a failed delivery gets the stored failure, not a new attempt.
    const dup = await pair.relay.post(ROUTE, order, { id: r.webhookId });
    assert.equal(dup.status, 502);
    assert.equal(dup.headers.get("idempotent-replayed"), "true");
    assert.equal(callsFor(pair.baidu, order.orderId).length, 3);

    // Manual retry needs the admin token.
    const denied = await pair.relay.request("POST", `/v1/deliveries/${r.webhookId}/retry`);
    assert.equal(denied.status, 401);
    assert.equal(denied.json.error.code, "unauthorized");
    const wrong = await pair.relay.request("POST", `/v1/deliveries/${r.webhookId}/retry`, { headers: { authorization: "Bearer nope-nope-nope-nope" } });
    assert.equal(wrong.status, 401);

    pair.baidu.respondForOrder(String(order.orderId), "default");
    const retried = await admin(pair.relay, "POST", `/v1/deliveries/${r.webhookId}/retry`);
    assert.equal(retried.status, 202, retried.text);
    assert.equal(retried.json.status, "queued");
    const delivered = await waitForStatus(pair.relay, r.webhookId, "delivered");
    assert.equal(delivered.attempts, 4);
    assert.equal(callsFor(pair.baidu, order.orderId).length, 4);

    const notFailed = await admin(pair.relay, "POST", `/v1/deliveries/${r.webhookId}/retry`);
    assert.equal(notFailed.status, 409);
    assert.equal(notFailed.json.error.code, "not_retryable");
    const missing = await admin(pair.relay, "GET", "/v1/deliveries/msg_never_seen");
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, "delivery_not_found");
  });

  test("permanent rejections are never retried", async () => {
    const order = nextOrder();
    pair.baidu.respondForOrder(String(order.orderId), { errno: 10002, msg: "order not exist" });
    const r = await pair.relay.post(ROUTE, order);
    assert.equal(r.status, 422);
    assert.equal(r.json.error.code, "baidu_order_not_found");
    const row = await waitForStatus(pair.relay, r.webhookId, "rejected");
    assert.equal(row.attempts, 1);
    await new Promise((r2) => setTimeout(r2, 2_000));
    assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
    assert.equal((await admin(pair.relay, "GET", `/v1/deliveries/${r.webhookId}`)).json.status, "rejected");
    assert.ok(!results.received.some((e) => e.json.id === r.webhookId), "no result webhook for a synchronous answer");
  });

  test("a transient Baidu 10003 'internal error, retry later' is retried; a 10003 balance error is not", async () => {
    const order = nextOrder();
    pair.baidu.respondForOrder(String(order.orderId), { errno: 10003, msg: "内部错误，请稍后重试" }, { times: 1 });
    const r = await pair.relay.post(ROUTE, order);
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.lastError, "baidu_internal_error");
    await waitForStatus(pair.relay, r.webhookId, "delivered");
    assert.equal(callsFor(pair.baidu, order.orderId).length, 2);

    const poor = nextOrder();
    pair.baidu.respondForOrder(String(poor.orderId), { errno: 10003, msg: "企业余额不足" });
    const p = await pair.relay.post(ROUTE, poor);
    assert.equal(p.status, 409);
    await waitForStatus(pair.relay, p.webhookId, "rejected");
  });
});

describe("the result webhook is signed with RESULT_WEBHOOK_SECRET, else WEBHOOK_SECRET", () => {
  const INBOUND = "whsec_" + Buffer.alloc(32, 11).toString("base64");
  const RESULTS = "whsec_" + Buffer.alloc(32, 13).toString("base64");
  const NEXT = "whsec_" + Buffer.alloc(32, 17).toString("base64");
  const CANDIDATES = { WEBHOOK_SECRET: INBOUND, RESULT_WEBHOOK_SECRET: RESULTS, "the second RESULT_WEBHOOK_SECRET": NEXT };
  for (const [label, resultSecret, signers] of [
    ["RESULT_WEBHOOK_SECRET set: the result verifies with it and not with WEBHOOK_SECRET", RESULTS, ["RESULT_WEBHOOK_SECRET"]],
    ["RESULT_WEBHOOK_SECRET with two secrets (rotation): the first one signs", `${RESULTS} ${NEXT}`, ["RESULT_WEBHOOK_SECRET"]],
    ["RESULT_WEBHOOK_SECRET unset: the result verifies with WEBHOOK_SECRET, and /healthz notes it", undefined, ["WEBHOOK_SECRET"]],
  ]) {
    test(label, async () => {
      const results = await startResultReceiver(INBOUND, CANDIDATES);
      const pair = await startPair({ buildDir, secret: INBOUND, RESULT_WEBHOOK_URL: results.url, RESULT_WEBHOOK_SECRET: resultSecret, ...FAST_RETRIES, MAX_ATTEMPTS: "3" });
      try {
        const order = nextOrder();
        pair.baidu.respondForOrder(String(order.orderId), "http500", { times: 1 });
        const r = await pair.relay.post(ROUTE, order);
        assert.equal(r.status, 202, r.text);
        await waitFor(() => results.received.some((e) => e.json.id === r.webhookId), "the result webhook");
        const event = results.received.find((e) => e.json.id === r.webhookId);
        assert.equal(event.json.status, "delivered");
        assert.deepEqual(event.verifiesWith, signers);

        const h = await pair.relay.get("/healthz");
        assert.equal(h.status, 200, h.text);
        // This relay has no BAIDU_PAYMENT_APP_ID, noted too; the point here is the result secret's note.
        const noted = (h.json.notes ?? []).map((n) => n.variable).filter((v) => v !== "BAIDU_PAYMENT_APP_ID");
        assert.deepEqual(noted, resultSecret ? [] : ["RESULT_WEBHOOK_SECRET"], h.text);
        assert.ok(!h.text.includes(INBOUND.slice(6)) && !h.text.includes(RESULTS.slice(6)), "a secret in /healthz");
      } finally {
        await pair.close();
        await results.close();
      }
    });
  }
});

describe("retries on the legacy (nuomi) host", () => {
  let pair;
  before(async () => {
    pair = await startPair({ buildDir, key: KEYS["1024 PKCS#1 PEM"], api: "nuomi", ...FAST_RETRIES, MAX_ATTEMPTS: "3" });
  });
  after(async () => {
    await pair?.close();
  });

  test("every attempt, the retries included, is the full signed form with method", async () => {
    const order = nextOrder();
    pair.baidu.respondForOrder(String(order.orderId), "http500", { times: 2 });
    const r = await pair.relay.post(ROUTE, order);
    assert.equal(r.status, 202, r.text);
    const row = await waitForStatus(pair.relay, r.webhookId, "delivered");
    assert.equal(row.attempts, 3);
    const calls = callsFor(pair.baidu, order.orderId);
    assert.equal(calls.length, 3);
    for (const [i, call] of calls.entries()) {
      assert.equal(contractProblems(call, { ...order, appKey: KEYS["1024 PKCS#1 PEM"].appKey }), "", `attempt ${i + 1}`);
    }
  });
});

describe("idempotency", () => {
  let pair;
  before(async () => {
    pair = await startPair({ buildDir, ...FAST_RETRIES });
  });
  after(async () => {
    await pair?.close();
  });

  test("the same webhook sent twice at the same time, and again later: Baidu sees one call", async () => {
    const order = nextOrder();
    pair.baidu.respondForOrder(String(order.orderId), { delayMs: 400, errno: 0, msg: "success", data: [] });
    const id = `msg_dup_${order.orderId}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const [a, b] = await Promise.all([
      pair.relay.post(ROUTE, order, { id, timestamp }),
      pair.relay.post(ROUTE, order, { id, timestamp }),
    ]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 409], `${a.text} / ${b.text}`);
    const conflict = a.status === 409 ? a : b;
    assert.equal(conflict.json.error.code, "in_progress");
    const later = await pair.relay.post(ROUTE, order, { id });
    assert.equal(later.status, 200);
    assert.equal(later.headers.get("idempotent-replayed"), "true");
    assert.deepEqual(later.json, (a.status === 200 ? a : b).json);
    assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
  });

  test("the same id with a different body is id_reused and reaches nothing", async () => {
    const order = nextOrder();
    const first = await pair.relay.post(ROUTE, order);
    assert.equal(first.status, 200);
    const other = { ...order, userId: order.userId + 1 };
    const r = await pair.relay.post(ROUTE, other, { id: first.webhookId });
    assert.equal(r.status, 422);
    assert.equal(r.json.error.code, "id_reused");
    assert.equal(pair.baidu.calls.filter((c) => c.params?.userId === String(other.userId)).length, 0);
  });

  test("rejected input is not recorded, so the sender can fix it and reuse the id", async () => {
    const order = nextOrder();
    const bad = await pair.relay.post(ROUTE, { orderId: order.orderId });
    assert.equal(bad.status, 422);
    const missing = await admin(pair.relay, "GET", `/v1/deliveries/${bad.webhookId}`);
    assert.equal(missing.status, 404);
    const fixed = await pair.relay.post(ROUTE, order, { id: bad.webhookId });
    assert.equal(fixed.status, 200);
  });

  test("the periodic sweep sends a row abandoned mid-attempt to the retry queue, and it is delivered once", async () => {
    const order = nextOrder();
    const id = `msg_abandoned_${order.orderId}`;
    const body = JSON.stringify(order);
    const db = await pair.relay.mf.getD1Database("LEDGER");
    // What an isolate that died after accepting the webhook leaves behind.
    const stale = Date.now() - 200_000;
    await db
      .prepare("INSERT INTO deliveries (webhook_id, route, body, body_sha256, status, attempts, lease, received_at, updated_at, sweep_at) VALUES (?1, ?2, ?3, ?4, 'pending', 1, 1, ?5, ?5, ?6)")
      .bind(id, ROUTE, body, "0".repeat(64), stale, stale + 120_000)
      .run();
    const fresh = `msg_fresh_${order.orderId}`;
    await db
      .prepare("INSERT INTO deliveries (webhook_id, route, body, body_sha256, status, attempts, lease, received_at, updated_at, sweep_at) VALUES (?1, ?2, ?3, ?4, 'pending', 1, 1, ?5, ?5, ?6)")
      .bind(fresh, ROUTE, JSON.stringify(nextOrder()), "0".repeat(64), Date.now(), Date.now() + 120_000)
      .run();
    const worker = await pair.relay.mf.getWorker();
    await worker.scheduled({ cron: "*/5 * * * *" });
    const row = await waitForStatus(pair.relay, id, "delivered");
    assert.equal(row.attempts, 2);
    assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
    // A row still within its first attempt's time is left alone.
    assert.equal((await admin(pair.relay, "GET", `/v1/deliveries/${fresh}`)).json.status, "pending");
    await pair.relay.waitForLogs((logs) => logs.some((l) => l.json?.msg === "sweep" && l.json.requeued === 1));
  });

  test("the delivery status shows the ledger row without secrets", async () => {
    const order = nextOrder();
    const r = await pair.relay.post(ROUTE, order);
    const row = await waitForStatus(pair.relay, r.webhookId, "delivered");
    assert.equal(row.id, r.webhookId);
    assert.equal(row.route, ROUTE);
    assert.deepEqual(row.request, order);
    assert.match(row.bodySha256, /^[0-9a-f]{64}$/);
    assert.equal(typeof row.receivedAt, "number");
    const text = JSON.stringify(row);
    assert.ok(!text.includes(pair.secret.slice(6, 20)), "no webhook secret");
    assert.ok(!text.includes("rsaSign"), "no signature");
  });
});

describe("a burst of 1,000 webhooks with faults and duplicates", () => {
  let pair;
  before(async () => {
    pair = await startPair({
      buildDir,
      ...FAST_RETRIES,
      MAX_ATTEMPTS: "5",
      BAIDU_TIMEOUT_MS: "300",
    });
  });
  after(async () => {
    await pair?.close();
  });

  test("accepted (2xx) = delivered + failed; exactly the refused orders are rejected; every retry is signed; no order processed twice unless its answer was lost", async () => {
    const N = 1000;
    const processed = new Map(); // orderId -> times Baidu processed it (answered success or lost the answer)
    const lostAnswers = new Map(); // orderId -> times the answer was lost after processing
    const bump = (m, k) => m.set(k, (m.get(k) ?? 0) + 1);
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const permanentlyRejected = new Set();
    const faults = { timeout: 0, http500: 0, garbage: 0, dropped: 0, lost: 0, rejected: 0, ok: 0 };
    // The fake consults this route only for calls whose rsaSign verifies; any other call gets
    // Baidu's errno 10000, which the relay records as `rejected` (caught below).
    pair.baidu.route(PATHS.etrade, (call) => {
      const orderId = call.params?.orderId;
      if (permanentlyRejected.has(orderId)) {
        faults.rejected++;
        return { errno: 10002, msg: "order not exist" };
      }
      const x = random();
      if (x < 0.06) { faults.timeout++; return "hang"; }
      if (x < 0.12) { faults.http500++; return "http500"; }
      if (x < 0.16) { faults.garbage++; return "garbage"; }
      if (x < 0.20) { faults.dropped++; return "destroy"; }
      if (x < 0.23) {
        // The ambiguous case: Baidu processed the call, then the answer was lost.
        faults.lost++;
        bump(processed, orderId);
        bump(lostAnswers, orderId);
        return "destroy";
      }
      faults.ok++;
      bump(processed, orderId);
      return { errno: 0, msg: "success", data: [] };
    });

    const webhooks = [];
    for (let i = 0; i < N; i++) {
      const order = nextOrder();
      if (random() < 0.05) permanentlyRejected.add(String(order.orderId));
      webhooks.push({ order, id: `msg_burst_${order.orderId}` });
    }
    const answers = new Map(); // id -> [status...]
    const record = (id, status) => answers.set(id, [...(answers.get(id) ?? []), status]);
    let cursor = 0;
    async function sender() {
      while (cursor < webhooks.length) {
        const w = webhooks[cursor++];
        const r = await pair.relay.post(ROUTE, w.order, { id: w.id });
        record(w.id, r.status);
        if (random() < 0.1) {
          // The sender duplicates some webhooks, at once or a little later.
          const d = await pair.relay.post(ROUTE, w.order, { id: w.id });
          record(w.id, d.status);
        }
      }
    }
    const started = Date.now();
    await Promise.all(Array.from({ length: 16 }, sender));
    const sentMs = Date.now() - started;

    // Accepted: the relay took the webhook on (200 delivered, 202 queued). A 409 (in progress, or a
    // balance refusal), 422 (rejected), 502 or 503 is not an acceptance.
    const accepted = new Set([...answers].filter(([, statuses]) => statuses.some((s) => s === 200 || s === 202)).map(([id]) => id));
    // Wait until the queues have drained: every accepted delivery has finished.
    const db = await pair.relay.mf.getD1Database("LEDGER");
    const deadline = Date.now() + 240_000;
    let counts;
    while (Date.now() < deadline) {
      const { results } = await db.prepare("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status").all();
      counts = Object.fromEntries(results.map((r) => [r.status, r.n]));
      if (!counts.queued && !counts.pending) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const drainedMs = Date.now() - started;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    console.log(`# burst: ${N} webhooks (+duplicates) sent in ${sentMs} ms, drained in ${drainedMs} ms; faults ${JSON.stringify(faults)}; ledger ${JSON.stringify(counts)}`);
    assert.ok(!counts.queued && !counts.pending, `ledger still has unfinished rows: ${JSON.stringify(counts)}`);
    assert.equal(total, (counts.delivered ?? 0) + (counts.rejected ?? 0) + (counts.failed ?? 0));

    // Every webhook that got a 2xx (200, 202) is in the ledger.
    const { results: rows } = await db.prepare("SELECT webhook_id, status, attempts FROM deliveries").all();
    const byId = new Map(rows.map((r) => [r.webhook_id, r]));
    for (const [id, statuses] of answers) {
      if (statuses.some((s) => s >= 200 && s < 300)) assert.ok(byId.has(id), `${id} answered ${statuses} but is missing from the ledger`);
    }
    // Every webhook sent is in the ledger exactly once (all bodies are valid).
    assert.equal(total, N);
    assert.equal(byId.size, N);
    for (const w of webhooks) assert.ok(byId.has(w.id), `${w.id} is missing from the ledger`);

    // Exactly the permanently refused orders end `rejected`, each after one call (never retried);
    // every other one ends `delivered` or `failed`.
    assert.ok(permanentlyRejected.size > 0);
    const rejectedIds = webhooks.filter((w) => byId.get(w.id).status === "rejected").map((w) => String(w.order.orderId)).sort();
    assert.deepEqual(rejectedIds, [...permanentlyRejected].sort(), "the rejected orders are exactly the permanently refused ones");
    for (const w of webhooks) {
      const row = byId.get(w.id);
      if (permanentlyRejected.has(String(w.order.orderId))) {
        assert.equal(row.attempts, 1, `${w.id} was retried`);
        assert.equal(callsFor(pair.baidu, w.order.orderId).length, 1, `${w.id}: Baidu saw more than one call`);
      } else {
        assert.ok(row.status === "delivered" || row.status === "failed", `${w.id} ended ${row.status}`);
      }
    }
    assert.equal(counts.rejected ?? 0, permanentlyRejected.size);

    // accepted = delivered + failed: a refused order answers 422 at once (its first call is
    // refused), so it is never accepted; every other webhook was accepted (200 or 202) and ended
    // delivered or failed.
    for (const w of webhooks) {
      const refused = permanentlyRejected.has(String(w.order.orderId));
      assert.equal(accepted.has(w.id), !refused, `${w.id} answered ${answers.get(w.id)}`);
      if (refused) assert.ok(answers.get(w.id).every((s) => s === 422), `${w.id} (refused) answered ${answers.get(w.id)}`);
    }
    assert.equal(accepted.size, (counts.delivered ?? 0) + (counts.failed ?? 0));
    assert.equal(accepted.size + (counts.rejected ?? 0), N);

    // Every call Baidu received carries a valid signature and the full contract form, the retries
    // (attempt > 1: a later call for the same orderId) included.
    const byOrder = new Map();
    for (const c of pair.baidu.calls) {
      const id = c.params?.orderId;
      if (!byOrder.has(id)) byOrder.set(id, []);
      byOrder.get(id).push(c);
    }
    const orders = new Map(webhooks.map((w) => [String(w.order.orderId), w.order]));
    let retryCalls = 0;
    for (const [orderId, calls] of byOrder) {
      const order = orders.get(orderId);
      assert.ok(order, `Baidu received a call for an order never sent: ${orderId} (${calls[0].rawBody})`);
      calls.sort((a, b) => a.seq - b.seq);
      for (const [i, call] of calls.entries()) {
        if (i > 0) retryCalls++;
        const problems = contractProblems(call, { ...order, appKey: pair.bindings.BAIDU_PAY_APP_KEY });
        assert.equal(problems, "", `order ${orderId}, attempt ${i + 1}: ${problems}`);
      }
    }
    assert.ok(retryCalls > 0, "the burst exercised the retry path");
    // Baidu processed no order twice, except after a lost answer (the ambiguous case).
    let ambiguousRepeats = 0;
    for (const [orderId, times] of processed) {
      const lost = lostAnswers.get(orderId) ?? 0;
      assert.ok(times <= 1 + lost, `order ${orderId} processed ${times} times with ${lost} lost answers`);
      if (times > 1) ambiguousRepeats++;
    }
    // Delivered rows were processed by Baidu at least once.
    for (const w of webhooks) {
      if (byId.get(w.id).status === "delivered") assert.ok((processed.get(String(w.order.orderId)) ?? 0) >= 1, `${w.id}`);
    }
    console.log(`# burst: ${accepted.size} accepted, ${permanentlyRejected.size} refused; ${pair.baidu.calls.length} Baidu calls, ${retryCalls} of them retries, all signed; repeats only after lost answers: ${ambiguousRepeats}`);
  });
});
