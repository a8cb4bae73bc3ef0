// openapi.yaml: the document itself, its agreement with docs/contract.md, and a sample of every
// kind of the Worker's answers against it. (Every other suite's answers are checked as they arrive,
// by tests/support/relay.mjs.)
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  ROOT, loadSpec, lintSpec, responseChecker, resolveOperation,
  declaredAnswers, errorCodesByStatus,
} from "../support/openapi.mjs";
import {
  prepareBuild, bindingsFor, startRelay, startFakeBaidu, publicKeyOf, KEYS, ORDER, ROUTE, refundItem,
  APP_KEY, APP_SECRET, OPEN_ID, SCENE_ID,
} from "../support/e2e.mjs";

const spec = loadSpec();

/** The rows of the first markdown table after `heading` in docs/contract.md, as arrays of cells. */
function contractTable(heading) {
  const text = readFileSync(path.join(ROOT, "docs", "contract.md"), "utf8");
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `docs/contract.md has no "${heading}" section`);
  const rows = [];
  let inTable = false;
  for (const line of text.slice(start + heading.length + 2).split("\n")) {
    if (line.startsWith("|")) {
      inTable = true;
      const cells = line.split("|").slice(1, -1).map((c) => c.trim());
      if (!cells.every((c) => /^-*$/.test(c))) rows.push(cells);
    } else if (inTable) break;
  }
  return rows.slice(1); // without the header row
}

/** A stable key for one answer: "METHOD template status code". */
function answerKey(spec, r) {
  const resolved = resolveOperation(spec, r.method, r.path);
  const code = (() => { try { return JSON.parse(r.text)?.error?.code; } catch { return undefined; } })();
  return `${r.method} ${resolved.unmatched ? "(unmatched)" : resolved.template} ${r.status}${code ? ` ${code}` : ""}`;
}

/** Checks answers; fails listing each distinct problem once with how often and where it happened. */
function assertAllValid(records, t) {
  const check = responseChecker(spec);
  const failures = new Map();
  for (const r of records) {
    const problems = check(r);
    if (problems.length === 0) continue;
    const key = `${answerKey(spec, r)}: ${problems.join("; ")}`;
    const f = failures.get(key) ?? { n: 0, suites: new Set(), example: r };
    f.n++;
    f.suites.add(r.suite);
    failures.set(key, f);
  }
  const seen = new Set(records.map((r) => {
    const resolved = resolveOperation(spec, r.method, r.path);
    return resolved.unmatched ? `* (unmatched) ${r.status}` : `${r.method.toUpperCase()} ${resolved.template} ${r.status}`;
  }));
  const codes = new Set(records.map((r) => answerKey(spec, r)));
  t.diagnostic(`${records.length} answers checked; ${codes.size} distinct route/status/code combinations`);
  const unexercised = declaredAnswers(spec).filter((a) => !seen.has(a) && !a.endsWith(" 2XX"));
  if (unexercised.length) t.diagnostic(`declared but not exercised by this sample: ${unexercised.join(", ")}`);
  if (failures.size) {
    const lines = [...failures].map(([key, f]) => `- ${key}\n    ${f.n}x in ${[...f.suites].join(", ")}; e.g. ${f.example.method} ${f.example.path}${f.example.query ?? ""} -> ${f.example.status} ${String(f.example.text).slice(0, 300)}`);
    assert.fail(`${failures.size} kind(s) of answer disagree with openapi.yaml:\n${lines.join("\n")}`);
  }
}

test("openapi.yaml: valid YAML, OpenAPI 3.1.x, every $ref resolves, every schema compiles", () => {
  assert.deepEqual(lintSpec(spec), []);
});

test("openapi.yaml agrees with docs/contract.md: every route, and every error code under its status", () => {
  const routes = contractTable("## Routes").map(([method, p]) => [method, p.replace(/`/g, "")]);
  assert.ok(routes.length >= 7, "docs/contract.md lists fewer routes than expected");
  for (const [method, p] of routes) assert.ok(spec.paths[p]?.[method.toLowerCase()], `${method} ${p} (docs/contract.md) is not in openapi.yaml`);
  const specOps = Object.entries(spec.paths).flatMap(([p, item]) => Object.keys(item).filter((m) => m !== "parameters").map((m) => `${m.toUpperCase()} ${p}`));
  for (const op of specOps) assert.ok(routes.some(([m, p]) => `${m} ${p}` === op), `${op} is in openapi.yaml but not in docs/contract.md`);

  const rows = contractTable("## Errors");
  const errors = rows.map(([status, code]) => [Number(status), code.replace(/`/g, "")]);
  // Codes no HTTP answer carries (an event's delivery to the merchant has no caller): the
  // contract marks them "ledger only"; they are still in ErrorCode, for lastError and stored answers.
  const ledgerOnly = new Set(rows.filter(([, , when]) => /^ledger only\b/.test(when.trim())).map(([, code]) => code.replace(/`/g, "")));
  assert.ok(errors.length >= 29, `docs/contract.md lists ${errors.length} error codes`);
  const contractStatus = new Map(errors.map(([status, code]) => [code, status]));
  const byStatus = errorCodesByStatus(spec);
  for (const [status, code] of errors) {
    if (ledgerOnly.has(code)) continue;
    assert.ok(byStatus.get(String(status))?.has(code), `${status} ${code} (docs/contract.md) is declared by no ${status} answer in openapi.yaml`);
  }
  for (const [status, codes] of byStatus) {
    for (const code of codes) assert.equal(contractStatus.get(code), Number(status), `openapi.yaml declares ${code} under ${status}; docs/contract.md says ${contractStatus.get(code)}`);
  }
  assert.deepEqual([...spec.components.schemas.ErrorCode.enum].sort(), [...contractStatus.keys()].sort(), "ErrorCode enum vs the contract's error table");
});

describe("the Worker's answers validate against openapi.yaml", () => {
  let buildDir;
  before(async () => { buildDir = await prepareBuild(); });

  // A small sample of its own, so this file means something when run alone.
  describe("a sample of every kind of answer", () => {
    const answers = [];
    let baidu;
    let relay;
    let bare;
    before(async () => {
      baidu = await startFakeBaidu({ publicKey: publicKeyOf(KEYS["1024 PKCS#1 PEM"].name), openapi: { appKey: APP_KEY, appSecret: APP_SECRET } });
      baidu.respondForOrder("10002", { errno: 10002, msg: "order not exist" });
      baidu.respondForOrder("10003", { errno: 10003, msg: "企业余额不足" });
      baidu.respondForOrder("500", "http500");
      baidu.rowsAffectedFor("ROWS0", "0");
      const onResponse = (r) => answers.push(r);
      relay = await startRelay({
        bindings: bindingsFor({ baidu, BAIDU_APP_KEY: APP_KEY, BAIDU_APP_SECRET: APP_SECRET, BAIDU_OPENAPI_URL: baidu.url, ADMIN_TOKEN: "openapi-admin-token-0123" }),
        kvNamespaces: ["TOKEN_CACHE"],
        buildDir,
        onResponse,
      });
      // No feature configured: /healthz 503, webhook routes 500, admin routes 500.
      bare = await startRelay({ bindings: { WEBHOOK_SECRET: relay.bindings.WEBHOOK_SECRET }, buildDir, onResponse });
    });
    after(async () => {
      await relay?.close();
      await bare?.close();
      await baidu?.close();
    });

    test("health, webhooks, admin, unknown routes", async () => {
      const admin = { headers: { authorization: "Bearer openapi-admin-token-0123" } };
      const ok = await relay.post(ROUTE, ORDER);
      assert.equal(ok.status, 200, ok.text);
      const statuses = [
        (await relay.get("/healthz")).status,
        (await relay.get("/healthz?signing=1")).status,
        ok.status,
        (await relay.post(ROUTE, ORDER, { id: ok.webhookId })).status, // replayed
        (await relay.post(ROUTE, { orderId: 10002, userId: 1 })).status,
        (await relay.post(ROUTE, { orderId: 10003, userId: 1 })).status,
        (await relay.post(ROUTE, { orderId: 500, userId: 1 })).status, // MAX_ATTEMPTS=1: the error itself
        (await relay.post(ROUTE, { orderId: "x", userId: 1 })).status,
        (await relay.post(ROUTE, "{not json")).status,
        (await relay.post(ROUTE, ORDER, { contentType: "text/plain" })).status,
        (await relay.post(ROUTE, ORDER, { secret: false })).status,
        (await relay.post(ROUTE, "x".repeat(70_000))).status,
        (await relay.post("/v1/after-sale/update", { openId: OPEN_ID, sceneId: SCENE_ID, data: [refundItem()] })).status,
        (await relay.post("/v1/after-sale/status", { openId: OPEN_ID, sceneId: SCENE_ID, data: [{ CateID: 2, ResourceID: "ROWS0", EXT: { SubsOrder: { Status: 404 } } }] })).status,
        (await relay.post("/v1/after-sale/append", { openId: OPEN_ID, sceneId: SCENE_ID, data: [{ CateID: 2 }] })).status,
        (await relay.get(`/v1/deliveries/${ok.webhookId}`, admin)).status,
        (await relay.get("/v1/deliveries/msg_unknown", admin)).status,
        (await relay.get(`/v1/deliveries/${ok.webhookId}`)).status,
        (await relay.request("POST", `/v1/deliveries/${ok.webhookId}/retry`, admin)).status,
        (await relay.get("/v1/nothing-here")).status,
        (await relay.get(ROUTE)).status,
        (await bare.get("/healthz")).status,
        (await bare.post(ROUTE, ORDER)).status,
        (await bare.get("/v1/deliveries/msg_1")).status,
      ];
      assert.deepEqual(statuses, [200, 200, 200, 200, 422, 409, 502, 422, 400, 415, 401, 413, 200, 422, 422, 200, 404, 401, 409, 404, 405, 503, 500, 500]);
    });

    test("every answer of the sample is declared and valid", (t) => {
      assert.ok(answers.length >= 24);
      assertAllValid(answers, t);
    });
  });
});
