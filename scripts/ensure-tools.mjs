#!/usr/bin/env node
// Installs what the build needs, skipping what is already there. Idempotent.
//   node scripts/ensure-tools.mjs          (or: import { ensureTools } from "./ensure-tools.mjs")
// Steps (one output line each):
//   npm ci                                   if node_modules is missing or older than package-lock.json
//   rustup target add wasm32-unknown-unknown if not installed
//   cargo install worker-build 0.8.7 --locked            if `worker-build --version` differs
//   cargo install wasm-bindgen-cli <Cargo.lock version>   if `wasm-bindgen --version` differs
//     (without --locked: it fails on this toolchain, see /docs or toolchain notes)
//   apt-get install chromium                 if no Chromium is found, on Debian/Ubuntu as root or
//     with password-less sudo (for the console's browser test; never fails the run: without a
//     Chromium that one test skips and says why)
// Node builtins only: this runs before node_modules exists.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const WORKER_BUILD_VERSION = "0.8.7";
export const WASM_TARGET = "wasm32-unknown-unknown";

export class ToolError extends Error {}

/** Puts $CARGO_HOME/bin (default ~/.cargo/bin) on PATH for this process and its children. */
export function addCargoBinToPath(env = process.env) {
  const cargoBin = path.join(env.CARGO_HOME || path.join(homedir(), ".cargo"), "bin");
  const parts = (env.PATH || "").split(path.delimiter);
  if (existsSync(cargoBin) && !parts.includes(cargoBin)) env.PATH = [cargoBin, ...parts].filter(Boolean).join(path.delimiter);
  return cargoBin;
}

/** Runs a command, capturing output. Returns {ok, status, stdout, stderr, missing}. */
export function capture(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], ...opts });
  if (r.error) return { ok: false, missing: r.error.code === "ENOENT", status: null, stdout: "", stderr: String(r.error.message) };
  return { ok: r.status === 0, missing: false, status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Runs a command with inherited stdio (progress visible); throws ToolError on failure. */
export function run(cmd, args, { what = `${cmd} ${args.join(" ")}`, ...opts } = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"], ...opts });
  if (r.error) throw new ToolError(`${what}: could not start ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new ToolError(`${what}: failed (${r.signal ? `signal ${r.signal}` : `exit code ${r.status}`})`);
}

/** The version of the `wasm-bindgen` package in Cargo.lock (null if absent). */
export function lockedWasmBindgenVersion(lockPath = path.join(ROOT, "Cargo.lock")) {
  if (!existsSync(lockPath)) return null;
  const text = readFileSync(lockPath, "utf8");
  for (const block of text.split(/\n(?=\[\[package\]\])/)) {
    if (/^name = "wasm-bindgen"$/m.test(block)) {
      const m = block.match(/^version = "([^"]+)"$/m);
      if (m) return m[1];
    }
  }
  return null;
}

function firstVersion(text) {
  const m = String(text).match(/\b(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)\b/);
  return m ? m[1] : null;
}

/** Pids of other running `cargo install <crate>` processes (Linux /proc; empty elsewhere). */
function runningCargoInstalls(crate) {
  const pids = [];
  let entries = [];
  try { entries = readdirSync("/proc"); } catch { return pids; }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let argv;
    try { argv = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0"); } catch { continue; }
    const i = argv.findIndex((a) => path.basename(a) === "cargo" || a === "cargo");
    if (i >= 0 && argv[i + 1] === "install" && argv.includes(crate)) pids.push(Number(e));
  }
  return pids;
}

async function waitForOtherInstalls(crate, log) {
  let pids = runningCargoInstalls(crate);
  if (pids.length === 0) return;
  log(`ensure-tools: waiting for an already running \`cargo install ${crate}\` (pid ${pids.join(", ")}) to finish`);
  while (pids.length > 0) {
    await new Promise((r) => setTimeout(r, 5000));
    pids = runningCargoInstalls(crate);
  }
}

function requireTool(cmd, hint) {
  const r = capture(cmd, ["--version"]);
  if (r.missing) throw new ToolError(`${cmd} not found on PATH. ${hint}`);
  if (!r.ok) throw new ToolError(`\`${cmd} --version\` failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

function newestMtime(p) {
  try { return statSync(p).mtimeMs; } catch { return -Infinity; }
}

let done = null;

/**
 * Ensures every tool is present. Options: {log = console.log, force = false}.
 * Memoised per process (so build.mjs and test.mjs can both call it cheaply).
 * Throws ToolError with a readable message on failure.
 */
export async function ensureTools({ log = console.log, force = false } = {}) {
  if (done && !force) return done;
  const steps = [];
  const step = (line) => { steps.push(line); log(`ensure-tools: ${line}`); };
  addCargoBinToPath();

  // 1. node_modules (first: everything else in the project imports from it).
  const lock = path.join(ROOT, "package-lock.json");
  const nm = path.join(ROOT, "node_modules");
  const nmStamp = path.join(nm, ".package-lock.json"); // written by npm on every install
  if (!existsSync(lock)) throw new ToolError("package-lock.json is missing: it pins the JS toolchain and must be committed");
  const needed = ["wasm-opt", "esbuild", "wrangler"].filter((b) => !existsSync(path.join(nm, ".bin", b)));
  if (!existsSync(nm) || newestMtime(nmStamp) < newestMtime(lock) || needed.length > 0) {
    const why = !existsSync(nm) ? "node_modules missing" : needed.length ? `missing ${needed.join(", ")}` : "node_modules older than package-lock.json";
    log(`ensure-tools: npm ci (${why}) ...`);
    run(process.platform === "win32" ? "npm.cmd" : "npm", ["ci", "--no-audit", "--no-fund"], { what: "npm ci" });
    step("npm ci: installed node_modules from package-lock.json");
  } else {
    step("npm ci: skipped, node_modules is up to date");
  }

  // 2. Rust toolchain and the wasm target.
  requireTool("cargo", "Install Rust with rustup (https://rustup.rs), then re-run.");
  const rustup = capture("rustup", ["target", "list", "--installed"]);
  if (rustup.missing) throw new ToolError(`rustup not found on PATH: needed to add the ${WASM_TARGET} target. Install Rust with rustup (https://rustup.rs).`);
  if (!rustup.ok) throw new ToolError(`\`rustup target list --installed\` failed: ${rustup.stderr.trim()}`);
  if (rustup.stdout.split(/\s+/).includes(WASM_TARGET)) {
    step(`rustup target ${WASM_TARGET}: skipped, installed`);
  } else {
    run("rustup", ["target", "add", WASM_TARGET]);
    step(`rustup target ${WASM_TARGET}: added`);
  }

  // 3. worker-build, exact version.
  await ensureCargoBin({
    bin: "worker-build", crate: "worker-build", want: WORKER_BUILD_VERSION, locked: true, step, log,
  });

  // 4. wasm-bindgen CLI, the exact version of the wasm-bindgen crate in Cargo.lock.
  const wbVersion = lockedWasmBindgenVersion();
  if (!wbVersion) throw new ToolError("Cargo.lock has no `wasm-bindgen` package entry: run `cargo generate-lockfile` (or a cargo build) first");
  await ensureCargoBin({ bin: "wasm-bindgen", crate: "wasm-bindgen-cli", want: wbVersion, locked: false, step, log });

  // 5. Chromium for tests/e2e/console-browser.test.mjs (best effort).
  ensureChromium(step);

  done = { steps, wasmBindgenVersion: wbVersion };
  return done;
}

/** The Chromium to drive: $CHROMIUM_PATH, else the first one installed where Debian and others put it. */
export function findChromium(env = process.env) {
  const candidates = [env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];
  return candidates.find((p) => p && existsSync(p));
}

/**
 * How to install Chromium here, as [command, ...args] lists run in order, or a reason why not.
 * Debian's package is `chromium`; apt needs root, or sudo that asks no password (CI runners).
 */
export function chromiumInstall({ platform = process.platform, hasApt, isRoot, hasSudo }) {
  if (platform !== "linux" || !hasApt) return { why: "no apt-get here; install Chromium and set CHROMIUM_PATH" };
  const sudo = isRoot ? [] : hasSudo ? ["sudo", "-n"] : null;
  if (!sudo) return { why: "apt-get needs root or password-less sudo; run `sudo apt-get install chromium`" };
  const env = ["env", "DEBIAN_FRONTEND=noninteractive"];
  return {
    commands: [
      [...sudo, ...env, "apt-get", "update", "-qq"],
      [...sudo, ...env, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
    ],
  };
}

function ensureChromium(step) {
  const found = findChromium();
  if (found) {
    step(`chromium: skipped, installed (${found})`);
    return;
  }
  const plan = chromiumInstall({
    hasApt: capture("apt-get", ["--version"]).ok,
    isRoot: process.getuid?.() === 0,
    hasSudo: capture("sudo", ["-n", "true"]).ok,
  });
  if (plan.why) {
    step(`chromium: not installed (${plan.why}); the console's browser test will skip`);
    return;
  }
  for (const [cmd, ...args] of plan.commands) {
    const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
    if (r.status !== 0) {
      step(`chromium: \`${[cmd, ...args].join(" ")}\` failed; the console's browser test will skip`);
      return;
    }
  }
  step(findChromium() ? `chromium: installed (${findChromium()})` : "chromium: apt-get ran but no Chromium was found; the console's browser test will skip");
}

async function ensureCargoBin({ bin, crate, want, locked, step, log }) {
  const have = () => {
    const r = capture(bin, ["--version"]);
    return r.ok ? firstVersion(r.stdout) : null;
  };
  let current = have();
  if (current === want) {
    step(`${crate} ${want}: skipped, installed`);
    return;
  }
  await waitForOtherInstalls(crate, log);
  current = have();
  if (current === want) {
    step(`${crate} ${want}: installed by the other cargo process`);
    return;
  }
  const args = ["install", crate, "--version", want, ...(locked ? ["--locked"] : [])];
  if (current) args.push("--force");
  log(`ensure-tools: cargo ${args.join(" ")} (${current ? `found ${current}` : "not installed"}; takes minutes) ...`);
  run("cargo", args);
  current = have();
  if (current !== want) throw new ToolError(`${crate}: installed, but \`${bin} --version\` reports ${current ?? "nothing"} (is another ${bin} earlier on PATH?)`);
  step(`${crate} ${want}: installed`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  ensureTools().catch((err) => {
    console.error(`ensure-tools: FAILED: ${err instanceof ToolError ? err.message : err.stack}`);
    process.exit(1);
  });
}
