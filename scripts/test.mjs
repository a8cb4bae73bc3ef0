#!/usr/bin/env node
// npm test: ensure-tools → Rust checks (fmt, clippy native + wasm32, rustdoc) → cargo test --locked
// (native; the delivery simulation last, with its summary) → build (skipped if fresh) → node --test (tooling + e2e).
// Node builtins only (runs before `npm ci` on a bare machine).
//   node scripts/test.mjs [--no-lint] [--no-cargo] [--no-e2e] [-- <extra node --test args>]
// --no-lint skips the Rust checks (for a quick local run; CI runs them). The checks all run, then a
// failing one stops the run before the tests, so the closing lines are either the node test
// runner's summary or "test: FAILED: ...".
import { spawn } from "node:child_process";
import { readdirSync, existsSync } from "node:fs";
import path from "node:path";
import { ensureTools, ROOT, ToolError } from "./ensure-tools.mjs";
import { build } from "./build.mjs";

const args = process.argv.slice(2);
const dashdash = args.indexOf("--");
const extra = dashdash >= 0 ? args.slice(dashdash + 1) : [];
const flags = new Set(dashdash >= 0 ? args.slice(0, dashdash) : args);

const timings = [];
async function step(name, fn) {
  const t0 = Date.now();
  console.log(`\n=== ${name}`);
  try {
    return await fn();
  } finally {
    timings.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

function runInherit(cmd, cmdArgs, what, env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, cmdArgs, { cwd: ROOT, env, stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", (err) => reject(new ToolError(`${what}: could not start ${cmd}: ${err.message}`)));
    child.on("close", (code, signal) => (code === 0 ? resolve() : reject(new ToolError(`${what} failed (${signal ? `signal ${signal}` : `exit code ${code}`})`))));
  });
}

function runCapture(cmd, cmdArgs, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    child.on("error", (err) => resolve({ ok: false, out: `could not start ${cmd}: ${err.message}` }));
    child.on("close", (code) => resolve({ ok: code === 0, out }));
  });
}

// The Rust checks CI enforces, in this order; each one's output is shown only when it fails.
const RUST_CHECKS = [
  { name: "cargo fmt --all -- --check", args: ["fmt", "--all", "--", "--check"] },
  { name: "cargo clippy --locked --all-targets -- -D warnings", args: ["clippy", "--locked", "--all-targets", "--", "-D", "warnings"] },
  { name: "cargo clippy --locked --target wasm32-unknown-unknown --lib -- -D warnings", args: ["clippy", "--locked", "--target", "wasm32-unknown-unknown", "--lib", "--", "-D", "warnings"] },
  { name: 'RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps', args: ["doc", "--locked", "--no-deps"], env: { RUSTDOCFLAGS: "-D warnings" } },
];

/** Runs every Rust check (all of them, so one run shows every problem); throws if any failed. */
async function rustChecks() {
  // rustfmt and clippy are rustup components a minimal toolchain may lack.
  for (const [component, sub] of [["rustfmt", "fmt"], ["clippy", "clippy"]]) {
    if (!(await runCapture("cargo", [sub, "--version"])).ok) {
      console.log(`test: rustup component add ${component}`);
      await runInherit("rustup", ["component", "add", component], `rustup component add ${component}`);
    }
  }
  const failed = [];
  for (const check of RUST_CHECKS) {
    const t0 = Date.now();
    const r = await runCapture("cargo", check.args, { ...process.env, ...(check.env ?? {}) });
    const took = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    if (r.ok) {
      console.log(`ok   ${check.name} (${took})`);
    } else {
      console.log(`FAIL ${check.name} (${took})\n${r.out.trimEnd()}\n`);
      failed.push(check.name);
    }
  }
  if (failed.length) throw new ToolError(`Rust checks failed: ${failed.join("; ")}`);
}

function testFiles() {
  const files = [];
  for (const dir of ["tests/tooling", "tests/e2e"]) {
    if (flags.has("--no-e2e") && dir !== "tests/tooling") continue;
    const abs = path.join(ROOT, dir);
    if (!existsSync(abs)) continue;
    for (const f of readdirSync(abs).sort()) if (f.endsWith(".test.mjs")) files.push(path.join(dir, f));
  }
  return files;
}

// The deterministic fault simulation of the delivery flow (src/delivery/simulation.rs).
const SIMULATION = "delivery::simulation::delivery_flow_keeps_its_promises_under_faults";

const started = Date.now();
let nodeTestStarted = false;
try {
  await step("ensure tools", () => ensureTools());
  if (!flags.has("--no-lint")) await step("rust checks", () => rustChecks());
  if (!flags.has("--no-cargo")) {
    await step("cargo test --locked", () => runInherit("cargo", ["test", "--locked", "--", "--skip", SIMULATION], "cargo test --locked"));
    // The delivery-flow simulation on its own, so its summary (schedules, checks, repeats) shows.
    await step("delivery simulation", () => runInherit("cargo", ["test", "--locked", "--lib", SIMULATION, "--", "--nocapture"], "delivery simulation"));
  }
  if (!flags.has("--no-e2e")) await step("build", () => build({ ifStale: true }));
  console.log(`\ntest: ${timings.join(", ")}; ${((Date.now() - started) / 1000).toFixed(1)} s so far`);
  // One node --test run, so its closing summary lines cover every JS test. Nothing is printed after
  // them: CI reads the runner's closing lines (# tests / # pass / # fail ...).
  const files = testFiles();
  nodeTestStarted = true;
  // Every answer an e2e suite gets is checked against openapi.yaml as it arrives (tests/support/relay.mjs).
  await step("node --test", () => runInherit(process.execPath, ["--test", "--test-concurrency=1", ...extra, ...files], "node --test"));
} catch (err) {
  if (!nodeTestStarted) {
    console.error(`\ntest: FAILED: ${err instanceof ToolError ? err.message : err.stack}`);
    console.error(`test: ${timings.join(", ")}`);
  }
  process.exit(1);
}
