// The benchmark's fake Baidu, run in a worker thread (see fast-baidu.mjs): answers at once, so
// that it is never what limits a load test, and verifies only a sample of the signatures.
import http from "node:http";
import { parentPort, workerData } from "node:worker_threads";
import { canonicalString, verifySignature, toPublicKey } from "../../sandbox/fake-baidu.mjs";

const { publicKey, sampleEvery, appKey, appSecret, accessToken, expiresIn } = workerData;
const key = toPublicKey(publicKey);

const ORDER_CENTER_PREFIX = "/rest/2.0/smartapp/ordercenter/app/";
const JSON_TYPE = "application/json;charset=utf-8";
const CASHIER_OK = Buffer.from(JSON.stringify({ errno: 0, msg: "success", data: [] }));
const TOKEN_OK = Buffer.from(JSON.stringify({ access_token: accessToken, expires_in: expiresIn, scope: "smartapp_snsapi_base" }));

const stats = { cashier: 0, cashierVerified: 0, token: 0, orderCenter: 0, floor: 0, other: 0, failures: [] };

function fail(what) {
  if (stats.failures.length < 20) stats.failures.push(what);
}

function answer(res, status, body) {
  res.writeHead(status, { "content-type": JSON_TYPE, "content-length": body.length });
  res.end(body);
}

function handle(req, res, raw) {
  const q = req.url.indexOf("?");
  const path = q < 0 ? req.url : req.url.slice(0, q);
  if (path === "/cashier/syncOrderStatus") {
    const n = ++stats.cashier;
    if ((n - 1) % sampleEvery === 0) {
      const list = [...new URLSearchParams(raw.toString("utf8"))];
      const params = Object.fromEntries(list);
      if (verifySignature(canonicalString(list), params.rsaSign, key)) stats.cashierVerified++;
      else fail(`cashier call #${n}: rsaSign does not verify over "${canonicalString(list)}"`);
    }
    return answer(res, 200, CASHIER_OK);
  }
  if (path === "/floor") {
    stats.floor++;
    return answer(res, 200, CASHIER_OK);
  }
  if (path === "/oauth/2.0/token") {
    stats.token++;
    const form = new URLSearchParams(raw.toString("utf8"));
    if (form.get("grant_type") !== "client_credentials" || form.get("client_id") !== appKey || form.get("client_secret") !== appSecret || form.get("scope") !== "smartapp_snsapi_base") {
      fail("token request with wrong form fields");
      return answer(res, 401, Buffer.from(JSON.stringify({ error: "invalid_client", error_description: "unknown client id" })));
    }
    return answer(res, 200, TOKEN_OK);
  }
  if (path.startsWith(ORDER_CENTER_PREFIX)) {
    stats.orderCenter++;
    const query = new URLSearchParams(q < 0 ? "" : req.url.slice(q + 1));
    if (query.get("access_token") !== accessToken) {
      fail("order-center call with an unknown access token");
      return answer(res, 200, Buffer.from(JSON.stringify({ error_code: 110, error_msg: "Access token invalid or no longer valid" })));
    }
    let items = [];
    try { items = JSON.parse(raw.toString("utf8")).Data ?? []; } catch { fail("order-center body is not JSON"); }
    const data = items.map((item) => ({ biz_app_id: item.BizAPPID, cate_id: item.CateID, resource_id: item.ResourceID, rows_affected: "1" }));
    return answer(res, 200, Buffer.from(JSON.stringify({ errno: 0, msg: "success", data })));
  }
  stats.other++;
  fail(`unexpected path ${path}`);
  return answer(res, 404, Buffer.from("{}"));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => handle(req, res, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;
server.listen(0, "127.0.0.1", () => parentPort.postMessage({ type: "listening", port: server.address().port }));

parentPort.on("message", (message) => {
  if (message === "stats") parentPort.postMessage({ type: "stats", stats: structuredClone(stats) });
  if (message === "close") {
    server.closeAllConnections();
    server.close(() => parentPort.postMessage({ type: "closed" }));
  }
});
