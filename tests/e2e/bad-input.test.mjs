// Requests the relay must refuse, with the contract's status and code, before anything reaches Baidu.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { prepareBuild, startPair, assertError, ORDER, ROUTE, newSecret } from "../support/e2e.mjs";
import http from "node:http";
import net from "node:net";
import { sign, signature, nowSeconds, newMessageId } from "../../sandbox/webhook.mjs";

/** POSTs with node:http, which sends an array header value as one header line per entry. */
function rawPost(url, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => { text += chunk; });
      res.on("end", () => resolve({ status: res.statusCode, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

let buildDir;
let pair;
before(async () => {
  buildDir = await prepareBuild();
  pair = await startPair({ buildDir });
});
after(async () => { await pair?.close(); });

const BODY = JSON.stringify(ORDER);

/** A JSON body of exactly `size` bytes that is otherwise a valid request. */
function paddedBody(size) {
  const base = `{"orderId":${ORDER.orderId},"userId":${ORDER.userId},"pad":""}`;
  const pad = "x".repeat(size - Buffer.byteLength(base));
  const body = `{"orderId":${ORDER.orderId},"userId":${ORDER.userId},"pad":"${pad}"}`;
  assert.equal(Buffer.byteLength(body), size);
  return body;
}

// [name, (relay) => response promise, status, code, extra fields]
const cases = [
  ["unknown path", (r) => r.post("/v1/nope", BODY), 404, "not_found"],
  ["unknown path, GET", (r) => r.get("/"), 404, "not_found"],
  ["route without version prefix", (r) => r.post("/cancel-verification", BODY), 404, "not_found"],
  ["wrong content type (text/plain)", (r) => r.post(ROUTE, BODY, { contentType: "text/plain" }), 415, "unsupported_media_type"],
  ["form content type", (r) => r.post(ROUTE, "orderId=1&userId=2", { contentType: "application/x-www-form-urlencoded" }), 415, "unsupported_media_type"],
  ["no content type", (r) => r.post(ROUTE, BODY, { contentType: null }), 415, "unsupported_media_type"],
  ["body of 65537 bytes", (r) => r.post(ROUTE, paddedBody(65537)), 413, "payload_too_large"],
  ["body of 1 MiB", (r) => r.post(ROUTE, paddedBody(1 << 20)), 413, "payload_too_large"],
  ["missing webhook-id", (r) => r.post(ROUTE, BODY, { headers: { "webhook-id": null } }), 401, "missing_webhook_header", { field: "webhook-id" }],
  ["missing webhook-timestamp", (r) => r.post(ROUTE, BODY, { headers: { "webhook-timestamp": null } }), 401, "missing_webhook_header", { field: "webhook-timestamp" }],
  ["missing webhook-signature", (r) => r.post(ROUTE, BODY, { headers: { "webhook-signature": null } }), 401, "missing_webhook_header", { field: "webhook-signature" }],
  ["unsigned", (r) => r.post(ROUTE, BODY, { secret: false }), 401, "missing_webhook_header"],
  ["garbage signature", (r) => r.post(ROUTE, BODY, { headers: { "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl" } }), 401, "invalid_webhook_signature"],
  ["signature without version", (r) => r.post(ROUTE, BODY, { headers: { "webhook-signature": "garbage" } }), 401, "invalid_webhook_signature"],
  ["signed with another secret", (r) => r.post(ROUTE, BODY, { secret: newSecret() }), 401, "invalid_webhook_signature"],
  ["body altered by one byte after signing", (r) => r.post(ROUTE, BODY.replace("2636635856", "2636635857"), { signBody: BODY }), 401, "invalid_webhook_signature"],
  ["signed over another webhook-id", (r) => {
    const ts = nowSeconds();
    const h = sign({ secret: r.bindings.WEBHOOK_SECRET, id: "msg_a", timestamp: ts, body: BODY });
    return r.post(ROUTE, BODY, { secret: false, headers: { ...h, "webhook-id": "msg_b" } });
  }, 401, "invalid_webhook_signature"],
  ["signature of the right secret under a v2 label", (r) => {
    const h = sign({ secret: r.bindings.WEBHOOK_SECRET, id: "msg_v2", body: BODY });
    return r.post(ROUTE, BODY, { secret: false, headers: { ...h, "webhook-signature": h["webhook-signature"].replace(/^v1,/, "v2,") } });
  }, 401, "invalid_webhook_signature"],
  ["timestamp 10 minutes old", (r) => r.post(ROUTE, BODY, { timestamp: nowSeconds() - 600 }), 401, "webhook_timestamp_expired"],
  ["timestamp 10 minutes in the future", (r) => r.post(ROUTE, BODY, { timestamp: nowSeconds() + 600 }), 401, "webhook_timestamp_in_future"],
  ["empty webhook-id", (r) => r.post(ROUTE, BODY, { id: "" }), 401, "invalid_webhook_header", { field: "webhook-id" }],
  ["webhook-id with a space", (r) => r.post(ROUTE, BODY, { id: "msg 1" }), 401, "invalid_webhook_header", { field: "webhook-id" }],
  ["webhook-id of 257 characters", (r) => r.post(ROUTE, BODY, { id: `msg_${"a".repeat(253)}` }), 401, "invalid_webhook_header", { field: "webhook-id" }],
  ["negative timestamp", (r) => r.post(ROUTE, BODY, { timestamp: "-1" }), 401, "invalid_webhook_header", { field: "webhook-timestamp" }],
  ["fractional timestamp", (r) => r.post(ROUTE, BODY, { timestamp: `${nowSeconds()}.5` }), 401, "invalid_webhook_header", { field: "webhook-timestamp" }],
  ["non-numeric timestamp", (r) => r.post(ROUTE, BODY, { timestamp: "yesterday" }), 401, "invalid_webhook_header", { field: "webhook-timestamp" }],
  ["timestamp in milliseconds", (r) => r.post(ROUTE, BODY, { timestamp: Date.now() }), 401, "webhook_timestamp_in_future"],
  ["invalid JSON", (r) => r.post(ROUTE, '{"orderId": 2636635856, "userId": '), 400, "invalid_json"],
  ["empty body", (r) => r.post(ROUTE, ""), 400, "invalid_json"],
  ["JSON array", (r) => r.post(ROUTE, JSON.stringify([ORDER])), 400, "invalid_json"],
  ["JSON string", (r) => r.post(ROUTE, '"orderId"'), 400, "invalid_json"],
  ["JSON null", (r) => r.post(ROUTE, "null"), 400, "invalid_json"],
  ["missing orderId", (r) => r.post(ROUTE, { userId: ORDER.userId }), 422, "missing_field", { field: "orderId" }],
  ["missing userId", (r) => r.post(ROUTE, { orderId: ORDER.orderId }), 422, "missing_field", { field: "userId" }],
  ["empty object", (r) => r.post(ROUTE, {}), 422, "missing_field"],
];

// Values neither orderId nor userId may take (raw JSON text).
const BAD_IDS = ["-1", "1.5", '"abc"', '""', "true", "18446744073709551616", '"18446744073709551616"', "0", '"0"', '"-5"', '" 42"', '"1e3"', "[1]", "{}"];
for (const v of BAD_IDS) {
  cases.push([`orderId ${v}`, (r) => r.post(ROUTE, `{"orderId":${v},"userId":${ORDER.userId}}`), 422, "invalid_field", { field: "orderId" }]);
}
for (const v of ["-1", "1.5", '"abc"', "0", "18446744073709551616", "false"]) {
  cases.push([`userId ${v}`, (r) => r.post(ROUTE, `{"orderId":${ORDER.orderId},"userId":${v}}`), 422, "invalid_field", { field: "userId" }]);
}

describe("bad input is refused and never reaches Baidu", () => {
  for (const [name, send, status, code, extra] of cases) {
    test(`${name} → ${status} ${code}`, async () => {
      pair.baidu.reset();
      const r = await send(pair.relay);
      assertError(r, status, code, extra);
      assert.equal(pair.baidu.calls.length, 0, "Baidu must see no call");
    });
  }

  test("GET on the route → 405 with Allow: POST", async () => {
    pair.baidu.reset();
    const r = await pair.relay.get(ROUTE);
    assertError(r, 405, "method_not_allowed");
    assert.match(r.headers.get("allow") ?? "", /\bPOST\b/);
    assert.equal(pair.baidu.calls.length, 0);
  });

  test("PUT on the route → 405 with Allow: POST", async () => {
    const r = await pair.relay.request("PUT", ROUTE, { body: BODY, headers: { "content-type": "application/json" } });
    assertError(r, 405, "method_not_allowed");
    assert.match(r.headers.get("allow") ?? "", /\bPOST\b/);
  });

  test("POST on /healthz → 405 with Allow: GET", async () => {
    const r = await pair.relay.post("/healthz", BODY);
    assertError(r, 405, "method_not_allowed");
    assert.match(r.headers.get("allow") ?? "", /\bGET\b/);
  });
});

describe("boundaries that are accepted", () => {
  test("body of exactly 65536 bytes is accepted", async () => {
    pair.baidu.reset();
    const r = await pair.relay.post(ROUTE, paddedBody(65536));
    assert.equal(r.status, 200, r.text);
    assert.equal(pair.baidu.calls.length, 1);
  });

  test("webhook-id of 256 visible ASCII characters is accepted", async () => {
    pair.baidu.reset();
    const id = `msg_${"~!#$%&'*+-.^_`|".repeat(20)}`.slice(0, 256);
    const r = await pair.relay.post(ROUTE, BODY, { id });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, id);
  });

  test("timestamp 4 minutes old and 4 minutes ahead are accepted", async () => {
    for (const ts of [nowSeconds() - 240, nowSeconds() + 240]) {
      pair.baidu.reset();
      const r = await pair.relay.post(ROUTE, BODY, { timestamp: ts });
      assert.equal(r.status, 200, r.text);
    }
  });
});

describe("check order (path, method, content type, size, authentication, JSON, fields)", () => {
  const order = [
    ["unknown path beats wrong method", (r) => r.request("DELETE", "/nowhere"), 404, "not_found"],
    ["wrong method beats content type", (r) => r.request("PATCH", ROUTE, { body: "x", headers: { "content-type": "text/plain" } }), 405, "method_not_allowed"],
    ["content type beats size and authentication", (r) => r.post(ROUTE, paddedBody(70000), { contentType: "text/plain", secret: false }), 415, "unsupported_media_type"],
    ["size beats authentication", (r) => r.post(ROUTE, paddedBody(70000), { secret: false }), 413, "payload_too_large"],
    ["authentication beats JSON", (r) => r.post(ROUTE, "{not json", { secret: false }), 401, "missing_webhook_header"],
    ["signature beats JSON", (r) => r.post(ROUTE, "{not json", { secret: newSecret() }), 401, "invalid_webhook_signature"],
    ["JSON beats fields", (r) => r.post(ROUTE, "[]"), 400, "invalid_json"],
  ];
  for (const [name, send, status, code] of order) {
    test(`${name} → ${status} ${code}`, async () => {
      pair.baidu.reset();
      assertError(await send(pair.relay), status, code);
      assert.equal(pair.baidu.calls.length, 0);
    });
  }
});

describe("a body streamed without Content-Length", () => {
  /**
   * Sends a chunked POST over a raw socket: `chunks` chunks of `chunkBytes`, and then (unless
   * `finish`) nothing more, the request left open. Resolves with the first response bytes.
   */
  function streamChunked(url, { chunks, chunkBytes, finish = false, timeoutMs = 10_000 }) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname);
      let received = "";
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(received)}`)); }, timeoutMs);
      socket.on("data", (data) => {
        received += data.toString("latin1");
        const end = received.indexOf("\r\n\r\n");
        if (end >= 0 && received.length > end + 4) {
          clearTimeout(timer);
          socket.destroy();
          resolve(received);
        }
      });
      socket.on("error", (error) => { clearTimeout(timer); reject(error); });
      socket.write(`POST ${ROUTE} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n` +
        `webhook-id: msg_stream\r\nwebhook-timestamp: ${nowSeconds()}\r\nwebhook-signature: v1,AAAA\r\n\r\n`);
      const chunk = Buffer.alloc(chunkBytes, "x");
      for (let i = 0; i < chunks; i++) socket.write(Buffer.concat([Buffer.from(`${chunkBytes.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]));
      if (finish) socket.write("0\r\n\r\n");
    });
  }

  test("past 64 KiB and never finished: 413 payload_too_large at once, before authentication", async () => {
    pair.baidu.reset();
    const started = Date.now();
    const raw = await streamChunked(new URL(pair.relay.url), { chunks: 9, chunkBytes: 8192 });
    assert.match(raw, /^HTTP\/1\.1 413 /, raw.slice(0, 200));
    assert.match(raw, /"payload_too_large"/);
    assert.ok(Date.now() - started < 5_000, "answered while the sender was still sending");
    assert.equal(pair.baidu.calls.length, 0);
  });

  test("under 64 KiB and finished: read whole, then judged (here: its signature)", async () => {
    const raw = await streamChunked(new URL(pair.relay.url), { chunks: 7, chunkBytes: 8192, finish: true });
    assert.match(raw, /^HTTP\/1\.1 401 /, raw.slice(0, 200));
  });
});

describe("secret rotation", () => {
  const a = newSecret();
  const b = newSecret();
  let rot;
  before(async () => { rot = await startPair({ buildDir, secret: `${a} ${b}` }); });
  after(async () => { await rot?.close(); });

  for (const [name, opts] of [
    ["signed with the first secret", { secret: a }],
    ["signed with the second secret", { secret: b }],
    ["signed with both", { secret: [a, b] }],
  ]) {
    test(`${name} → 200`, async () => {
      rot.baidu.reset();
      const r = await rot.relay.post(ROUTE, ORDER, opts);
      assert.equal(r.status, 200, r.text);
      assert.equal(rot.baidu.calls.length, 1);
    });
  }

  test("several signature entries, only the last one matches → 200", async () => {
    rot.baidu.reset();
    const id = "msg_rotation";
    const ts = nowSeconds();
    const good = signature({ secret: b, id, timestamp: ts, body: BODY });
    const other = signature({ secret: newSecret(), id, timestamp: ts, body: BODY });
    const header = `${other} v1a,c2lnbmF0dXJl ${good}`;
    const r = await rot.relay.post(ROUTE, BODY, { secret: false, headers: { "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": header } });
    assert.equal(r.status, 200, r.text);
    assert.equal(rot.baidu.calls.length, 1);
  });

  // Two `webhook-signature` header lines, sent as two lines on the wire: the platform joins them
  // with ", ", and any one valid entry must do (whichever line carries it).
  for (const validFirst of [true, false]) {
    test(`two webhook-signature header lines, the valid one ${validFirst ? "first" : "second"} → 200`, async () => {
      rot.baidu.reset();
      const id = newMessageId();
      const ts = nowSeconds();
      const good = signature({ secret: a, id, timestamp: ts, body: BODY });
      const other = signature({ secret: newSecret(), id, timestamp: ts, body: BODY });
      const lines = validFirst ? [good, other] : [other, good];
      const r = await rawPost(rot.relay.url + ROUTE, BODY, { "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": lines });
      assert.equal(r.status, 200, r.text);
      assert.equal(rot.baidu.calls.length, 1);
    });
  }

  test("two webhook-signature header lines, neither valid → 401 invalid_webhook_signature", async () => {
    rot.baidu.reset();
    const id = newMessageId();
    const ts = nowSeconds();
    const lines = [newSecret(), newSecret()].map((secret) => signature({ secret, id, timestamp: ts, body: BODY }));
    const r = await rawPost(rot.relay.url + ROUTE, BODY, { "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": lines });
    assert.equal(r.status, 401, r.text);
    assert.equal(JSON.parse(r.text).error.code, "invalid_webhook_signature");
    assert.equal(rot.baidu.calls.length, 0);
  });

  test("a third secret is refused → 401 invalid_webhook_signature", async () => {
    rot.baidu.reset();
    const r = await rot.relay.post(ROUTE, ORDER, { secret: newSecret() });
    assertError(r, 401, "invalid_webhook_signature");
    assert.equal(rot.baidu.calls.length, 0);
  });
});
