// The worker's log: one JSON line per request, and never a secret, key or signature.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { prepareBuild, startPair, assertNoLeak, keyFragments, KEYS, ORDER, ROUTE, newSecret } from "../support/e2e.mjs";

let buildDir;
let pair;
before(async () => {
  buildDir = await prepareBuild();
  pair = await startPair({ buildDir, key: KEYS["2048 PKCS#8 PEM"] });
});
after(async () => { await pair?.close(); });

test("one JSON log line per request, with webhookId, route, status and outcome; no secrets anywhere", async () => {
  const { relay, baidu } = pair;
  const sent = [];
  const send = async (label, promise, expect) => {
    const r = await promise;
    assert.equal(r.status, expect.status, `${label}: ${r.text}`);
    sent.push({ label, r, ...expect });
  };
  await send("delivered", relay.post(ROUTE, ORDER), { status: 200, outcome: "delivered", baiduErrno: 0, upstreamStatus: 200 });
  baidu.respondNext({ errno: 10002, msg: "订单不存在" });
  await send("baidu error", relay.post(ROUTE, ORDER), { status: 422, outcome: "baidu_order_not_found", baiduErrno: 10002, upstreamStatus: 200 });
  baidu.respondNext("http500");
  await send("upstream 500", relay.post(ROUTE, ORDER), { status: 502, outcome: "upstream_unavailable", upstreamStatus: 500 });
  await send("bad signature", relay.post(ROUTE, ORDER, { secret: newSecret() }), { status: 401, outcome: "invalid_webhook_signature" });
  await send("malformed id", relay.post(ROUTE, ORDER, { id: "has space" }), { status: 401, outcome: "invalid_webhook_header", malformedId: true });
  await send("bad field", relay.post(ROUTE, { orderId: "x", userId: 1 }), { status: 422, outcome: "invalid_field" });
  await send("not found", relay.post("/v1/nope", ORDER, { secret: false }), { status: 404, outcome: "not_found", noWebhookId: true });
  await send("healthz", relay.get("/healthz"), { status: 200, noWebhookId: true });

  await relay.waitForLogs(() => relay.requestLogs().length >= sent.length).catch(() => {});
  // Give a straggler the chance to show up before counting.
  await new Promise((r) => setTimeout(r, 200));
  const lines = relay.requestLogs();
  assert.equal(lines.length, sent.length, `expected ${sent.length} request log lines, got:\n${relay.logs.map((l) => l.message).join("\n")}`);

  for (const [i, s] of sent.entries()) {
    const line = lines[i];
    const where = `${s.label}: ${JSON.stringify(line)}`;
    assert.equal(line.status, s.status, where);
    assert.equal(line.method, s.label === "healthz" ? "GET" : "POST", where);
    assert.equal(typeof line.route, "string", where);
    assert.equal(typeof line.durationMs, "number", where);
    if (s.malformedId) assert.ok(line.webhookId === undefined || line.webhookId === null, `a malformed id is not logged: ${where}`);
    else if (!s.noWebhookId) {
      assert.equal(line.webhookId, s.r.webhookId, where);
      assert.ok(line.route.includes("cancel-verification"), where);
    }
    if (s.outcome) assert.equal(line.outcome, s.outcome, where);
    if (s.baiduErrno !== undefined) assert.equal(line.baiduErrno, s.baiduErrno, where);
    if (s.upstreamStatus !== undefined) assert.equal(line.upstreamStatus, s.upstreamStatus, where);
  }

  // Nothing secret in any log line (request lines or others) or any response.
  const needles = [
    pair.secret.replace(/^whsec_/, ""),
    ...keyFragments(pair.bindings.BAIDU_RSA_PRIVATE_KEY),
    ...baidu.calls.map((c) => c.params?.rsaSign).filter(Boolean),
    ...sent.map((s) => s.r.sentHeaders?.["webhook-signature"]).filter(Boolean).flatMap((h) => h.split(" ").map((e) => e.slice(3))),
  ];
  assert.ok(baidu.calls.length >= 3);
  for (const l of relay.logs) assertNoLeak(l.message, needles, `log line ${JSON.stringify(l.message.slice(0, 80))}`);
  for (const s of sent) assertNoLeak(s.r.text, needles, `${s.label} response`);
});
