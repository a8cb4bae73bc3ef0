#!/usr/bin/env node
// Builds the Worker into build/ (build/index.js + build/index_bg.wasm) with worker-build, offline.
//   node scripts/build.mjs [--if-stale]
//   import { build } from "./build.mjs"; await build({ ifStale: true, quiet: true })
// --if-stale: skip when build/ is newer than every file in src/, Cargo.toml, Cargo.lock (and build.rs).
// Node builtins only.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, utimesSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { pathToFileURL } from "node:url";
import { ensureTools, ROOT, ToolError, addCargoBinToPath } from "./ensure-tools.mjs";

export const BUILD_DIR = path.join(ROOT, "build");
export const OUTPUTS = ["index.js", "index_bg.wasm"].map((f) => path.join(BUILD_DIR, f));
export const WASM_PATH = path.join(BUILD_DIR, "index_bg.wasm");
// Written after a successful build; its mtime is the time the build *started*, so sources edited
// while cargo was running count as newer than the build.
const STAMP = path.join(BUILD_DIR, ".build-stamp");

function inputFiles() {
  const files = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(p);
    }
  };
  if (existsSync(path.join(ROOT, "src"))) walk(path.join(ROOT, "src"));
  for (const f of ["Cargo.toml", "Cargo.lock", "build.rs"]) if (existsSync(path.join(ROOT, f))) files.push(path.join(ROOT, f));
  return files;
}

/** Null when build/ is up to date, else the reason it is stale. */
export function staleReason() {
  for (const o of [...OUTPUTS, STAMP]) if (!existsSync(o)) return `${path.relative(ROOT, o)} missing`;
  const builtAt = Math.min(...[STAMP, ...OUTPUTS].map((f) => statSync(f).mtimeMs));
  for (const f of inputFiles()) if (statSync(f).mtimeMs >= builtAt) return `${path.relative(ROOT, f)} changed`;
  return null;
}

/** Raw and gzipped size of the built wasm. */
export function wasmSizes() {
  const wasm = readFileSync(WASM_PATH);
  return { raw: wasm.length, gzip: gzipSync(wasm, { level: 9 }).length };
}

function kib(n) {
  return `${(n / 1024).toFixed(1)} KiB`;
}

/**
 * Builds the worker. Options:
 *   ifStale  skip when build/ is up to date (default false)
 *   quiet    capture worker-build's output, printing it only on failure (default false)
 *   log      line printer (default console.log)
 * Returns {skipped, reason?, ms?, wasmBytes, wasmGzipBytes}. Throws ToolError on failure.
 */
export async function build({ ifStale = false, quiet = false, log = console.log } = {}) {
  if (ifStale) {
    const reason = staleReason();
    if (!reason) {
      const s = wasmSizes();
      log(`build: skipped, build/ is newer than src/, Cargo.toml and Cargo.lock (wasm ${s.raw} bytes, ${s.gzip} gzipped)`);
      return { skipped: true, wasmBytes: s.raw, wasmGzipBytes: s.gzip };
    }
    log(`build: ${reason}, rebuilding`);
  }
  await ensureTools({ log });
  addCargoBinToPath();
  const bin = (name) => path.join(ROOT, "node_modules", ".bin", name);
  const env = {
    ...process.env,
    WASM_BINDGEN_BIN: "wasm-bindgen",
    WASM_OPT_BIN: bin("wasm-opt"),
    ESBUILD_BIN: bin("esbuild"),
    WRANGLER_SEND_METRICS: "false",
  };
  const started = Date.now();
  log("build: worker-build --release ...");
  const output = [];
  const code = await new Promise((resolve, reject) => {
    const child = spawn("worker-build", ["--release"], { cwd: ROOT, env, stdio: ["ignore", quiet ? "pipe" : "inherit", quiet ? "pipe" : "inherit"] });
    if (quiet) {
      child.stdout.on("data", (d) => output.push(d));
      child.stderr.on("data", (d) => output.push(d));
    }
    child.on("error", (err) => reject(new ToolError(`could not start worker-build: ${err.message}`)));
    child.on("close", (c, signal) => resolve(signal ? `signal ${signal}` : c));
  });
  if (code !== 0) {
    if (quiet) process.stderr.write(Buffer.concat(output));
    throw new ToolError(`worker-build --release failed (${typeof code === "number" ? `exit code ${code}` : code})`);
  }
  for (const o of OUTPUTS) if (!existsSync(o)) throw new ToolError(`worker-build succeeded but ${path.relative(ROOT, o)} is missing`);
  writeFileSync(STAMP, `${new Date(started).toISOString()}\n`);
  const startedSec = started / 1000;
  utimesSync(STAMP, startedSec, startedSec);
  const ms = Date.now() - started;
  const s = wasmSizes();
  const js = statSync(path.join(BUILD_DIR, "index.js")).size;
  log(`build: done in ${(ms / 1000).toFixed(1)} s`);
  log(`build: build/index_bg.wasm ${s.raw} bytes (${kib(s.raw)}) raw, ${s.gzip} bytes (${kib(s.gzip)}) gzipped; build/index.js ${js} bytes`);
  return { skipped: false, ms, wasmBytes: s.raw, wasmGzipBytes: s.gzip };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  build({ ifStale: process.argv.includes("--if-stale") }).catch((err) => {
    console.error(`build: FAILED: ${err instanceof ToolError ? err.message : err.stack}`);
    process.exit(1);
  });
}
