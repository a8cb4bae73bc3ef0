// Builds and gathers what the benchmark runs, into bench/.work/ (gitignored):
//   relay/       a snapshot of build/index.js + build/index_bg.wasm (after `build --if-stale`), so
//                that a rebuild by someone else during the run cannot change what is measured
//   peer/        the TypeScript peer bundled with esbuild (as `wrangler deploy` would, unminified)
//   sign-worker/ the signing worker + the `rsa` crate compiled to wasm (bench/rsa-wasm)
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { build as esbuild } from "esbuild";
import { build as buildRelay, BUILD_DIR } from "../../scripts/build.mjs";
import { addCargoBinToPath, capture, lockedWasmBindgenVersion, ToolError } from "../../scripts/ensure-tools.mjs";

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT = path.resolve(BENCH_DIR, "..");
export const WORK_DIR = path.join(BENCH_DIR, ".work");
const RSA_CRATE = path.join(BENCH_DIR, "rsa-wasm");

function sizes(file) {
  const bytes = readFileSync(file);
  return { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

function sha256(file) {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/**
 * The relay's release build. `build: false` uses `buildDir` as it is (for development, or when
 * someone else's half-finished src/ does not compile). Returns {dir, wasm, js, bundle, sha256, built}.
 */
export async function prepareRelay({ build = true, buildDir = BUILD_DIR, log, as = "relay" }) {
  let built = null;
  if (build) {
    const r = await buildRelay({ ifStale: true, quiet: true, log: (line) => log(line) });
    built = r.skipped ? "up to date" : `rebuilt in ${(r.ms / 1000).toFixed(1)} s`;
  } else {
    log(`build: not building; using ${path.relative(ROOT, buildDir) || "."} as it is`);
  }
  const dir = path.join(WORK_DIR, as);
  // Read first: buildDir may be a previous snapshot, even this one.
  const files = ["index.js", "index_bg.wasm"].map((f) => {
    const from = path.join(buildDir, f);
    if (!existsSync(from)) throw new ToolError(`${from} is missing: build first (node scripts/build.mjs)`);
    return [f, readFileSync(from)];
  });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [f, bytes] of files) writeFileSync(path.join(dir, f), bytes);
  const wasm = sizes(path.join(dir, "index_bg.wasm"));
  const js = sizes(path.join(dir, "index.js"));
  const bundleGzip = gzipSync(Buffer.concat([readFileSync(path.join(dir, "index.js")), readFileSync(path.join(dir, "index_bg.wasm"))]), { level: 9 }).length;
  return {
    dir, built, wasm, js,
    bundle: { raw: wasm.raw + js.raw, gzip: wasm.gzip + js.gzip, gzipConcatenated: bundleGzip },
    wasmSha256: sha256(path.join(dir, "index_bg.wasm")),
    builtAt: existsSync(path.join(buildDir, ".build-stamp")) ? readFileSync(path.join(buildDir, ".build-stamp"), "utf8").trim() : null,
  };
}

/** Bundles bench/peer/src/index.ts with esbuild (ESM, unminified, as wrangler would). */
export async function preparePeer() {
  const dir = path.join(WORK_DIR, "peer");
  mkdirSync(dir, { recursive: true });
  const outfile = path.join(dir, "index.js");
  await esbuild({
    entryPoints: [path.join(BENCH_DIR, "peer", "src", "index.ts")],
    bundle: true, format: "esm", target: "es2022", platform: "neutral", outfile, logLevel: "error",
  });
  return { dir, scriptPath: outfile, bundle: sizes(outfile) };
}

/**
 * Compiles bench/rsa-wasm for wasm32 (cargo is a no-op when nothing changed) and runs
 * wasm-bindgen (--target web) into .work/sign-worker/ next to the signing worker.
 */
export async function prepareSignWorker({ log }) {
  addCargoBinToPath();
  const dir = path.join(WORK_DIR, "sign-worker");
  mkdirSync(dir, { recursive: true });
  const wanted = lockedWasmBindgenVersion(path.join(RSA_CRATE, "Cargo.lock"));
  const have = capture("wasm-bindgen", ["--version"]);
  if (!have.ok || !have.stdout.includes(wanted)) {
    throw new ToolError(`wasm-bindgen ${wanted} is needed for bench/rsa-wasm (found: ${have.ok ? have.stdout.trim() : "none"}); run node scripts/ensure-tools.mjs`);
  }
  const started = Date.now();
  const args = ["build", "--target", "wasm32-unknown-unknown", "--release", "--locked", "--manifest-path", path.join(RSA_CRATE, "Cargo.toml"), "--target-dir", path.join(RSA_CRATE, "target")];
  let r = capture("cargo", [...args, "--offline"], { cwd: RSA_CRATE });
  if (!r.ok) r = capture("cargo", args, { cwd: RSA_CRATE }); // not every crate in the local registry cache yet
  if (!r.ok) throw new ToolError(`cargo build of bench/rsa-wasm failed:\n${r.stderr.slice(-2000)}`);
  if (/Compiling/.test(r.stderr)) log(`rsa-wasm: compiled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const wasm = path.join(RSA_CRATE, "target", "wasm32-unknown-unknown", "release", "rsa_wasm_bench.wasm");
  const b = capture("wasm-bindgen", ["--target", "web", "--out-dir", dir, wasm]);
  if (!b.ok) throw new ToolError(`wasm-bindgen for bench/rsa-wasm failed:\n${b.stderr.slice(-2000)}`);
  copyFileSync(path.join(BENCH_DIR, "sign-worker", "index.js"), path.join(dir, "index.js"));
  return { dir, scriptPath: path.join(dir, "index.js"), wasmBytes: statSync(path.join(dir, "rsa_wasm_bench_bg.wasm")).size };
}
