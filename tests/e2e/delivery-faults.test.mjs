// Durable delivery under faults, black box: the real wasm in workerd, its D1 ledger broken on
// purpose (SQLite triggers, hand-written and backdated rows), hand-made queue messages, the cron
// sweep triggered by hand, a caller hanging up mid-attempt, and settings broken one at a time.
// Each test is the regression test of a defect the delivery flow (src/delivery/flow.rs) fixed.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../../scripts/ensure-tools.mjs";
import {
  prepareBuild, startPair, startAfterSalePair, ROUTE, assertError, refundItem, OPEN_ID, SCENE_ID, AFTER_SALE_ROUTES,
} from "../support/e2e.mjs";
import { sign } from "../../sandbox/webhook.mjs";
import { ADMIN_TOKEN, ledgerRow as row, waitForRow } from "../support/delivery.mjs";

const FAST_RETRIES = { MAX_ATTEMPTS: "4", RETRY_BASE_DELAY_SECONDS: "0", RETRY_MAX_DELAY_SECONDS: "0", ADMIN_TOKEN };

let buildDir;
before(async () => {
  buildDir = await prepareBuild();
});

let orderSeq = 3_500_000_000;
const nextOrder = () => ({ orderId: ++orderSeq, userId: 4188819900 });
const callsFor = (baidu, orderId) => baidu.calls.filter((c) => c.params?.orderId === String(orderId));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A row as the relay leaves it, written by hand: `queued` under `lease`, its retry due `dueAgoMs` ago. */
async function insertQueued(relay, id, order, { lease = 1, attempts = 1, dueAgoMs = 0, sweepAgoMs = dueAgoMs - 600_000 } = {}) {
  const db = await relay.mf.getD1Database("LEDGER");
  const now = Date.now();
  await db
    .prepare(`INSERT INTO deliveries (webhook_id, route, body, body_sha256, status, attempts, lease, last_error,
              received_at, updated_at, next_attempt_at, sweep_at)
              VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, 'upstream_unavailable', ?7, ?7, ?8, ?9)`)
    .bind(id, ROUTE, JSON.stringify(order), "0".repeat(64), attempts, lease, now - 1_000_000, now - dueAgoMs, now - sweepAgoMs)
    .run();
}

describe("lost, duplicated and stale queue messages", () => {
  let pair;
  before(async () => {
    pair = await startPair({ buildDir, ...FAST_RETRIES });
  });
  after(async () => pair?.close());

  test("a queued row whose message was lost is sent again by the sweep and delivered once", async () => {
    const order = nextOrder();
    const id = `msg_lost_message_${order.orderId}`;
    // Due 20 minutes ago: its message is long overdue (the grace is 10 minutes).
    await insertQueued(pair.relay, id, order, { dueAgoMs: 20 * 60_000 });
    const worker = await pair.relay.mf.getWorker();
    await worker.scheduled({ cron: "*/5 * * * *" });
    const done = await waitForRow(pair.relay, id, (r) => r.status === "delivered", "delivered");
    assert.equal(done.attempts, 2);
    assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
    assert.ok(callsFor(pair.baidu, order.orderId).every((c) => c.signatureValid));
    await pair.relay.waitForLogs((logs) => logs.some((l) => l.json?.msg === "sweep" && l.json.requeued >= 1));
  });

  test("a queued row whose retry is not yet overdue is left to its message", async () => {
    const order = nextOrder();
    const id = `msg_not_overdue_${order.orderId}`;
    await insertQueued(pair.relay, id, order, { dueAgoMs: 60_000 });
    const worker = await pair.relay.mf.getWorker();
    await worker.scheduled({ cron: "*/5 * * * *" });
    await sleep(1_500);
    assert.equal((await row(pair.relay, id)).status, "queued");
    assert.equal(callsFor(pair.baidu, order.orderId).length, 0);
  });

  test("the same queue message delivered twice makes one Baidu call; a stale lease changes nothing", async () => {
    const order = nextOrder();
    const id = `msg_twice_${order.orderId}`;
    await insertQueued(pair.relay, id, order, { lease: 3, attempts: 1 });
    const retries = await pair.relay.mf.getQueueProducer("RETRIES");
    await retries.send({ id, lease: 3 });
    await retries.send({ id, lease: 3 });
    const done = await waitForRow(pair.relay, id, (r) => r.status === "delivered", "delivered");
    await sleep(1_500);
    assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
    // The first version's message format, with an outdated lease: acked, nothing changes.
    await retries.send({ id, attempt: 2, seen_attempts: 3 });
    await sleep(1_500);
    assert.deepEqual(await row(pair.relay, id), done);
    assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
    const stale = pair.relay.logs.filter((l) => l.json?.webhookId === id && l.json?.outcome === "stale_message");
    assert.ok(stale.length >= 2, `stale messages logged: ${stale.length}`);
  });

  test("a message on the dead-letter queue is handled like a retry, whatever the queue is called", async () => {
    const order = nextOrder();
    const id = `msg_dead_letter_${order.orderId}`;
    await insertQueued(pair.relay, id, order, { lease: 2, attempts: 2 });
    const deadLetters = await pair.relay.mf.getQueueProducer("DEAD_LETTERS");
    await deadLetters.send({ id, lease: 2 });
    const done = await waitForRow(pair.relay, id, (r) => r.status === "delivered", "delivered");
    assert.equal(done.attempts, 3);
    assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
  });

  test("a row whose lease ran out is taken over once by a duplicate, never by a stale message", async () => {
    const order = nextOrder();
    const id = `msg_takeover_${order.orderId}`;
    const db = await pair.relay.mf.getD1Database("LEDGER");
    const body = JSON.stringify(order);
    const { createHash } = await import("node:crypto");
    const hash = createHash("sha256").update(body).digest("hex");
    const stale = Date.now() - 300_000;
    await db
      .prepare(`INSERT INTO deliveries (webhook_id, route, body, body_sha256, status, attempts, lease, received_at, updated_at, sweep_at)
                VALUES (?1, ?2, ?3, ?4, 'pending', 1, 1, ?5, ?5, ?6)`)
      .bind(id, ROUTE, body, hash, stale, stale + 120_000)
      .run();
    // Two duplicates race to take the abandoned row over: one attempt, one in_progress.
    const timestamp = Math.floor(Date.now() / 1000);
    pair.baidu.respondForOrder(String(order.orderId), { delayMs: 300, errno: 0, msg: "success", data: [] });
    const answers = await Promise.all([
      pair.relay.post(ROUTE, body, { id, timestamp }),
      pair.relay.post(ROUTE, body, { id, timestamp }),
    ]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409], answers.map((a) => a.text).join(" / "));
    const done = await row(pair.relay, id);
    assert.equal(done.status, "delivered");
    assert.equal(done.lease, 2);
    assert.equal(done.attempts, 2);
    // A message still carrying the dead attempt's lease is stale.
    const retries = await pair.relay.mf.getQueueProducer("RETRIES");
    await retries.send({ id, lease: 1 });
    await sleep(1_500);
    assert.equal((await row(pair.relay, id)).status, "delivered");
    assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
  });
});

describe("a ledger write failing after Baidu accepted", () => {
  let pair;
  before(async () => {
    pair = await startPair({ buildDir, ...FAST_RETRIES });
  });
  after(async () => pair?.close());

  test("the caller hears 202, the outcome reaches the ledger through the queue, and Baidu is called once", async () => {
    const order = nextOrder();
    const db = await pair.relay.mf.getD1Database("LEDGER");
    // Every write of a delivered outcome fails for the next 600 ms: both of the attempt's own
    // tries; the queue consumer's (a batch waits at least a second) goes through.
    const until = Date.now() + 600;
    await db.exec(`CREATE TRIGGER ledger_down BEFORE UPDATE ON deliveries WHEN NEW.status = 'delivered' AND NEW.updated_at < ${until} BEGIN SELECT RAISE(ABORT, 'ledger down'); END`);
    try {
      const r = await pair.relay.post(ROUTE, order);
      assert.equal(r.status, 202, r.text);
      assert.deepEqual({ status: r.json.status, lastError: r.json.lastError }, { status: "queued", lastError: "ledger_unavailable" });
      const done = await waitForRow(pair.relay, r.webhookId, (x) => x.status === "delivered", "delivered");
      assert.equal(done.attempts, 1);
      assert.equal(JSON.parse(done.answer_body).status, "delivered");
      assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
      await pair.relay.waitForLogs((logs) => logs.some((l) => l.json?.msg === "ledger write failed; outcome queued" && l.json.webhookId === r.webhookId));
      // The sender's duplicate now gets the stored outcome; Baidu sees nothing new.
      const again = await pair.relay.post(ROUTE, order, { id: r.webhookId });
      assert.equal(again.status, 200);
      assert.equal(again.headers.get("idempotent-replayed"), "true");
      assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
    } finally {
      await db.exec("DROP TRIGGER IF EXISTS ledger_down");
    }
  });

  test("with the ledger gone before anything was sent, the answer is ledger_unavailable and Baidu sees nothing", async () => {
    const order = nextOrder();
    const db = await pair.relay.mf.getD1Database("LEDGER");
    await db.exec("ALTER TABLE deliveries RENAME TO deliveries_away");
    try {
      const r = await pair.relay.post(ROUTE, order);
      assertError(r, 503, "ledger_unavailable");
      assert.equal(callsFor(pair.baidu, order.orderId).length, 0);
    } finally {
      await db.exec("ALTER TABLE deliveries_away RENAME TO deliveries");
    }
    const ok = await pair.relay.post(ROUTE, order);
    assert.equal(ok.status, 200, ok.text);
  });
});

describe("a caller who hangs up mid-attempt", () => {
  let pair;
  before(async () => {
    pair = await startPair({ buildDir, ...FAST_RETRIES });
  });
  after(async () => pair?.close());

  test("cannot stop the attempt between Baidu's answer and the ledger's record of it", async () => {
    const order = nextOrder();
    pair.baidu.respondForOrder(String(order.orderId), { delayMs: 700, errno: 0, msg: "success", data: [] });
    const body = JSON.stringify(order);
    const id = `msg_hangup_${order.orderId}`;
    const headers = sign({ secret: pair.secret, id, timestamp: Math.floor(Date.now() / 1000), body });
    const url = new URL(pair.relay.url);
    const socket = net.connect(Number(url.port), url.hostname);
    await new Promise((resolve, reject) => { socket.once("connect", resolve); socket.once("error", reject); });
    socket.on("error", () => {});
    socket.write([
      `POST ${ROUTE} HTTP/1.1`, `host: ${url.host}`, "content-type: application/json", `content-length: ${Buffer.byteLength(body)}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "connection: close", "", body,
    ].join("\r\n"));
    // Hang up while Baidu is still thinking.
    await sleep(200);
    socket.destroy();
    const done = await waitForRow(pair.relay, id, (r) => r.status === "delivered", "delivered");
    assert.equal(done.attempts, 1);
    await sleep(500);
    assert.equal(callsFor(pair.baidu, order.orderId).length, 1);
  });
});

describe("a setting only one part uses breaks only that part", () => {
  for (const [variable, value, working] of [
    ["ADMIN_TOKEN", "short", "admin"],
    ["RESULT_WEBHOOK_URL", "not a url", "result"],
  ]) {
    test(`a bad ${variable} leaves the webhook routes working`, async () => {
      const pair = await startPair({ buildDir, ...FAST_RETRIES, [variable]: value });
      try {
        const order = nextOrder();
        const r = await pair.relay.post(ROUTE, order);
        assert.equal(r.status, 200, r.text);
        const health = await pair.relay.get("/healthz");
        assert.equal(health.status, 503);
        assert.ok(health.json.problems.some((p) => p.variable === variable), health.text);
        assert.ok(!health.text.includes(value));
        const status = await pair.relay.request("GET", `/v1/deliveries/${r.webhookId}`, { headers: { authorization: `Bearer ${variable === "ADMIN_TOKEN" ? value : ADMIN_TOKEN}` } });
        if (working === "admin") assertError(status, 500, "misconfigured", { variables: ["ADMIN_TOKEN"] });
        else assert.equal(status.status, 200, status.text);
      } finally {
        await pair.close();
      }
    });
  }
});

describe("Baidu's transient answers are retried, not rejected", () => {
  let pair;
  before(async () => {
    pair = await startPair({ buildDir, ...FAST_RETRIES });
  });
  after(async () => pair?.close());

  for (const [what, answer] of [
    ["unified code 5010002 (network error, retry later)", { errno: 5010002, msg: "网络错误，请稍后重试" }],
    ["unified code 5010003 (QPS limit)", { errno: 5010003, msg: "QPS超限" }],
    ["gateway error_code 2 (service temporarily unavailable), winning over errno 0", { json: { error_code: 2, error_msg: "Service temporarily unavailable", errno: 0 } }],
    ["HTTP 503 with a JSON body carrying a permanent-looking code", { status: 503, errno: 10001, msg: "busy" }],
  ]) {
    test(`${what}: queued, then delivered`, async () => {
      const order = nextOrder();
      pair.baidu.respondForOrder(String(order.orderId), answer, { times: 1 });
      const r = await pair.relay.post(ROUTE, order);
      assert.equal(r.status, 202, r.text);
      assert.equal(r.json.status, "queued");
      const done = await waitForRow(pair.relay, r.webhookId, (x) => x.status === "delivered", "delivered");
      assert.equal(done.attempts, 2);
      assert.equal(callsFor(pair.baidu, order.orderId).length, 2);
    });
  }
});

describe("idempotency is per route", () => {
  test("the same id and body sent to another route is id_reused and reaches nothing", async () => {
    const pair = await startAfterSalePair({ buildDir, ...FAST_RETRIES });
    try {
      const body = { openId: OPEN_ID, sceneId: SCENE_ID, data: [refundItem("M-ROUTE-1")] };
      const first = await pair.relay.post(AFTER_SALE_ROUTES.update, body);
      assert.equal(first.status, 200, first.text);
      const other = await pair.relay.post(AFTER_SALE_ROUTES.append, body, { id: first.webhookId });
      assertError(other, 422, "id_reused");
      assert.equal(pair.baidu.calls.filter((c) => c.path.endsWith("/append/sub/info")).length, 0);
      // The original route still replays its own answer.
      const again = await pair.relay.post(AFTER_SALE_ROUTES.update, body, { id: first.webhookId });
      assert.equal(again.status, 200);
      assert.equal(again.headers.get("idempotent-replayed"), "true");
      assert.equal(pair.baidu.calls.filter((c) => c.kind === "orderCenter").length, 1);
    } finally {
      await pair.close();
    }
  });
});

describe("retention", () => {
  const DAY = 86_400_000;

  /** A row in `status`, last written `daysAgo` days ago, for `body` (a valid order). */
  async function insertRow(relay, id, status, daysAgo, body = JSON.stringify(nextOrder())) {
    const db = await relay.mf.getD1Database("LEDGER");
    const at = Date.now() - daysAgo * DAY;
    // Every finished row stores a delivered answer here: only the replay of one is looked at.
    const finished = ["delivered", "rejected", "failed"].includes(status);
    await db
      .prepare(`INSERT INTO deliveries (webhook_id, route, body, body_sha256, status, attempts, lease, received_at, updated_at,
                next_attempt_at, sweep_at, answer_status, answer_body)
                VALUES (?1, ?2, ?10, ?3, ?4, 1, 1, ?5, ?5, ?6, ?7, ?8, ?9)`)
      .bind(id, ROUTE, createHash("sha256").update(body).digest("hex"), status, at, status === "queued" ? Date.now() + 3_600_000 : null,
        finished ? null : Date.now() + 3_600_000, finished ? 200 : null, finished ? JSON.stringify({ id, status, baidu: { errno: 0, msg: "success" } }) : null, body)
      .run();
  }

  for (const [label, days, expected] of [["by default 30 days", undefined, 30], ["LEDGER_RETENTION_DAYS=7", "7", 7]]) {
    test(`the cron deletes finished rows older than the window (${label}) and nothing in flight`, async () => {
      const pair = await startPair({ buildDir, ...FAST_RETRIES, LEDGER_RETENTION_DAYS: days });
      try {
        const rows = [
          ["old-delivered", "delivered", expected + 1, false],
          ["old-rejected", "rejected", expected + 5, false],
          ["old-failed", "failed", expected + 400, false],
          ["old-pending", "pending", expected + 400, true],
          ["old-queued", "queued", expected + 400, true],
          ["recent-delivered", "delivered", expected - 1, true],
        ];
        const recentOrder = nextOrder();
        for (const [id, status, daysAgo] of rows) {
          await insertRow(pair.relay, id, status, daysAgo, id === "recent-delivered" ? JSON.stringify(recentOrder) : undefined);
        }
        const worker = await pair.relay.mf.getWorker();
        await worker.scheduled({ cron: "*/5 * * * *" });
        await pair.relay.waitForLogs((logs) => logs.some((l) => l.json?.msg === "purge"));
        const purge = pair.relay.logs.find((l) => l.json?.msg === "purge").json;
        assert.deepEqual(purge, { msg: "purge", deleted: 3, more: false, retentionDays: expected });
        for (const [id, , , kept] of rows) {
          assert.equal(Boolean(await row(pair.relay, id)), kept, `${id} ${kept ? "kept" : "deleted"}`);
        }
        // Within the window a duplicate is replayed; after it the id is new again.
        const replay = await pair.relay.post(ROUTE, recentOrder, { id: "recent-delivered" });
        assert.equal(replay.headers.get("idempotent-replayed"), "true", replay.text);
        assert.equal(callsFor(pair.baidu, recentOrder.orderId).length, 0);
        const again = nextOrder();
        const fresh = await pair.relay.post(ROUTE, again, { id: "old-delivered" });
        assert.equal(fresh.status, 200, fresh.text);
        assert.equal(fresh.headers.get("idempotent-replayed"), null);
        assert.equal(callsFor(pair.baidu, again.orderId).length, 1);
      } finally {
        await pair.close();
      }
    });
  }

  test("the purge statement walks the index of finished rows in order, with no sort, however long the backlog", async () => {
    const pair = await startPair({ buildDir, ...FAST_RETRIES });
    try {
      // The statement as the relay sends it (src/delivery/ledger.rs), on the migrated ledger.
      const source = readFileSync(path.join(ROOT, "src", "delivery", "ledger.rs"), "utf8");
      const purge = source.match(/pub const PURGE: &str = "([\s\S]*?)";/)[1].replace(/\\\n\s*/g, "");
      const db = await pair.relay.mf.getD1Database("LEDGER");
      const plan = (await db.prepare(`EXPLAIN QUERY PLAN ${purge}`).bind(Date.now(), 500).all()).results.map((r) => r.detail);
      assert.ok(plan.some((step) => step.includes("USING INDEX deliveries_finished")), plan.join("; "));
      assert.ok(!plan.some((step) => step.includes("TEMP B-TREE")), plan.join("; "));
    } finally {
      await pair.close();
    }
  });

  test("an invalid LEDGER_RETENTION_DAYS deletes nothing and is named by /healthz; the webhook routes work", async () => {
    const pair = await startPair({ buildDir, ...FAST_RETRIES, LEDGER_RETENTION_DAYS: "0" });
    try {
      await insertRow(pair.relay, "ancient", "delivered", 4_000);
      const worker = await pair.relay.mf.getWorker();
      await worker.scheduled({ cron: "*/5 * * * *" });
      await pair.relay.waitForLogs((logs) => logs.some((l) => l.json?.msg === "purge"));
      assert.deepEqual(pair.relay.logs.find((l) => l.json?.msg === "purge").json, { msg: "purge", skipped: "misconfigured" });
      assert.ok(await row(pair.relay, "ancient"));
      const health = await pair.relay.get("/healthz");
      assert.equal(health.status, 503);
      assert.ok(health.json.problems.some((p) => p.variable === "LEDGER_RETENTION_DAYS"), health.text);
      const r = await pair.relay.post(ROUTE, nextOrder());
      assert.equal(r.status, 200, r.text);
    } finally {
      await pair.close();
    }
  });
});

describe("a queue batch", () => {
  test("runs at most 3 attempts at once, so none waits for one of the invocation's 6 connections", async () => {
    const pair = await startPair({ buildDir, ...FAST_RETRIES });
    try {
      const orders = Array.from({ length: 9 }, nextOrder);
      const ids = orders.map((order) => `msg_batch_${order.orderId}`);
      for (const [i, order] of orders.entries()) {
        await insertQueued(pair.relay, ids[i], order, { lease: 1, dueAgoMs: 1_000 });
        pair.baidu.respondForOrder(String(order.orderId), { delayMs: 400, errno: 0, msg: "success" });
      }
      const retries = await pair.relay.mf.getQueueProducer("RETRIES");
      await retries.sendBatch(ids.map((id) => ({ body: { id, lease: 1 } })));
      for (const id of ids) await waitForRow(pair.relay, id, (r) => r.status === "delivered", "delivered");
      // Each call is in flight from its arrival until its answer 400 ms later.
      const calls = orders.flatMap((order) => callsFor(pair.baidu, order.orderId));
      assert.equal(calls.length, 9);
      const overlap = Math.max(...calls.map((c) => calls.filter((o) => o.at <= c.at && c.at < o.at + 400).length));
      assert.ok(overlap <= 3, `${overlap} calls in flight at once`);
      assert.ok(overlap >= 2, `${overlap}: the batch still runs attempts side by side`);
    } finally {
      await pair.close();
    }
  });
});
