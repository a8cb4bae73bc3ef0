#!/usr/bin/env node
// npm test: ensure-tools → cargo test --locked (native) → build (skipped if fresh) → node --test (tooling + e2e).
// Node builtins only (runs before `npm ci` on a bare machine).
//   node scripts/test.mjs [--no-cargo] [--no-e2e] [-- <extra node --test args>]
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

function runInherit(cmd, cmdArgs, what) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, cmdArgs, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", (err) => reject(new ToolError(`${what}: could not start ${cmd}: ${err.message}`)));
    child.on("close", (code, signal) => (code === 0 ? resolve() : reject(new ToolError(`${what} failed (${signal ? `signal ${signal}` : `exit code ${code}`})`))));
  });
}

function testFiles() {
  const files = [];
  for (const dir of ["tests/tooling", "tests/e2e"]) {
    if (flags.has("--no-e2e") && dir === "tests/e2e") continue;
    const abs = path.join(ROOT, dir);
    if (!existsSync(abs)) continue;
    for (const f of readdirSync(abs).sort()) if (f.endsWith(".test.mjs")) files.push(path.join(dir, f));
  }
  return files;
}

const started = Date.now();
let nodeTestStarted = false;
try {
  await step("ensure tools", () => ensureTools());
  if (!flags.has("--no-cargo")) await step("cargo test --locked", () => runInherit("cargo", ["test", "--locked"], "cargo test --locked"));
  if (!flags.has("--no-e2e")) await step("build", () => build({ ifStale: true }));
  console.log(`\ntest: ${timings.join(", ")}; ${((Date.now() - started) / 1000).toFixed(1)} s so far`);
  // One node --test run, so its closing summary lines cover every JS test. Nothing is printed after
  // them: CI reads the runner's closing lines (# tests / # pass / # fail ...).
  nodeTestStarted = true;
  await step("node --test", () => runInherit(process.execPath, ["--test", "--test-concurrency=1", ...extra, ...testFiles()], "node --test"));
} catch (err) {
  if (!nodeTestStarted) {
    console.error(`\ntest: FAILED: ${err instanceof ToolError ? err.message : err.stack}`);
    console.error(`test: ${timings.join(", ")}`);
  }
  process.exit(1);
}
