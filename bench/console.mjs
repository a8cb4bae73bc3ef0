#!/usr/bin/env node
// npm run bench:console: the operator console's reads at 100,000 ledger rows. The built Worker in
// workerd (Miniflare) with a local D1 filled by one INSERT … SELECT; every request timed from
// outside over HTTP, one at a time (see BENCHMARKS.md, "Operator console"). Then the same pages
// without migration 0004's indexes, to show what they buy.
//
//   node bench/console.mjs [--rows 100000] [--reps 200] [--no-build]
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { prepareBuild, startRelay } from "../tests/support/e2e.mjs";
import { ADMIN_TOKEN } from "../tests/support/delivery.mjs";
import { newSecret } from "../sandbox/webhook.mjs";
import { quantile } from "./lib/stats.mjs";

const { values: args } = parseArgs({
  options: { rows: { type: "string", default: "100000" }, reps: { type: "string", default: "200" } },
});
const ROWS = Number(args.rows);
const REPS = Number(args.reps);
const DAY = 86_400_000;
const NOW = Date.now();

const buildDir = await prepareBuild();
const relay = await startRelay({ buildDir, bindings: { WEBHOOK_SECRET: newSecret(), ADMIN_TOKEN } });
const db = await relay.mf.getD1Database("LEDGER");

// The mix of bench/lib/ledger.mjs in shape: 1 in 5 after-sale, 90% delivered, 2% failed, 4%
// rejected, 2% queued, 2% pending; received over the last 30 days, newest last.
const t0 = performance.now();
await db.prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
  INSERT INTO deliveries (webhook_id, route, body, body_sha256, status, attempts, round_start, lease, last_error,
    answer_status, answer_body, baidu_answer, received_at, updated_at, next_attempt_at, sweep_at)
  SELECT printf('msg_%08d', i),
    CASE WHEN i % 5 = 4 THEN '/v1/after-sale/update' ELSE '/v1/cancel-verification' END,
    CASE WHEN i % 5 = 4
      THEN '{"openId":"k6bYMRbMDkF7hv0U4Dm1D2k9C8cPA4h5","sceneId":' || (2600000000 + i) || ',"sceneType":2,"data":[{"CateID":2,"ResourceID":"M' || i || '","EXT":{"SubsOrder":{"Status":402}}}]}'
      ELSE '{"orderId":' || (2600000000 + i) || ',"userId":4188819900,"reason":"user_cancelled"}' END,
    'x',
    CASE WHEN i % 50 = 7 THEN 'failed' WHEN i % 25 = 3 THEN 'rejected' WHEN i % 50 = 11 THEN 'queued' WHEN i % 50 = 13 THEN 'pending' ELSE 'delivered' END,
    CASE WHEN i % 50 = 7 THEN 8 ELSE 1 END, 0, 1,
    CASE WHEN i % 50 = 7 THEN 'upstream_unavailable' WHEN i % 25 = 3 THEN 'baidu_order_not_found' WHEN i % 50 = 11 THEN 'upstream_unavailable' END,
    200, '{"status":"delivered"}',
    CASE WHEN i % 25 = 3 THEN '{"errno":10002,"msg":"order not exist"}' END,
    ?2 - (?1 - i) * (30 * 86400000 / ?1), ?2 - (?1 - i) * (30 * 86400000 / ?1) + 5, NULL, NULL
  FROM n`).bind(ROWS, NOW).run();
const fillMs = performance.now() - t0;
const count = (await db.prepare("SELECT COUNT(*) AS n FROM deliveries").first()).n;
process.stderr.write(`filled ${count} rows in ${(fillMs / 1000).toFixed(1)} s\n`);

const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
async function time(path, expectStatus = 200) {
  const times = [];
  let last;
  for (let i = 0; i < REPS + 20; i++) {
    const t = performance.now();
    last = await relay.get(path, { headers });
    const ms = performance.now() - t;
    if (last.status !== expectStatus) throw new Error(`${path}: ${last.status} ${last.text.slice(0, 200)}`);
    if (i >= 20) times.push(ms);
  }
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), rows: last.json.items?.length ?? last.json.total };
}

const firstFailed = (await relay.get("/v1/deliveries?status=failed&route=%2Fv1%2Fcancel-verification&limit=50", { headers })).json;
const QUERIES = [
  ["status=failed, route=cancel-verification, limit=50 (first page)", "/v1/deliveries?status=failed&route=%2Fv1%2Fcancel-verification&limit=50"],
  ["the same, second page (cursor)", `/v1/deliveries?status=failed&route=%2Fv1%2Fcancel-verification&limit=50&cursor=${firstFailed.cursor}`],
  ["status=failed, since=7 days ago, limit=50", `/v1/deliveries?status=failed&since=${NOW - 7 * DAY}&limit=50`],
  ["q=<an order id>", `/v1/deliveries?q=${2600000000 + 12345}`],
  ["q=<a webhook id prefix>, status=failed", "/v1/deliveries?q=msg_0005&status=failed"],
  ["no filter, limit=100", "/v1/deliveries?limit=100"],
  ["summary, last 24 hours", "/v1/deliveries/summary"],
  ["summary, last 30 days (every row)", `/v1/deliveries/summary?since=${NOW - 31 * DAY}`],
];

const results = [];
for (const [what, path] of QUERIES) {
  const r = await time(path);
  results.push({ what, ...r });
  process.stderr.write(`${what}: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms (${r.rows})\n`);
}

// Without 0004's listing indexes: what SQLite does instead.
for (const index of ["deliveries_status_route_received", "deliveries_status_received", "deliveries_route_received", "deliveries_received"]) {
  await db.prepare(`DROP INDEX ${index}`).run();
}
for (const [what, path] of QUERIES.slice(0, 3)) {
  const r = await time(path);
  results.push({ what: `${what}, WITHOUT 0004's listing indexes`, ...r });
  process.stderr.write(`${what} (no indexes): p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms\n`);
}
await relay.close();

console.log(`\n${count} rows, ${REPS} sequential requests each (after 20 warm-up), timed over HTTP from Node:\n`);
console.log("| request | p50 ms | p99 ms | rows |\n|---|---|---|---|");
for (const r of results) console.log(`| ${r.what} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.rows} |`);
