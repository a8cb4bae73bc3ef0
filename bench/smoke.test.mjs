// Smoke test of `npm run bench`: runs bench/run.mjs with --smoke (tiny N, one repeat, ~15 s
// plus a build when build/ is stale) and checks that every section ran and the JSON has the
// documented shape. Not part of `npm test`; run it with
//
//   node --test bench/smoke.test.mjs
//
// RELAY_BUILD_DIR=<dir> measures a prebuilt worker instead of building (as the e2e suites do).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

test("npm run bench --smoke runs every section and writes the results JSON", { timeout: 15 * 60_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-smoke-"));
  try {
    const out = path.join(dir, "results.json");
    const args = [path.join(BENCH_DIR, "run.mjs"), "--smoke", "--out", out];
    if (process.env.RELAY_BUILD_DIR) args.push("--no-build", "--build-dir", process.env.RELAY_BUILD_DIR);
    const r = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 14 * 60_000 });
    assert.equal(r.status, 0, `bench/run.mjs --smoke failed:\n${r.stderr.slice(-4000)}`);

    // The table on stdout, progress on stderr.
    for (const heading of ["1. SHA1withRSA signing", "2. Per request in workerd", "Where the time goes", "3. Size", "4. Start-up", "5. Ledger retention", "Targets"]) {
      assert.ok(r.stdout.includes(heading), `stdout lacks "${heading}":\n${r.stdout}`);
    }
    assert.ok(r.stdout.includes("SMOKE"), "a smoke run says so in its table");

    const results = JSON.parse(readFileSync(out, "utf8"));
    assert.equal(results.schema, 1);
    assert.equal(results.smoke, true);
    assert.match(results.build.wasmSha256, /^[0-9a-f]{64}$/);

    for (const bits of ["1024", "2048"]) {
      const s = results.signing[bits];
      assert.equal(s.identical, true, `${bits}-bit signatures must agree byte for byte`);
      for (const k of ["webcrypto", "rsaCrateWasm", "nodeCrypto", "openssl"]) {
        assert.ok(s[k].median > 0, `signing.${bits}.${k}.median`);
        assert.ok(s[k].perSecond > 0, `signing.${bits}.${k}.perSecond`);
      }
      assert.ok(s.webcryptoOverOpenssl > 0);
    }

    const q = results.requests;
    const targets = ["relay-cancel", "peer-cancel", "peer-ledger-cancel", "peer-naive-cancel", "relay-after-sale"];
    for (const k of [...targets, "floor-noop", "floor-fetch", "floor-ledger"]) assert.ok(k in q.slopeMsPerRequest, `slope of ${k}`);
    assert.deepEqual(Object.keys(q.concurrency), ["1", "8", "64"]);
    for (const c of ["1", "8", "64"]) {
      for (const k of targets) {
        const v = q.concurrency[c][k];
        assert.ok(v.throughputPerSecond.median > 0 && v.p50Ms.median > 0 && v.p99Ms.median >= v.p50Ms.median, `concurrency ${c} ${k}`);
      }
      assert.ok(q.relayOverPeer[`c${c}`].timePerRequest > 0);
      assert.ok(q.relayOverPeerWithLedger[`c${c}`].timePerRequest > 0);
    }

    assert.deepEqual(results.breakdown.stages.map((s) => s.key), ["404", "415", "401", "422"]);

    const z = results.size;
    assert.ok(z.relay.wasm.raw > z.relay.wasm.gzip && z.relay.wasm.gzip > 0);
    assert.equal(z.relay.bundle.raw, z.relay.wasm.raw + z.relay.js.raw);
    assert.ok(z.peer.bundle.raw > 0);

    for (const k of ["relay", "peer", "empty"]) assert.ok(results.startup[k].firstHealthzMs.median > 0, `startup.${k}`);
    assert.ok(results.startup.relay.firstCancelMs.median > 0);

    const ret = results.retention;
    assert.equal(ret.mix.rows.cancelVerification + ret.mix.rows.afterSale, ret.rows);
    for (const k of ["all", "cancelVerification", "afterSale"]) {
      assert.ok(ret.size.bytesPerRow[k] > 0 && ret.size.rowsPerGB[k] > 0 && ret.size.rowsInD1Limit[k] > 0, `retention.size.*.${k}`);
    }
    assert.ok(ret.size.bytesPerRow.afterSale > ret.size.bytesPerRow.cancelVerification);
    for (const k of ["cancelVerification", "afterSale"]) assert.ok(ret.storedBytesPerRow[k].body > 0, `retention.storedBytesPerRow.${k}`);
    // Every row was deleted, by runs of at most 5,000 each.
    assert.equal(ret.purge.deletedPerRun.reduce((a, b) => a + b, 0), ret.rows);
    assert.ok(ret.purge.runs >= Math.ceil(ret.rows / 5000) && ret.purge.deletedPerRun.every((n) => n <= 5000));
    assert.ok(ret.purge.msPerRun.median > 0 && ret.purge.totalMs > 0);
    for (const k of ["idle", "purging"]) {
      assert.ok(ret.live[k].p50Ms.median > 0 && ret.live[k].p99Ms.median >= ret.live[k].p50Ms.median, `retention.live.${k}`);
    }
    assert.ok(ret.live.purging.purgeRuns.median > 0 && ret.live.purging.rowsDeleted.median > 0);
    assert.ok(ret.live.purgingOverIdle.p99 > 0);

    assert.equal(results.targets.length, 7);
    for (const t of results.targets) assert.equal(typeof t.met, "boolean", t.target);

    // The fake Baidu verified every signature it was sent in a smoke run (sampleEvery = 1).
    assert.deepEqual(results.fakeBaidu.failures, []);
    assert.equal(results.fakeBaidu.cashierVerified, results.fakeBaidu.cashier);

    // A saved run re-prints.
    const again = spawnSync(process.execPath, [path.join(BENCH_DIR, "lib", "report.mjs"), out], { encoding: "utf8" });
    assert.equal(again.status, 0, again.stderr);
    assert.ok(again.stdout.includes("Targets"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
