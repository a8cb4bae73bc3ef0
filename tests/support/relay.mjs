// Runs the built worker (build/index.js + build/index_bg.wasm) in Miniflare/workerd and talks to it
// over real HTTP, as a merchant would.
//
//   const relay = await startRelay({ bindings: { WEBHOOK_SECRET, BAIDU_RSA_PRIVATE_KEY, ... } });
//   const r = await relay.post("/v1/cancel-verification", { orderId: 1, userId: 2 });   // signed
//   r.status, r.headers, r.text, r.json, r.webhookId, r.ms
//   relay.logs          // every console line of the worker: {level, message, json?, timestamp}
//   relay.requestLogs() // the parsed {"msg":"request",...} lines
//   await relay.close();
//
// OpenAPI: every answer request() gets is checked against openapi.yaml as it arrives (route and
// status declared, headers and JSON body valid); an undeclared or invalid answer fails the test
// that got it, right there, naming the problems. `onResponse` (a startRelay option) sees each
// answer as {suite, method, path, query, status, headers, text}.
//
// Outbound fetch() from the worker reaches 127.0.0.1 for real: Miniflare's "internet" service
// allows public and private addresses, so no outboundService interception is needed.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_splitSqlQuery } from "wrangler";
import { sign, newMessageId, nowSeconds } from "../../sandbox/webhook.mjs";
import { loadSpec, responseChecker } from "./openapi.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BUILD_DIR = path.join(ROOT, "build");

// What deploys, as wrangler itself reads wrangler.toml: the compatibility date and flags, the
// module rules, [vars], and the D1, KV and Queues bindings with the consumers' settings.
const WRANGLER = unstable_getMiniflareWorkerOptions(path.join(ROOT, "wrangler.toml")).workerOptions;

/** compatibility_date from wrangler.toml, so tests run what deploys. */
export function compatibilityDate() {
  return WRANGLER.compatibilityDate;
}

/** compatibility_flags from wrangler.toml, if any. */
export function compatibilityFlags() {
  return WRANGLER.compatibilityFlags ?? [];
}

// Durable delivery (D1 ledger, retry and dead-letter queues), as declared in wrangler.toml.
export const LEDGER_BINDING = "LEDGER";
export const RETRY_QUEUE = WRANGLER.queueProducers?.RETRIES?.queueName;
export const DEAD_LETTER_QUEUE = WRANGLER.queueConsumers?.[RETRY_QUEUE]?.deadLetterQueue;
if (!RETRY_QUEUE || !DEAD_LETTER_QUEUE) throw new Error("wrangler.toml: no RETRIES producer, or its consumer names no dead_letter_queue");
const MIGRATIONS_DIR = path.join(ROOT, "migrations");

/**
 * Miniflare options for the ledger and both queues, from wrangler.toml. `queues` tunes the
 * consumers for tests: { maxBatchTimeout (s, default 1, where wrangler.toml waits 5),
 * maxRetries (Queues' own redelivery limit; default wrangler.toml's) }. `omit` names bindings to
 * leave out (LEDGER, RETRIES), as a wrangler.toml missing them would. One producer is the tests'
 * own: DEAD_LETTERS, to put messages on the dead-letter queue as Queues does.
 */
function deliveryBindings({ maxBatchTimeout = 1, maxRetries } = {}, omit = []) {
  const producers = { ...WRANGLER.queueProducers, DEAD_LETTERS: { queueName: DEAD_LETTER_QUEUE } };
  const consumers = Object.fromEntries(Object.entries(WRANGLER.queueConsumers ?? {}).map(([queue, consumer]) => [
    queue, { ...consumer, maxBatchTimeout, ...(maxRetries === undefined ? {} : { maxRetries }) },
  ]));
  return {
    d1Databases: Object.fromEntries(Object.entries(WRANGLER.d1Databases ?? {}).filter(([name]) => !omit.includes(name))),
    queueProducers: Object.fromEntries(Object.entries(producers).filter(([name]) => !omit.includes(name))),
    queueConsumers: consumers,
  };
}

/** The KV bindings a test asks for, each one wrangler.toml declares. */
function kvBindings(names) {
  for (const name of names) if (!WRANGLER.kvNamespaces?.[name]) throw new Error(`wrangler.toml declares no KV namespace ${name}`);
  return Object.fromEntries(names.map((name) => [name, WRANGLER.kvNamespaces[name]]));
}

/** Whether the ledger's schema is already there (a persisted ledger reopened). */
async function ledgerExists(db) {
  return Boolean(await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'").first());
}

/** Applies migrations/*.sql in order, as `wrangler d1 migrations apply` does. */
export async function applyMigrations(db) {
  for (const file of readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith(".sql")).sort()) {
    // Split as wrangler splits a migration file (comments, strings and triggers kept whole).
    const statements = unstable_splitSqlQuery(readFileSync(path.join(MIGRATIONS_DIR, file), "utf8"));
    await db.batch(statements.map((statement) => db.prepare(statement)));
  }
}

const SUITE = path.basename(process.argv[1] ?? "");
let checkAnswer;

/** Fails at once, naming the problems, when an answer disagrees with openapi.yaml. */
function checkAgainstSpec(entry) {
  checkAnswer ??= responseChecker(loadSpec());
  const problems = checkAnswer(entry);
  if (problems.length) {
    throw new assert.AssertionError({ message: `${entry.method} ${entry.path}${entry.query} -> ${entry.status} disagrees with openapi.yaml:\n- ${problems.join("\n- ")}\nbody: ${String(entry.text).slice(0, 300)}` });
  }
}

function tryJson(text) {
  try { return JSON.parse(text); } catch { return undefined; }
}

/**
 * A merchant's client of a relay at `url` (Miniflare's, or `wrangler dev`'s): request(), get() and
 * a Standard-Webhooks-signed post() with the first of `secrets`. Every answer is checked against
 * openapi.yaml as it arrives.
 */
export function relayClient(url, { secrets = [], onResponse } = {}) {
  async function request(method, pathname, { body, headers = {} } = {}) {
    const t0 = performance.now();
    const target = new URL(pathname, url);
    const res = await fetch(target, { method, body, headers, redirect: "manual" });
    const text = await res.text();
    const ms = performance.now() - t0;
    const entry = { suite: SUITE, method, path: target.pathname, query: target.search, status: res.status, headers: Object.fromEntries(res.headers), text };
    onResponse?.(entry);
    checkAgainstSpec(entry);
    return { status: res.status, headers: res.headers, text, json: tryJson(text), ms };
  }

  return {
    url: url.replace(/\/$/, ""),
    request,
    get: (pathname, opts) => request("GET", pathname, opts),
    /**
     * POSTs a Standard-Webhooks-signed body. `body` is an object (JSON-encoded) or a string/Buffer (sent as is).
     * Options: secret (default: first of WEBHOOK_SECRET; array = one entry per secret; false = unsigned),
     * id, timestamp, contentType (default application/json; null = none), headers (merged last; a
     * null/undefined value removes that header), signBody (sign these bytes instead of the body sent).
     */
    async post(pathname, body, { secret = secrets[0], id = newMessageId(), timestamp = nowSeconds(), contentType = "application/json", headers = {}, signBody } = {}) {
      const raw = typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      const h = {};
      if (contentType !== null) h["content-type"] = contentType;
      if (secret) Object.assign(h, sign({ secret, id, timestamp, body: signBody ?? raw }));
      for (const [k, v] of Object.entries(headers)) {
        if (v === undefined || v === null) delete h[k.toLowerCase()];
        else h[k.toLowerCase()] = String(v);
      }
      // A Uint8Array body keeps fetch from adding its own content-type.
      const r = await request("POST", pathname, { body: Buffer.isBuffer(raw) ? new Uint8Array(raw) : new TextEncoder().encode(raw), headers: h });
      return { ...r, webhookId: h["webhook-id"], sentHeaders: h };
    },
  };
}

/**
 * Starts the worker. Options:
 *   bindings  string env vars (undefined values are left out)
 *   buildDir  directory holding index.js (default <repo>/build)
 *   port      0 = random
 *   onLog     called with each captured log entry {level, message, timestamp, json}
 *   kvNamespaces  KV bindings, e.g. ["TOKEN_CACHE"] (read them with relay.mf.getKVNamespace(name))
 *   kvPersist     where KV data lives: false/undefined = in memory, per instance; a directory path =
 *                 on disk, shared by every instance given the same path
 *   d1Persist     where the LEDGER lives: false/undefined = in memory; a directory path = on disk,
 *                 so a relay started again on the same path (say, with other settings) finds the
 *                 rows of the one before it (migrations are applied only to a new ledger)
 *   omitBindings  delivery bindings to leave out, e.g. ["LEDGER"] or ["RETRIES"]
 *   onResponse    called with each answer request() gets: {suite, method, path, query, status, headers, text}
 */
export async function startRelay({ bindings = {}, buildDir = BUILD_DIR, port = 0, onLog, kvNamespaces, kvPersist, d1Persist, omitBindings = [], queues = {}, onResponse } = {}) {
  const logs = [];
  const listeners = new Set();
  const cleanBindings = Object.fromEntries(Object.entries(bindings).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => [k, String(v)]));
  // Retries are off unless a test asks for them, so a transient failure answers at once
  // with its own error; the delivery suites set MAX_ATTEMPTS and short delays.
  if (!("MAX_ATTEMPTS" in bindings)) cleanBindings.MAX_ATTEMPTS = "1";
  const mf = new Miniflare({
    modules: true,
    modulesRoot: path.resolve(buildDir),
    scriptPath: path.resolve(buildDir, "index.js"),
    modulesRules: WRANGLER.modulesRules,
    compatibilityDate: compatibilityDate(),
    compatibilityFlags: compatibilityFlags(),
    // wrangler.toml's [vars], then the test's own values.
    bindings: { ...WRANGLER.bindings, ...cleanBindings },
    ...(kvNamespaces ? { kvNamespaces: kvBindings(kvNamespaces) } : {}),
    ...deliveryBindings(queues, omitBindings),
    ...(kvPersist ? { kvPersist } : {}),
    ...(d1Persist ? { d1Persist } : {}),
    host: "127.0.0.1",
    port,
    // Captures console.log/console.error of the worker, one entry per line. Must return void.
    handleStructuredLogs: ({ level, message, timestamp }) => {
      const entry = { level, message, timestamp, json: tryJson(message) };
      logs.push(entry);
      onLog?.(entry);
      for (const l of listeners) l();
    },
  });
  const url = await mf.ready;
  if (!omitBindings.includes(LEDGER_BINDING)) {
    const db = await mf.getD1Database(LEDGER_BINDING);
    if (!(d1Persist && await ledgerExists(db))) await applyMigrations(db);
  }
  const secrets = (cleanBindings.WEBHOOK_SECRET ?? "").split(/\s+/).filter(Boolean);

  return {
    ...relayClient(url.href, { secrets, onResponse }),
    mf,
    logs,
    bindings: cleanBindings,
    /** Parsed request log lines ({"msg":"request",...}). */
    requestLogs() {
      return logs.filter((l) => l.json && l.json.msg === "request").map((l) => l.json);
    },
    /** Waits until `predicate(logs)` is true (log lines arrive asynchronously), or times out. */
    async waitForLogs(predicate, timeoutMs = 3000) {
      if (predicate(logs)) return logs;
      return new Promise((resolve, reject) => {
        const check = () => { if (predicate(logs)) { done(); resolve(logs); } };
        const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for worker log lines; have:\n${logs.map((l) => l.message).join("\n")}`)); }, timeoutMs);
        const done = () => { clearTimeout(timer); listeners.delete(check); };
        listeners.add(check);
      });
    },
    async close() {
      await mf.dispose();
    },
  };
}
