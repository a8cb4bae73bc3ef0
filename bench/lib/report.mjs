// Prints bench results (the JSON written by bench/run.mjs) as plain-text tables.
//   node bench/lib/report.mjs [bench/results/latest.json]     re-prints a saved run

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

function fmt(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  if (Math.abs(x) >= 1000) return String(Math.round(x));
  return String(Number(x.toPrecision(digits)));
}

/** "median [min–max]" */
function spread(s, digits = 3) {
  if (!s || s.median === null) return "–";
  if (s.n <= 1) return fmt(s.median, digits);
  return `${fmt(s.median, digits)} [${fmt(s.min, digits)}–${fmt(s.max, digits)}]`;
}

function kb(bytes) {
  return `${(bytes / 1000).toFixed(1)} KB`;
}

function table(rows, out) {
  const widths = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, String(cell).length); });
  for (const row of rows) out(row.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join("  ").trimEnd());
}

export function printTable(r, out = console.log) {
  const reps = r.plan;
  out("");
  out(`baidu-order-relay benchmarks  ${r.date}${r.smoke ? "  (SMOKE: tiny N, not figures)" : ""}`);
  out(`commit ${r.git.commit.slice(0, 10)}${r.git.srcDirty ? " + uncommitted src/ changes" : ""}; wasm sha256 ${r.build.wasmSha256.slice(0, 12)}; ${r.machine.cpus} × ${r.machine.cpuModel}; load ${r.machine.loadAvgAtStart[0]} → ${r.machine.loadAvgAtEnd?.[0]}`);
  out(`node ${r.machine.node}, workerd ${r.machine.workerd} (miniflare ${r.machine.miniflare}), ${r.machine.openssl}`);
  out("Figures are medians over repeats, [min–max] across repeats. Everything timed from outside workerd.");

  if (r.signing) {
    const s = r.signing;
    out("");
    out(`1. SHA1withRSA signing: ms per signature (signatures/s). ${reps.signReps} repeats; workerd rows = (one request doing N signatures − one doing 0) / N`);
    const row = (label, k) => [label, ...["1024", "2048"].map((b) => `${spread(s[b][k])} (${s[b][k].perSecond ?? "–"}/s)`)];
    table([
      ["", "1024-bit", "2048-bit"],
      row("WebCrypto in workerd (the relay's path)", "webcrypto"),
      row("rsa 0.10 crate → wasm, in workerd", "rsaCrateWasm"),
      row("Node crypto.sign (OpenSSL, in-process)", "nodeCrypto"),
      row("openssl speed (native floor)", "openssl"),
      ["WebCrypto / openssl", `${fmt(s["1024"].webcryptoOverOpenssl)}×`, `${fmt(s["2048"].webcryptoOverOpenssl)}×`],
      ["rsa crate wasm / openssl", `${fmt(s["1024"].rsaCrateOverOpenssl)}×`, `${fmt(s["2048"].rsaCrateOverOpenssl)}×`],
      ["rsa crate wasm / WebCrypto", `${fmt(s["1024"].rsaCrateOverWebcrypto)}×`, `${fmt(s["2048"].rsaCrateOverWebcrypto)}×`],
    ], out);
    out(`   signatures byte-identical across WebCrypto, rsa crate and OpenSSL: ${s["1024"].identical && s["2048"].identical ? "yes" : "NO"}`);
  }

  if (r.requests) {
    const q = r.requests;
    const keys = Object.keys(q.slopeMsPerRequest);
    out("");
    out(`2. Per request in workerd, ${q.keyBits}-bit key, fake Baidu answering at once. Slope = (t(N=${q.slopeN[1]}) − t(N=${q.slopeN[0]})) / ${q.slopeN[1] - q.slopeN[0]}, sequential, one keep-alive connection; ${reps.slopeReps} repeats`);
    table([["", "slope ms/request"], ...keys.map((k) => [q.labels[k], spread(q.slopeMsPerRequest[k])])], out);
    out("");
    out(`   Load: distinct pre-signed webhooks, c connections each waiting for its answer; ${reps.concurrencyReps} repeats of N requests`);
    const rows = [["", "c", "N", "requests/s", "ms/request (1/throughput)", "p50 ms", "p99 ms"]];
    for (const c of Object.keys(q.concurrency)) {
      for (const [k, v] of Object.entries(q.concurrency[c])) {
        rows.push([q.labels[k], c, v.requests, spread(v.throughputPerSecond), spread(v.msPerRequest), spread(v.p50Ms), spread(v.p99Ms)]);
      }
    }
    table(rows, out);
    const cs = Object.keys(q.concurrency);
    const ratios = (label, vs) => vs ? [
      [`${label}: time per request`, `${fmt(vs.slope)}×`, ...cs.map((c) => `${fmt(vs[`c${c}`].timePerRequest)}×`)],
      [`${label}: p50 latency`, "", ...cs.map((c) => `${fmt(vs[`c${c}`].p50)}×`)],
      [`${label}: p99 latency`, "", ...cs.map((c) => `${fmt(vs[`c${c}`].p99)}×`)],
    ] : [];
    out("");
    table([
      ["relay cancel-verification ÷", "slope", ...cs.map((c) => `c=${c}`)],
      ...ratios("peer", q.relayOverPeer),
      ...ratios("peer + ledger", q.relayOverPeerWithLedger),
    ], out);
  }

  if (r.breakdown) {
    const b = r.breakdown;
    out("");
    out(`   Where the time goes: slope (N=${b.slopeN[0]}→${b.slopeN[1]}) of requests that stop at each check, in the contract's order; ms/request`);
    const q = r.requests;
    const delivered = q ? [["200 delivered (+ ledger, form, RSA sign, fetch, answer; = slope above)", spread(q.slopeMsPerRequest["relay-cancel"]), spread(q.slopeMsPerRequest["peer-cancel"]), fmt(q.slopeMsPerRequest["relay-cancel"].median - q.slopeMsPerRequest["peer-cancel"].median), spread(q.slopeMsPerRequest["peer-ledger-cancel"])]] : [];
    table([
      ["", "relay", "peer", "relay − peer", "peer + ledger"],
      ...b.stages.map((st) => [st.label, spread(st.relayMs), spread(st.peerMs), fmt(st.relayMinusPeerMs), ""]),
      ...delivered,
    ], out);
  }

  if (r.size) {
    const z = r.size;
    out("");
    out("3. Size (gzip -9)");
    table([
      ["", "raw", "gzipped"],
      ["relay build/index_bg.wasm", kb(z.relay.wasm.raw), kb(z.relay.wasm.gzip)],
      ["relay build/index.js", kb(z.relay.js.raw), kb(z.relay.js.gzip)],
      ["relay bundle (index.js + wasm)", kb(z.relay.bundle.raw), kb(z.relay.bundle.gzip)],
      ["peer bundle (esbuild, unminified)", kb(z.peer.bundle.raw), kb(z.peer.bundle.gzip)],
    ], out);
  }

  if (r.startup) {
    const st = r.startup;
    out("");
    out(`4. Start-up: new Miniflare (new workerd process, fresh isolate) → answers, ms; ${reps.startupReps} repeats`);
    const rows = [["", "start → ready", "first /healthz", "2nd /healthz", "start → /healthz", "first cancel", "2nd cancel", "start → cancel"]];
    for (const [k, v] of Object.entries(st)) {
      rows.push([k === "empty" ? "empty JS worker (baseline)" : k, spread(v.readyMs), spread(v.firstHealthzMs), spread(v.secondHealthzMs), spread(v.totalToHealthzMs), spread(v.firstCancelMs), spread(v.secondCancelMs), spread(v.totalToCancelMs)]);
    }
    table(rows, out);
  }

  if (r.retention) {
    const t = r.retention;
    const z = t.size;
    const mb = (bytes) => (bytes < 1e6 ? kb(bytes) : `${(bytes / 1e6).toFixed(1)} MB`);
    out("");
    out(`5. Ledger retention: ${t.rows} finished rows (${t.mix.rows.cancelVerification} cancel-verification, ${t.mix.rows.afterSale} after-sale), relay's D1 ledger persisted; window ${t.retentionDays} days`);
    const stored = (k) => t.storedBytesPerRow[k] ? `${t.storedBytesPerRow[k].body} + ${t.storedBytesPerRow[k].answer} + ${t.storedBytesPerRow[k].otherText}` : "–";
    table([
      ["", "bytes/row on disk", "rows per GB", `rows in ${z.d1LimitBytes / 1e9} GB`, "stored body + answer + other text, B"],
      ["all rows (the mix)", fmt(z.bytesPerRow.all, 4), fmt(z.rowsPerGB.all), fmt(z.rowsInD1Limit.all), ""],
      ["cancel-verification rows alone", fmt(z.bytesPerRow.cancelVerification, 4), fmt(z.rowsPerGB.cancelVerification), fmt(z.rowsInD1Limit.cancelVerification), stored("cancelVerification")],
      ["after-sale rows alone", fmt(z.bytesPerRow.afterSale, 4), fmt(z.rowsPerGB.afterSale), fmt(z.rowsInD1Limit.afterSale), stored("afterSale")],
    ], out);
    out(`   file ${mb(z.emptyBytes)} → ${mb(z.fullBytes)} (${z.pageSize}-byte pages); after the purge the file stays ${mb(z.afterPurge.fileBytes)} (${z.afterPurge.freelistPages} free pages), D1 size_after ${mb(z.afterPurge.d1SizeAfter)}`);
    out(`   insert: ${t.insert.statements} multi-row INSERTs in ${fmt(t.insert.ms / 1000)} s (${t.insert.rowsPerSecond} rows/s)`);
    const p = t.purge;
    out(`   purge: ${p.runs} scheduled runs (≤ 5000 rows each) in ${fmt(p.totalMs / 1000)} s; ms per run ${spread(p.msPerRun)}; ${p.rowsPerSecond} rows/s`);
    if (p.statementMs) out(`   one 500-row purge statement holds the database ${spread(p.statementMs)} ms (D1's meta.duration, ${p.statementMs.n} statements)`);
    if (p.queryPlan) out(`   purge batch query plan: ${p.queryPlan.join("; ")}`);
    const l = t.live;
    out(`   Live cancel-verification, c=${l.concurrency}, ${l.reps} repeats of N=${l.requests}; purging = scheduled runs back to back for every measured request`);
    table([
      ["", "p50 ms", "p99 ms", "requests/s", "purge runs", "rows purged", "ms per purge run"],
      ["no purge", spread(l.idle.p50Ms), spread(l.idle.p99Ms), spread(l.idle.throughputPerSecond), "", "", ""],
      ["purge running", spread(l.purging.p50Ms), spread(l.purging.p99Ms), spread(l.purging.throughputPerSecond), spread(l.purging.purgeRuns), spread(l.purging.rowsDeleted), spread(l.purging.msPerPurgeRun)],
      ["purging ÷ no purge", `${fmt(l.purgingOverIdle.p50)}×`, `${fmt(l.purgingOverIdle.p99)}×`, `${fmt(l.purgingOverIdle.throughput)}×`, "", "", ""],
    ], out);
    out(`   old rows refilled (load paused, not timed) ${spread(l.purging.refills)}× per run, paused ${spread(l.purging.pausedMs)} ms`);
  }

  if (r.targets?.length) {
    out("");
    out("Targets");
    for (const t of r.targets) {
      const value = t.unit === "B" ? kb(t.value) : `${fmt(t.value)} ${t.unit}`;
      const limit = t.unit === "B" ? kb(t.limit) : `${t.limit} ${t.unit}`;
      out(`  ${t.met ? "MET   " : "MISSED"}  ${t.target}: ${value} (limit ${limit})`);
    }
  }
  out("");
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? fileURLToPath(new URL("../results/latest.json", import.meta.url));
  printTable(JSON.parse(readFileSync(file, "utf8")));
}
