#!/usr/bin/env node
// npm run bench: what one relayed webhook costs, side by side with a hand-written WebCrypto
// TypeScript peer, measured from outside workerd (the local clock moves during CPU work, so
// nothing is timed inside a Worker). See BENCHMARKS.md for what each figure means.
//
//   node bench/run.mjs [--smoke] [--no-build] [--build-dir DIR] [--out FILE] [--key 1024|2048]
//                      [--only size,signing,requests,breakdown,startup,retention]
//
//   --smoke       tiny N, one repeat: checks that every part runs (bench/smoke.test.mjs), ~30 s
//   --no-build    do not run `build --if-stale`; measure build/ (or --build-dir) as it is
//   --out FILE    JSON results (default bench/results/latest.json, plus bench/results/<date>.json)
//   --key BITS    RSA key of the relay and the peer in the request benchmarks (default 2048)
//   --compare LABEL=DIR[,LABEL=DIR]  also load-test other relay builds (cancel-verification), in
//                 the same run, interleaved with the others: A/B of a change without the drift
//                 of two separate runs
//
// Progress goes to stderr; the results table to stdout.
import { execFileSync, spawnSync } from "node:child_process";
import { createPrivateKey, sign as cryptoSign } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";
import { applyMigrations, compatibilityDate, compatibilityFlags, DEAD_LETTER_QUEUE, LEDGER_BINDING, RETRY_QUEUE } from "../tests/support/relay.mjs";
import { keyPem } from "../tests/support/vectors.mjs";
import { newSecret, sign as signWebhook } from "../sandbox/webhook.mjs";
import { startFastBaidu } from "./lib/fast-baidu.mjs";
import { afterSaleIndex, CANCEL_ROUTE, d1SqliteFile, deliveredAnswer, finishedRow, insertRows, isAfterSale, MIX, sqliteSize } from "./lib/ledger.mjs";
import { assertAllOk, Gate, keepAliveAgent, runLoad, send } from "./lib/load.mjs";
import { BENCH_DIR, prepareRelay, preparePeer, prepareSignWorker, ROOT } from "./lib/prepare.mjs";
import { quantile, ratio, summary } from "./lib/stats.mjs";
import { printTable } from "./lib/report.mjs";

export const SCHEMA = 1;

const { values: args } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    "build-dir": { type: "string" },
    out: { type: "string" },
    key: { type: "string", default: "2048" },
    only: { type: "string" },
    compare: { type: "string" },
  },
});

const SMOKE = args.smoke;
const SECTIONS = new Set((args.only ?? "size,signing,requests,breakdown,startup,retention").split(",").map((s) => s.trim()));
const KEY_BITS = args.key;
if (!["1024", "2048"].includes(KEY_BITS)) throw new Error("--key must be 1024 or 2048");

// How much to measure. The full run stays under ~3 minutes on 2 cores.
const PLAN = SMOKE
  ? {
    signReps: 1, signN: { webcrypto: { 1024: 4, 2048: 3 }, rsaCrate: { 1024: 2, 2048: 2 } }, opensslReps: 1,
    slopeN: [4, 12], breakdownN: [3, 8], slopeReps: 1, slopeWarmup: 1, concurrency: [1, 8, 64], concurrencyRequests: { 1: 12, 8: 24, 64: 64 }, concurrencyReps: 1,
    warmup: 3, startupReps: 1,
    retentionRows: 6_000, retentionKindRows: 1_000, retentionConcurrency: 8, retentionLiveN: 40, retentionReps: 1, retentionStock: { low: 10_000, high: 20_000 },
  }
  : {
    signReps: 5, signN: { webcrypto: { 1024: 500, 2048: 150 }, rsaCrate: { 1024: 40, 2048: 8 } }, opensslReps: 3,
    slopeN: [50, 400], slopeBudgetMs: 1600, breakdownN: [30, 230], slopeReps: 5, slopeWarmup: 5, concurrency: [1, 8, 64], concurrencyRequests: { 1: 300, 8: 800, 64: 1000 }, concurrencyBudgetMs: 1200, concurrencyReps: 3,
    warmup: 30, startupReps: 5,
    retentionRows: 100_000, retentionKindRows: 20_000, retentionConcurrency: 8, retentionLiveN: 3_000, retentionReps: 3, retentionStock: { low: 30_000, high: 80_000 },
  };

const KEYS = {
  1024: { name: "baidu-doc-sample-1024", appKey: "MMMabc" },
  2048: { name: "test-2048", appKey: "MMMzaA" },
};
const SIGN_MESSAGE = "appKey=MMMzaA&orderId=2636635856&type=3&userId=4188819900";
const APP_KEY = "benchAppKey";
const APP_SECRET = "benchAppSecret";

const log = (line) => process.stderr.write(`bench: ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- workers and bindings

const MODULE_RULES = [{ type: "CompiledWasm", include: ["**/*.wasm"] }];
const DIRECT = [{ host: "127.0.0.1", port: 0 }];

function common() {
  return { compatibilityDate: compatibilityDate(), compatibilityFlags: compatibilityFlags(), unsafeDirectSockets: DIRECT };
}

// The relay's durable delivery, as wrangler.toml declares it (and tests/support/relay.mjs runs it):
// the D1 ledger and the retry and dead-letter queues. MAX_ATTEMPTS keeps its default (8); the
// fake Baidu always succeeds, so nothing is ever queued.
function deliveryOptions(database, { consume = true, queuePrefix = "" } = {}) {
  if (!consume) {
    // A queue has one consumer: compared builds (--compare) get their own, unconsumed queues.
    return { d1Databases: { [LEDGER_BINDING]: database }, queueProducers: { RETRIES: `${queuePrefix}${RETRY_QUEUE}`, DEAD_LETTERS: `${queuePrefix}${DEAD_LETTER_QUEUE}` } };
  }
  return {
    d1Databases: { [LEDGER_BINDING]: database },
    queueProducers: { RETRIES: RETRY_QUEUE, DEAD_LETTERS: DEAD_LETTER_QUEUE },
    queueConsumers: {
      [RETRY_QUEUE]: { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 3, deadLetterQueue: DEAD_LETTER_QUEUE },
      [DEAD_LETTER_QUEUE]: { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 3 },
    },
  };
}

function relayWorker(relay, bindings, name = "relay") {
  const delivery = name === "relay" ? deliveryOptions(`${name}-ledger`) : deliveryOptions(`${name}-ledger`, { consume: false, queuePrefix: `${name}-` });
  return { name, modules: true, modulesRoot: relay.dir, scriptPath: path.join(relay.dir, "index.js"), modulesRules: MODULE_RULES, bindings, ...delivery, ...common() };
}

function peerWorker(peer, bindings, { name = "peer", keyImport = "per-isolate", ledger = false } = {}) {
  return {
    name, modules: true, modulesRoot: peer.dir, scriptPath: peer.scriptPath,
    bindings: { ...bindings, PEER_KEY_IMPORT: keyImport, PEER_LEDGER: ledger ? "d1" : "off" },
    ...(ledger ? { d1Databases: { [LEDGER_BINDING]: `${name}-ledger` } } : {}),
    ...common(),
  };
}

/** Creates the ledger tables (as `wrangler d1 migrations apply` does) for the workers that have one. */
async function migrate(mf, workers) {
  for (const w of workers) if (w.d1Databases) await applyMigrations(await mf.getD1Database(LEDGER_BINDING, w.name));
}

const EMPTY_WORKER = { name: "empty", modules: true, script: "export default { fetch() { return new Response('ok') } }" };

function bindingsFor(baidu, secret) {
  const key = KEYS[KEY_BITS];
  return {
    relay: {
      WEBHOOK_SECRET: secret,
      BAIDU_RSA_PRIVATE_KEY: keyPem(key.name, "pkcs8"),
      BAIDU_PAY_APP_KEY: key.appKey,
      BAIDU_CASHIER_API: "etrade",
      BAIDU_CASHIER_URL: `${baidu.url}/cashier/syncOrderStatus`,
      BAIDU_TIMEOUT_MS: "10000",
      BAIDU_APP_KEY: APP_KEY,
      BAIDU_APP_SECRET: APP_SECRET,
      BAIDU_OPENAPI_URL: baidu.url,
    },
    peer: {
      WEBHOOK_SECRET: secret,
      BAIDU_RSA_PRIVATE_KEY: keyPem(key.name, "pkcs8"),
      BAIDU_PAY_APP_KEY: key.appKey,
      BAIDU_CASHIER_URL: `${baidu.url}/cashier/syncOrderStatus`,
      BAIDU_TIMEOUT_MS: "10000",
    },
  };
}

// ---------------------------------------------------------------- signed requests

let sequence = 0;

function cancelRequest(secret, label) {
  const n = ++sequence;
  const body = Buffer.from(JSON.stringify({ orderId: 1_000_000_000 + n, userId: 4188819900 }));
  const id = `bench_${label}_${process.pid}_${n}`;
  return { method: "POST", path: "/v1/cancel-verification", headers: { "content-type": "application/json", ...signWebhook({ secret, id, body }) }, body };
}

function afterSaleRequest(secret, label) {
  const n = ++sequence;
  const orderId = 1_000_000_000 + n;
  const body = Buffer.from(JSON.stringify({
    openId: "bench-open-id-000000000000000000",
    sceneId: orderId,
    sceneType: 2,
    data: [{
      CateID: 2,
      ResourceID: `R${orderId}`,
      EXT: { SubsOrder: { Status: 1, Items: [{ SubOrderID: `S${orderId}`, SubStatus: 1, CTime: 1764000000, MTime: 1764000600, OrderType: 1, Refund: { Amount: 1990, Product: [{ ID: "sku-1", Quantity: 1, Amount: 1990 }] } }] } },
    }],
  }));
  const id = `bench_${label}_${process.pid}_${n}`;
  return { method: "POST", path: "/v1/after-sale/update", headers: { "content-type": "application/json", ...signWebhook({ secret, id, body }) }, body };
}

/** The request-benchmark targets: what each sends, where. */
function targets(urls, secret, compared = []) {
  return [
    { key: "relay-cancel", label: "relay (Rust/wasm) cancel-verification", url: urls.relay, make: () => cancelRequest(secret, "rc") },
    // The recommended cashier settings: each cancel is marked in the ledger before it is sent, so
    // that a lost answer can be settled by queryorderdetail (one more D1 write per request).
    { key: "relay-checked-cancel", label: "relay with BAIDU_PAYMENT_APP_ID (marked) cancel-verification", url: urls.relayChecked, make: () => cancelRequest(secret, "rk") },
    ...compared.map((c) => ({ key: `${c.label}-cancel`, label: `relay build "${c.label}" cancel-verification`, url: urls[`compare:${c.label}`], make: () => cancelRequest(secret, c.label) })),
    { key: "peer-cancel", label: "peer (TS, key cached per isolate) cancel-verification", url: urls.peer, make: () => cancelRequest(secret, "pc") },
    { key: "peer-ledger-cancel", label: "peer + the relay's D1 ledger writes", url: urls.peerLedger, make: () => cancelRequest(secret, "pl") },
    { key: "peer-naive-cancel", label: "peer, naive (key imported per request)", url: urls.peerNaive, make: () => cancelRequest(secret, "pn") },
    { key: "relay-after-sale", label: "relay (Rust/wasm) after-sale update", url: urls.relay, make: () => afterSaleRequest(secret, "ra") },
    { key: "floor-noop", label: "floor: JS worker answering at once", url: urls.bench, make: () => ({ method: "GET", path: "/noop" }), floor: true },
    { key: "floor-fetch", label: "floor: JS worker doing one fetch to the fake", url: urls.bench, make: () => ({ method: "POST", path: "/fetch", body: Buffer.alloc(0) }), floor: true },
    { key: "floor-ledger", label: "floor: JS worker doing the ledger's 2 D1 statements", url: urls.bench, make: () => ({ method: "POST", path: "/ledger", body: Buffer.alloc(0) }), floor: true },
  ];
}

const batch = (target, n) => Array.from({ length: n }, target.make);

// ---------------------------------------------------------------- sections

function sizeSection(relay, peer, signWorker) {
  return {
    relay: { wasm: relay.wasm, js: relay.js, bundle: relay.bundle, wasmSha256: relay.wasmSha256 },
    peer: { bundle: peer.bundle },
    rsaCrateWasmBytes: signWorker?.wasmBytes ?? null,
  };
}

async function timeGet(url, pathname, agent) {
  const t0 = performance.now();
  const r = await send(url, { method: "GET", path: pathname }, agent);
  const ms = performance.now() - t0;
  if (r.status !== 200) throw new Error(`GET ${pathname}: HTTP ${r.status} ${r.body.toString().slice(0, 300)}`);
  return { ms, json: JSON.parse(r.body.toString("utf8") || "null") };
}

function opensslSpeed() {
  const runs = { 1024: [], 2048: [] };
  for (let i = 0; i < PLAN.opensslReps; i++) {
    const out = execFileSync("openssl", ["speed", "-seconds", "1", "-mr", "rsa1024", "rsa2048"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    for (const m of out.matchAll(/^\+F2:\d+:(\d+):([\d.]+):([\d.]+)/gm)) runs[m[1]]?.push(1000 / Number(m[2]));
  }
  return runs;
}

async function signingSection(benchUrl) {
  const agent = keepAliveAgent(1);
  const out = {};
  for (const bits of ["1024", "2048"]) {
    const key = KEYS[bits];
    const pem = keyPem(key.name, "pkcs8");
    const expected = cryptoSign("RSA-SHA1", Buffer.from(SIGN_MESSAGE), createPrivateKey(pem)).toString("base64");
    // First calls import/parse the keys; they also give the signatures to compare.
    const wc = await timeGet(benchUrl, `/webcrypto?bits=${bits}&n=1`, agent);
    const rc = await timeGet(benchUrl, `/rsa-crate?bits=${bits}&n=1`, agent);
    const identical = wc.json.signature === expected && rc.json.signature === expected;
    if (!identical) throw new Error(`${bits}-bit signatures differ: WebCrypto, rsa crate and OpenSSL must agree byte for byte`);
    const per = { webcrypto: [], rsaCrate: [] };
    for (let rep = 0; rep < PLAN.signReps; rep++) {
      for (const [kind, route] of [["webcrypto", "webcrypto"], ["rsaCrate", "rsa-crate"]]) {
        const n = PLAN.signN[kind][bits];
        const base = [];
        for (let i = 0; i < 3; i++) base.push((await timeGet(benchUrl, `/${route}?bits=${bits}&n=0`, agent)).ms);
        const t = (await timeGet(benchUrl, `/${route}?bits=${bits}&n=${n}`, agent)).ms;
        per[kind].push(Math.max(0, t - quantile(base, 0.5)) / n);
      }
    }
    // In-process OpenSSL through Node (hashing, padding and the private-key operation).
    const keyObject = createPrivateKey(pem);
    const nodeRuns = [];
    for (let rep = 0; rep < PLAN.signReps; rep++) {
      const n = PLAN.signN.webcrypto[bits];
      const t0 = performance.now();
      for (let i = 0; i < n; i++) cryptoSign("RSA-SHA1", Buffer.from(SIGN_MESSAGE), keyObject);
      nodeRuns.push((performance.now() - t0) / n);
    }
    out[bits] = { identical, webcrypto: summary(per.webcrypto), rsaCrateWasm: summary(per.rsaCrate), nodeCrypto: summary(nodeRuns) };
  }
  agent.destroy();
  log("signing: openssl speed ...");
  const speed = opensslSpeed();
  for (const bits of ["1024", "2048"]) out[bits].openssl = summary(speed[bits]);
  for (const bits of ["1024", "2048"]) {
    const o = out[bits];
    for (const k of ["webcrypto", "rsaCrateWasm", "nodeCrypto", "openssl"]) o[k].perSecond = o[k].median ? Math.round(1000 / o[k].median) : null;
    o.webcryptoOverOpenssl = ratio(o.webcrypto, o.openssl);
    o.rsaCrateOverOpenssl = ratio(o.rsaCrateWasm, o.openssl);
    o.rsaCrateOverWebcrypto = ratio(o.rsaCrateWasm, o.webcrypto);
  }
  return out;
}

/** (t(N2) − t(N1)) / (N2 − N1): sequential requests on one keep-alive connection, ms per request. */
async function slopeOf(url, make, [n1, n2], expectStatus = 200, what = url) {
  const agent = keepAliveAgent(1);
  try {
    assertAllOk(await runLoad(url, Array.from({ length: PLAN.slopeWarmup }, make), { concurrency: 1, agent, expectStatus }), `${what} warm-up`, expectStatus);
    const walls = [];
    for (const n of [n1, n2]) {
      const r = await runLoad(url, Array.from({ length: n }, make), { concurrency: 1, agent, expectStatus });
      assertAllOk(r, `${what} slope N=${n}`, expectStatus);
      walls.push(r.wallMs);
    }
    return (walls[1] - walls[0]) / (n2 - n1);
  } finally {
    agent.destroy();
  }
}

/**
 * Where the time goes: the same slope for requests that stop at each check of the contract's
 * order (404 route, 415 content type, 401 signature, 422 fields) and for a delivered one.
 */
async function breakdownSection(urls, secret) {
  const post = (body, { contentType = "application/json", key = secret } = {}) => () => {
    const raw = Buffer.from(typeof body === "function" ? body() : body);
    const id = `bench_stage_${process.pid}_${++sequence}`;
    return { method: "POST", path: "/v1/cancel-verification", headers: { "content-type": contentType, ...signWebhook({ secret: key, id, body: raw }) }, body: raw };
  };
  const order = () => JSON.stringify({ orderId: 1_000_000_000 + sequence, userId: 4188819900 });
  const otherSecret = newSecret();
  const stages = [
    { key: "404", label: "404 unknown path (routing, log line, answer)", status: 404, make: () => ({ method: "GET", path: "/v1/unknown" }) },
    { key: "415", label: "415 wrong content type (+ configuration, headers)", status: 415, make: post(order, { contentType: "text/plain" }) },
    { key: "401", label: "401 bad signature (+ body read, HMAC-SHA256)", status: 401, make: post(order, { key: otherSecret }) },
    { key: "422", label: "422 bad field (+ JSON parse, validation)", status: 422, make: post(() => JSON.stringify({ orderId: 1_000_000_000 + sequence, userId: -1 })) },
  ];
  const n = PLAN.breakdownN;
  const runs = {};
  for (let rep = 0; rep < PLAN.slopeReps; rep++) {
    for (const stage of stages) {
      for (const who of ["relay", "peer"]) {
        (runs[`${stage.key}/${who}`] ??= []).push(await slopeOf(urls[who], stage.make, n, stage.status, `${who} ${stage.key}`));
      }
    }
  }
  return {
    slopeN: n,
    stages: stages.map((st) => {
      const relay = summary(runs[`${st.key}/relay`]);
      const peer = summary(runs[`${st.key}/peer`]);
      return { key: st.key, label: st.label, relayMs: relay, peerMs: peer, relayMinusPeerMs: Number((relay.median - peer.median).toPrecision(3)) };
    }),
  };
}

/** Sequential warm-up; returns the median latency of its second half (ms), an estimate of the cost. */
async function warm(target, n) {
  const r = await runLoad(target.url, batch(target, n), { concurrency: 1 });
  assertAllOk(r, `${target.key} warm-up`);
  return quantile(r.latenciesMs.slice(Math.floor(n / 2)), 0.5);
}

const clamp = (x, lo, hi) => Math.max(lo, Math.min(hi, Math.round(x)));

/**
 * How many requests per run. Every target gets the same N (so that p99s are comparable),
 * sized from the slowest target's warm-up so that a run takes about PLAN.*BudgetMs.
 */
function requestCounts(slowestMs) {
  if (SMOKE) return { slopeN: PLAN.slopeN, concurrency: PLAN.concurrencyRequests };
  const n2 = clamp(PLAN.slopeBudgetMs / slowestMs, 100, PLAN.slopeN[1]);
  const speedup = { 1: 1, 8: 2, 64: 2.5 };
  return {
    slopeN: [Math.max(10, Math.round(n2 / 8)), n2],
    concurrency: Object.fromEntries(PLAN.concurrency.map((c) => [c, clamp((PLAN.concurrencyBudgetMs * (speedup[c] ?? 2)) / slowestMs, Math.max(100, c * 4), PLAN.concurrencyRequests[c])])),
  };
}

async function requestsSection(list) {
  const estimates = {};
  for (const t of list) estimates[t.key] = await warm(t, PLAN.warmup);
  const slowest = Math.max(...list.filter((t) => !t.floor).map((t) => estimates[t.key]));
  const counts = requestCounts(slowest);
  log(`requests: slowest warm-up ${slowest.toFixed(2)} ms/request → slope N=${counts.slopeN.join("→")}, load N=${Object.values(counts.concurrency).join("/")}`);
  // Slope: (t(N2) - t(N1)) / (N2 - N1) over sequential requests on one keep-alive connection.
  const slopes = Object.fromEntries(list.map((t) => [t.key, []]));
  for (let rep = 0; rep < PLAN.slopeReps; rep++) {
    for (const t of list) slopes[t.key].push(await slopeOf(t.url, t.make, counts.slopeN, 200, t.key));
  }
  log("requests: slopes done; concurrency runs ...");
  // Throughput and latency at each concurrency level (floors excluded: they are for the slope).
  const loaded = list.filter((t) => !t.floor);
  const levels = {};
  for (const c of PLAN.concurrency) {
    const n = counts.concurrency[c];
    const runs = Object.fromEntries(loaded.map((t) => [t.key, { throughput: [], p50: [], p99: [], mean: [] }]));
    for (let rep = 0; rep < PLAN.concurrencyReps; rep++) {
      for (const t of loaded) {
        const agent = keepAliveAgent(c);
        // Open the c connections first, untimed.
        assertAllOk(await runLoad(t.url, batch(t, c), { concurrency: c, agent }), `${t.key} c=${c} connect`);
        const r = await runLoad(t.url, batch(t, n), { concurrency: c, agent });
        agent.destroy();
        assertAllOk(r, `${t.key} c=${c}`);
        const lat = r.latenciesMs;
        runs[t.key].throughput.push((n / r.wallMs) * 1000);
        runs[t.key].p50.push(quantile(lat, 0.5));
        runs[t.key].p99.push(quantile(lat, 0.99));
        runs[t.key].mean.push(lat.reduce((a, b) => a + b, 0) / lat.length);
      }
    }
    levels[c] = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, {
      requests: n,
      throughputPerSecond: summary(v.throughput),
      msPerRequest: summary(v.throughput.map((x) => 1000 / x)),
      p50Ms: summary(v.p50), p99Ms: summary(v.p99), meanMs: summary(v.mean),
    }]));
    log(`requests: concurrency ${c} done`);
  }
  const slope = Object.fromEntries(Object.entries(slopes).map(([k, v]) => [k, summary(v)]));
  const versus = (peerKey) => ({
    slope: ratio(slope["relay-cancel"], slope[peerKey]),
    ...Object.fromEntries(PLAN.concurrency.map((c) => [`c${c}`, {
      timePerRequest: ratio(levels[c]["relay-cancel"].msPerRequest, levels[c][peerKey].msPerRequest),
      p50: ratio(levels[c]["relay-cancel"].p50Ms, levels[c][peerKey].p50Ms),
      p99: ratio(levels[c]["relay-cancel"].p99Ms, levels[c][peerKey].p99Ms),
    }])),
  });
  return {
    keyBits: Number(KEY_BITS),
    slopeN: counts.slopeN,
    warmupMedianMs: Object.fromEntries(Object.entries(estimates).map(([k, v]) => [k, Number(v.toPrecision(3))])),
    labels: Object.fromEntries(list.map((t) => [t.key, t.label])),
    slopeMsPerRequest: slope,
    concurrency: levels,
    relayOverPeer: versus("peer-cancel"),
    relayOverPeerWithLedger: versus("peer-ledger-cancel"),
  };
}

/** Fresh Miniflare (a new workerd process, so a fresh isolate) → first answers. */
async function startupSection(relay, peer, baidu, secret) {
  const b = bindingsFor(baidu, secret);
  const kinds = [
    { key: "relay", worker: () => relayWorker(relay, b.relay), cancel: true },
    { key: "peer", worker: () => peerWorker(peer, b.peer), cancel: true },
    { key: "empty", worker: () => ({ ...EMPTY_WORKER, ...common() }), cancel: false },
  ];
  const out = {};
  for (const kind of kinds) {
    const runs = { readyMs: [], firstHealthzMs: [], secondHealthzMs: [], totalToHealthzMs: [], firstCancelMs: [], secondCancelMs: [], totalToCancelMs: [] };
    for (let rep = 0; rep < PLAN.startupReps; rep++) {
      for (const first of kind.cancel ? ["healthz", "cancel"] : ["healthz"]) {
        const worker = kind.worker();
        const t0 = performance.now();
        const mf = new Miniflare({ host: "127.0.0.1", port: 0, handleStructuredLogs: () => {}, workers: [worker] });
        try {
          await mf.ready;
          const url = (await mf.unsafeGetDirectURL(worker.name)).href;
          const ready = performance.now() - t0;
          // The ledger's tables exist before a deployed Worker's first request: not timed.
          await migrate(mf, [worker]);
          const agent = keepAliveAgent(1);
          const request = first === "healthz" ? () => ({ method: "GET", path: "/healthz" }) : () => cancelRequest(secret, "su");
          const timed = async () => {
            const s = performance.now();
            const r = await send(url, request(), agent);
            if (r.status !== 200) throw new Error(`${kind.key} first ${first}: HTTP ${r.status} ${r.body.toString().slice(0, 300)}`);
            return performance.now() - s;
          };
          const firstMs = await timed();
          const total = ready + firstMs;
          const secondMs = await timed();
          agent.destroy();
          if (first === "healthz") {
            runs.readyMs.push(ready); runs.firstHealthzMs.push(firstMs); runs.secondHealthzMs.push(secondMs); runs.totalToHealthzMs.push(total);
          } else {
            runs.firstCancelMs.push(firstMs); runs.secondCancelMs.push(secondMs); runs.totalToCancelMs.push(total);
          }
        } finally {
          await mf.dispose();
        }
      }
    }
    out[kind.key] = Object.fromEntries(Object.entries(runs).filter(([, v]) => v.length).map(([k, v]) => [k, summary(v, 3)]));
  }
  return out;
}

// ---------------------------------------------------------------- ledger retention

const DAY_MS = 86_400_000;
// The relay's default LEDGER_RETENTION_DAYS, and what one scheduled run may delete
// (src/delivery/flow.rs PURGE_BATCH × PURGE_BATCHES).
const RETENTION_DAYS = 30;
const PURGE_BATCH = 500;
const PURGE_RUN_MAX = 5_000;
const CRON = { cron: "*/5 * * * *" };
const D1_LIMIT_BYTES = 10e9;
const STOCK_COLUMNS = "route, body, body_sha256, status, attempts, round_start, lease, last_error, answer_status, answer_body, baidu_answer, received_at, updated_at, next_attempt_at, sweep_at";
const OLD_FINISHED = "SELECT COUNT(*) AS n FROM deliveries WHERE status IN ('delivered', 'rejected', 'failed') AND updated_at < ?1";
// Bytes actually stored per row, by column group (length() counts characters unless cast).
const PAYLOAD = `SELECT route <> '${CANCEL_ROUTE}' AS afterSale, COUNT(*) AS rows,
    AVG(length(CAST(body AS BLOB))) AS body,
    AVG(length(CAST(answer_body AS BLOB)) + COALESCE(length(CAST(baidu_answer AS BLOB)), 0)) AS answer,
    AVG(length(CAST(webhook_id AS BLOB)) + length(CAST(route AS BLOB)) + length(body_sha256) + length(status)
      + COALESCE(length(CAST(last_error AS BLOB)), 0)) AS otherText
  FROM deliveries WHERE updated_at < ?1 GROUP BY 1`;

let ledgerSeq = 0;

/** The relay's purge statement, as src/delivery/ledger.rs declares it (null if not found). */
function purgeStatement() {
  const source = readFileSync(path.join(ROOT, "src", "delivery", "ledger.rs"), "utf8");
  const m = source.match(/pub const PURGE: &str = "((?:[^"\\]|\\.)*)";/s);
  return m ? m[1].replace(/\\\n\s*/g, "") : null;
}

/**
 * `n` finished rows of the mix (or of one `kind` of it: "afterSale" or "cancelVerification"),
 * last written between 31 and 61 days ago, oldest first.
 */
function oldRows(n, kind = "mix") {
  const now = Date.now();
  const span = 30 * DAY_MS;
  const oldest = now - (RETENTION_DAYS + 1) * DAY_MS - span;
  const rows = [];
  while (rows.length < n) {
    const i = ++ledgerSeq;
    if (kind !== "mix" && afterSaleIndex(i) !== (kind === "afterSale")) continue;
    rows.push(finishedRow(i, oldest + Math.floor((rows.length * span) / n)));
  }
  return rows;
}

/**
 * The synthetic rows must be the rows the relay writes: one real delivery of each kind is
 * compared with the row the generator makes for the same id and body.
 */
async function checkRowShapes(url, db, list) {
  for (const t of list) {
    const request = t.make();
    assertAllOk(await runLoad(url, [request], { concurrency: 1 }), `${t.key} shape check`);
    const id = request.headers["webhook-id"];
    const real = await db.prepare("SELECT * FROM deliveries WHERE webhook_id = ?1").bind(id).first();
    const expected = deliveredAnswer(real.route, id, real.body, APP_KEY);
    if (real.status !== "delivered" || real.answer_body !== expected) {
      throw new Error(`${t.key}: the relay stored ${real.status} ${real.answer_body}; the generator would store ${expected}`);
    }
    const synthetic = finishedRow(t.key === "relay-cancel" ? 0 : 4, Date.now());
    const nulls = (row) => Object.keys(row).filter((k) => row[k] === null).sort().join(",");
    if (isAfterSale(synthetic) !== (real.route !== CANCEL_ROUTE) || nulls(real) !== nulls(synthetic)) {
      throw new Error(`${t.key}: generated rows leave ${nulls(synthetic)} empty; the relay's leaves ${nulls(real)}`);
    }
  }
}

/**
 * What retention costs: bytes per finished row in the relay's D1 ledger, how long the cron's
 * purge takes to delete a backlog, and what a running purge does to live requests. One relay
 * in its own Miniflare, its ledger persisted on disk so that the SQLite file can be measured.
 */
async function retentionSection(relay, baidu, secret) {
  const started = performance.now();
  const persist = mkdtempSync(path.join(os.tmpdir(), "bench-ledger-"));
  const purges = [];
  const worker = relayWorker(relay, bindingsFor(baidu, secret).relay);
  const mf = new Miniflare({
    host: "127.0.0.1", port: 0, d1Persist: persist, workers: [worker],
    handleStructuredLogs: ({ message }) => { if (message.includes('"msg":"purge"')) purges.push(JSON.parse(message)); },
  });
  try {
    await mf.ready;
    await migrate(mf, [worker]);
    const db = await mf.getD1Database(LEDGER_BINDING, "relay");
    const cron = await mf.getWorker("relay");
    const url = (await mf.unsafeGetDirectURL("relay")).href;
    const list = targets({ relay: url }, secret);
    const cancel = list.find((t) => t.key === "relay-cancel");
    await checkRowShapes(url, db, [cancel, list.find((t) => t.key === "relay-after-sale")]);

    const cutoff = () => Date.now() - RETENTION_DAYS * DAY_MS;
    const oldCount = async () => (await db.prepare(OLD_FINISHED).bind(cutoff()).first()).n;
    const d1Size = async () => (await db.prepare("SELECT 1").run()).meta.size_after;
    // Each run logs one purge line; waiting for it pairs every line with its run.
    const scheduled = async () => {
      const expected = purges.length + 1;
      const t0 = performance.now();
      await cron.scheduled(CRON);
      const ms = performance.now() - t0;
      for (const deadline = Date.now() + 5_000; purges.length < expected;) {
        if (Date.now() > deadline) throw new Error("a scheduled run logged no purge line");
        await sleep(1);
      }
      const line = purges[expected - 1];
      if (line.error || line.skipped) throw new Error(`purge: ${JSON.stringify(line)}`);
      return { ms, deleted: line.deleted, more: line.more };
    };

    // 1. Bytes per row.
    const n = PLAN.retentionRows;
    log(`retention: filling the ledger with ${n} finished rows ...`);
    const file = d1SqliteFile(persist);
    const empty = sqliteSize(file);
    const rows = oldRows(n);
    const count = { afterSale: rows.filter(isAfterSale).length };
    count.cancelVerification = n - count.afterSale;
    const fill = await insertRows(db, rows);
    rows.length = 0;
    const full = sqliteSize(file);
    if (full.freelistPages !== 0 || full.bytes !== fill.sizeAfter) {
      throw new Error(`file ${full.bytes} B (${full.freelistPages} free pages) and D1's size_after ${fill.sizeAfter} B disagree`);
    }
    const payload = Object.fromEntries((await db.prepare(PAYLOAD).bind(cutoff()).all()).results.map((r) => [
      r.afterSale ? "afterSale" : "cancelVerification",
      { rows: r.rows, body: Math.round(r.body), answer: Math.round(r.answer), otherText: Math.round(r.otherText) },
    ]));
    const round = (x) => Number(x.toPrecision(4));
    const perRow = { all: round((full.bytes - empty.bytes) / n) };

    // Which index the purge's batch query uses: the plan, not the timing, says whether the
    // partial index on finished rows does its job.
    const statement = purgeStatement();
    const queryPlan = statement ? (await db.prepare(`EXPLAIN QUERY PLAN ${statement}`).bind(cutoff(), PURGE_BATCH).all()).results.map((r) => r.detail) : null;

    // 2. Purge time: every row is past the window; scheduled runs until none is left.
    log(`retention: purging ${n} rows, one scheduled run after another ...`);
    const runs = [];
    for (let left = await oldCount(); left > 0; left = await oldCount()) {
      if (runs.length > n / PURGE_RUN_MAX + 5) throw new Error(`purge: ${left} old rows left after ${runs.length} runs`);
      runs.push(await scheduled());
    }
    const deleted = runs.reduce((a, r) => a + r.deleted, 0);
    if (deleted !== n || runs.some((r) => r.deleted > PURGE_RUN_MAX)) {
      throw new Error(`purge: the runs logged ${runs.map((r) => r.deleted).join("+")} deleted rows for ${n}`);
    }
    const purgeMs = runs.reduce((a, r) => a + r.ms, 0);
    const afterPurge = sqliteSize(file);
    const afterPurgeD1 = await d1Size();

    // Bytes per row by kind: rows of one kind only, on the emptied ledger. The file keeps its
    // freed pages, so the growth is D1's size_after (pages in use), which the mixed fill
    // showed to equal the file's.
    for (const kind of ["cancelVerification", "afterSale"]) {
      const before = await d1Size();
      const k = await insertRows(db, oldRows(PLAN.retentionKindRows, kind));
      perRow[kind] = round((k.sizeAfter - before) / k.rows);
      await db.prepare("DELETE FROM deliveries WHERE updated_at < ?1").bind(cutoff()).run();
    }
    const per = (bytes) => Object.fromEntries(Object.entries(perRow).map(([k, v]) => [k, Math.round(bytes / v)]));

    // 3. Live cancel verifications, with no purge and while scheduled runs purge back to back.
    // A purge deletes over a thousand rows per live request, far more than the bench could insert
    // row by row: old rows are copied inside D1 from a stock of the mix, with the load paused.
    await insertRows(db, oldRows(PURGE_RUN_MAX));
    await db.prepare(`CREATE TABLE bench_stock AS SELECT * FROM deliveries WHERE updated_at < ?1`).bind(cutoff()).run();
    const copyStock = `INSERT INTO deliveries (webhook_id, ${STOCK_COLUMNS}) SELECT 'msg_' || lower(hex(randomblob(8))), ${STOCK_COLUMNS} FROM bench_stock`;
    const { low, high } = PLAN.retentionStock;
    const stockUp = async (have) => {
      const copies = Math.ceil((high - have) / PURGE_RUN_MAX);
      if (copies > 0) await db.batch(Array.from({ length: copies }, () => db.prepare(copyStock)));
      return have + Math.max(0, copies) * PURGE_RUN_MAX;
    };
    // How long one of the purge's statements holds the database (D1's own timing, which counts
    // CPU time locally), on the same backlog the live runs start from.
    const statementMs = [];
    if (statement) {
      await stockUp(await oldCount());
      for (let i = 0; i < PURGE_RUN_MAX / PURGE_BATCH; i++) statementMs.push((await db.prepare(statement).bind(cutoff(), PURGE_BATCH).run()).meta.duration);
    }
    const c = PLAN.retentionConcurrency;
    const liveN = PLAN.retentionLiveN;
    const load = async (what, gate) => {
      const agent = keepAliveAgent(c);
      assertAllOk(await runLoad(url, batch(cancel, c), { concurrency: c, agent }), `${what} connect`);
      // Signed as they are sent: a run slowed down by the purge can outlast the 5-minute window.
      const r = await runLoad(url, Array.from({ length: liveN }, () => cancel.make), { concurrency: c, agent, gate });
      agent.destroy();
      assertAllOk(r, what);
      return { wallMs: r.wallMs, p50: quantile(r.latenciesMs, 0.5), p99: quantile(r.latenciesMs, 0.99), throughput: (liveN / r.wallMs) * 1000 };
    };
    // Every measured request runs while a purge run is under way: when the old rows run low,
    // no new request starts, the purge goes on until the last one has its answer, and only
    // then is the stock refilled.
    const whilePurging = async (what) => {
      const gate = new Gate();
      let stock = await oldCount();
      let stop = false;
      let refills = 0;
      const during = [];
      const purgeOnce = async () => {
        const r = await scheduled();
        during.push(r);
        stock -= r.deleted;
      };
      const loop = (async () => {
        while (!stop) {
          await purgeOnce();
          if (stock >= low || stop) continue;
          let drained = false;
          const draining = gate.close().then(() => { drained = true; });
          while (!drained && stock > 0) await purgeOnce();
          await draining;
          stock = await stockUp(stock);
          refills++;
          gate.open();
        }
      })();
      let result;
      try {
        result = await load(what, gate);
      } finally {
        stop = true;
        gate.open();
        await loop;
      }
      return { ...result, purgeRuns: during.length, deleted: during.reduce((a, r) => a + r.deleted, 0), msPerRun: quantile(during.map((r) => r.ms), 0.5), refills, pausedMs: gate.pausedMs };
    };
    const live = { idle: [], purging: [] };
    await warm(cancel, PLAN.warmup);
    for (let rep = 0; rep < PLAN.retentionReps; rep++) {
      for (const kind of rep % 2 === 0 ? ["idle", "purging"] : ["purging", "idle"]) {
        // Both runs start with the same old rows waiting; only the purging run deletes them.
        await stockUp(await oldCount());
        live[kind].push(kind === "idle" ? await load(`retention idle rep ${rep}`) : await whilePurging(`retention purging rep ${rep}`));
      }
      const [i, p] = [live.idle.at(-1), live.purging.at(-1)];
      log(`retention: live rep ${rep + 1}/${PLAN.retentionReps}: p50/p99 ${i.p50.toFixed(1)}/${i.p99.toFixed(1)} ms idle, ${p.p50.toFixed(1)}/${p.p99.toFixed(1)} ms purging (${p.purgeRuns} runs, ${p.deleted} rows, ${p.refills} refills)`);
    }
    const pick = (list, k) => summary(list.map((r) => r[k]));
    const liveSummary = (list) => ({ p50Ms: pick(list, "p50"), p99Ms: pick(list, "p99"), throughputPerSecond: pick(list, "throughput"), wallMs: pick(list, "wallMs") });
    const idle = liveSummary(live.idle);
    const purging = {
      ...liveSummary(live.purging),
      purgeRuns: pick(live.purging, "purgeRuns"), rowsDeleted: pick(live.purging, "deleted"), msPerPurgeRun: pick(live.purging, "msPerRun"),
      refills: pick(live.purging, "refills"), pausedMs: pick(live.purging, "pausedMs"),
    };

    return {
      retentionDays: RETENTION_DAYS,
      rows: n,
      mix: { ...MIX, rows: count, description: "1 in 5 rows an after-sale webhook (update:append:status 2:1:1, 2–4 refund items); each kind 90% delivered, 8% rejected by Baidu, 2% failed after 8 attempts; random msg_ ids; last written 31–61 days ago" },
      storedBytesPerRow: payload,
      insert: { statements: fill.statements, ms: Math.round(fill.ms), rowsPerSecond: Math.round(n / (fill.ms / 1000)) },
      size: {
        method: "all: growth of the SQLite file of the persisted local D1 as a checkpoint leaves it (WAL read: last commit's page count × page size; equal to D1's meta.size_after) over the mixed fill, rows interleaved in time; by kind: growth of D1's size_after over retentionKindRows rows of that kind alone",
        pageSize: full.pageSize,
        emptyBytes: empty.bytes,
        fullBytes: full.bytes,
        bytesPerRow: perRow,
        rowsPerGB: per(1e9),
        d1LimitBytes: D1_LIMIT_BYTES,
        rowsInD1Limit: per(D1_LIMIT_BYTES),
        afterPurge: { fileBytes: afterPurge.bytes, freelistPages: afterPurge.freelistPages, d1SizeAfter: afterPurgeD1 },
      },
      purge: {
        runs: runs.length,
        deletedPerRun: runs.map((r) => r.deleted),
        msPerRun: summary(runs.map((r) => r.ms)),
        totalMs: Math.round(purgeMs),
        msEachRun: runs.map((r) => Number(r.ms.toFixed(1))),
        rowsPerSecond: Math.round(n / (purgeMs / 1000)),
        statement,
        queryPlan,
        statementMs: statementMs.length ? summary(statementMs) : null,
      },
      live: { concurrency: c, requests: liveN, reps: PLAN.retentionReps, idle, purging, purgingOverIdle: { p50: ratio(purging.p50Ms, idle.p50Ms), p99: ratio(purging.p99Ms, idle.p99Ms), throughput: ratio(purging.throughputPerSecond, idle.throughputPerSecond) } },
      durationSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    };
  } finally {
    await mf.dispose();
    rmSync(persist, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- targets

function verdicts(results) {
  const list = [];
  const s = results.signing?.["2048"];
  if (s) list.push({ target: "signing within 3× of OpenSSL (2048-bit, WebCrypto path)", limit: 3, value: s.webcryptoOverOpenssl, met: s.webcryptoOverOpenssl <= 3, unit: "×" });
  const r = results.requests?.relayOverPeer;
  if (r) {
    for (const c of PLAN.concurrency) {
      const v = r[`c${c}`].timePerRequest;
      list.push({ target: `time per request ≤ 1.0× the peer at concurrency ${c}`, limit: 1, value: v, met: v <= 1, unit: "×" });
    }
  }
  const size = results.size?.relay;
  if (size) list.push({ target: "wasm < 350 KB gzipped", limit: 350_000, value: size.wasm.gzip, met: size.wasm.gzip < 350_000, unit: "B" });
  const st = results.startup?.relay;
  if (st) {
    list.push({ target: "first response < 50 ms (fresh isolate, ready → first /healthz)", limit: 50, value: st.firstHealthzMs.median, met: st.firstHealthzMs.median < 50, unit: "ms" });
    list.push({ target: "first signed cancel-verification < 50 ms (ready → answer, key import included)", limit: 50, value: st.firstCancelMs.median, met: st.firstCancelMs.median < 50, unit: "ms" });
  }
  return list;
}

// ---------------------------------------------------------------- main

function gitInfo() {
  const git = (...a) => spawnSync("git", a, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
  return { commit: git("rev-parse", "HEAD"), srcDirty: git("status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock") !== "" };
}

function versions() {
  const pkg = (p) => JSON.parse(readFileSync(path.join(ROOT, "node_modules", p, "package.json"), "utf8")).version;
  const openssl = spawnSync("openssl", ["version"], { encoding: "utf8" }).stdout?.trim() ?? null;
  return { node: process.version, miniflare: pkg("miniflare"), workerd: pkg("workerd"), esbuild: pkg("esbuild"), openssl };
}

export async function main() {
  const startedAt = new Date();
  const started = performance.now();
  const results = {
    schema: SCHEMA,
    date: startedAt.toISOString(),
    smoke: SMOKE,
    plan: PLAN,
    git: gitInfo(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, loadAvgAtStart: os.loadavg().map((x) => Number(x.toFixed(2))), ...versions() },
  };

  const relay = await prepareRelay({ build: !args["no-build"], buildDir: args["build-dir"] ? path.resolve(args["build-dir"]) : undefined, log });
  const compared = [];
  for (const spec of (args.compare ?? "").split(",").filter(Boolean)) {
    const [label, dir] = spec.includes("=") ? spec.split("=") : [path.basename(path.dirname(path.resolve(spec))), spec];
    if (!/^[a-z0-9][a-z0-9-]*$/i.test(label)) throw new Error(`--compare: label "${label}" must be letters, digits and dashes`);
    compared.push({ label, ...(await prepareRelay({ build: false, buildDir: path.resolve(dir), log, as: `compare-${label}` })) });
  }
  if (compared.length) results.compared = compared.map((c) => ({ label: c.label, wasmSha256: c.wasmSha256, wasm: c.wasm }));
  results.build = { built: relay.built, builtAt: relay.builtAt, wasmSha256: relay.wasmSha256 };
  // The retention section runs the relay alone: no peer, no signing worker (and no cargo) for it.
  const peer = ["size", "signing", "requests", "breakdown", "startup"].some((k) => SECTIONS.has(k)) ? await preparePeer() : null;
  const signWorker = ["size", "signing", "requests", "breakdown"].some((k) => SECTIONS.has(k)) ? await prepareSignWorker({ log }) : null;
  log(`prepared in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  if (SECTIONS.has("size")) results.size = sizeSection(relay, peer, signWorker);

  const key = KEYS[KEY_BITS];
  const baidu = await startFastBaidu({ publicKey: keyPem(key.name, "pub"), appKey: APP_KEY, appSecret: APP_SECRET, sampleEvery: SMOKE ? 1 : 25 });
  const secret = newSecret();
  try {
    if (SECTIONS.has("signing") || SECTIONS.has("requests") || SECTIONS.has("breakdown")) {
      const b = bindingsFor(baidu, secret);
      const workers = [
        relayWorker(relay, b.relay),
        relayWorker(relay, { ...b.relay, BAIDU_PAYMENT_APP_ID: "1234567" }, "relay-checked"),
        ...compared.map((c) => relayWorker(c, b.relay, `relay-${c.label}`)),
        peerWorker(peer, b.peer),
        peerWorker(peer, b.peer, { name: "peer-ledger", ledger: true }),
        peerWorker(peer, b.peer, { name: "peer-naive", keyImport: "per-request" }),
      ];
      workers.push({
        name: "bench", modules: true, modulesRoot: signWorker.dir, scriptPath: signWorker.scriptPath,
        modulesRules: [{ type: "ESModule", include: ["**/*.js"] }, ...MODULE_RULES],
        bindings: { KEY_1024: keyPem(KEYS[1024].name, "pkcs8"), KEY_2048: keyPem(KEYS[2048].name, "pkcs8"), FAKE_URL: baidu.url },
        d1Databases: { [LEDGER_BINDING]: "bench-ledger" }, ...common(),
      });
      let logLines = 0;
      const mf = new Miniflare({ host: "127.0.0.1", port: 0, handleStructuredLogs: () => { logLines++; }, workers });
      try {
        await mf.ready;
        await migrate(mf, workers);
        const urls = {
          relay: (await mf.unsafeGetDirectURL("relay")).href,
          relayChecked: (await mf.unsafeGetDirectURL("relay-checked")).href,
          peer: (await mf.unsafeGetDirectURL("peer")).href,
          peerLedger: (await mf.unsafeGetDirectURL("peer-ledger")).href,
          peerNaive: (await mf.unsafeGetDirectURL("peer-naive")).href,
          bench: (await mf.unsafeGetDirectURL("bench")).href,
        };
        for (const c of compared) urls[`compare:${c.label}`] = (await mf.unsafeGetDirectURL(`relay-${c.label}`)).href;
        if (SECTIONS.has("signing")) {
          log("signing ...");
          results.signing = await signingSection(urls.bench);
        }
        if (SECTIONS.has("requests")) {
          log(`requests (${KEY_BITS}-bit key) ...`);
          results.requests = await requestsSection(targets(urls, secret, compared));
          await sleep(100);
          results.requests.workerLogLines = logLines;
        }
        if (SECTIONS.has("breakdown")) {
          log("breakdown (where the time goes, by the check a request stops at) ...");
          results.breakdown = await breakdownSection(urls, secret);
        }
      } finally {
        await mf.dispose();
      }
    }
    if (SECTIONS.has("startup")) {
      log("startup (fresh Miniflare instances) ...");
      results.startup = await startupSection(relay, peer, baidu, secret);
    }
    if (SECTIONS.has("retention")) {
      log("retention (ledger size, purge, live requests during a purge) ...");
      results.retention = await retentionSection(relay, baidu, secret);
    }
    const fake = await baidu.stats();
    results.fakeBaidu = fake;
    if (fake.failures.length) throw new Error(`the fake Baidu saw bad calls: ${fake.failures.join("; ")}`);
    if (fake.cashierVerified === 0 && (SECTIONS.has("requests") || SECTIONS.has("startup") || SECTIONS.has("retention"))) throw new Error("the fake Baidu verified no signature");
  } finally {
    await baidu.close();
  }

  results.targets = verdicts(results);
  results.machine.loadAvgAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
  results.durationSeconds = Number(((performance.now() - started) / 1000).toFixed(1));

  const outFile = args.out ? path.resolve(args.out) : path.join(BENCH_DIR, "results", "latest.json");
  mkdirSync(path.dirname(outFile), { recursive: true });
  const text = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(outFile, text);
  if (!args.out && !SMOKE) writeFileSync(path.join(BENCH_DIR, "results", `${startedAt.toISOString().slice(0, 10)}.json`), text);
  printTable(results, (line) => process.stdout.write(`${line}\n`));
  log(`done in ${results.durationSeconds} s; results in ${path.relative(process.cwd(), outFile)}`);
  return results;
}

main().catch((err) => {
  process.stderr.write(`bench: FAILED: ${err?.stack ?? err}\n`);
  process.exit(1);
});
