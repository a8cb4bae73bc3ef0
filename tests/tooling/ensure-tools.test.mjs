// scripts/ensure-tools.mjs decides what to install; checked with stub cargo/rustup/worker-build/
// wasm-bindgen executables in a temporary CARGO_HOME (nothing is really installed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, lockedWasmBindgenVersion, chromiumInstall } from "../../scripts/ensure-tools.mjs";

function stub(dir, name, body) {
  const p = path.join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
}

/** A CARGO_HOME whose bin/ holds stubs; `cargo install X --version V` "installs" a stub X that reports V. */
function fakeCargoHome({ wasmTarget, workerBuild, wasmBindgen }) {
  const home = mkdtempSync(path.join(tmpdir(), "ensure-tools-"));
  const bin = path.join(home, "bin");
  mkdirSync(bin);
  const log = path.join(home, "calls.log");
  stub(bin, "cargo", [
    `echo "cargo $*" >> "${log}"`,
    'if [ "$1" = "--version" ]; then echo "cargo 1.95.0"; exit 0; fi',
    'if [ "$1" = "install" ]; then',
    '  crate="$2"; version="$4"',
    '  case "$crate" in worker-build) exe=worker-build; out="$version";; wasm-bindgen-cli) exe=wasm-bindgen; out="wasm-bindgen $version";; esac',
    `  printf '#!/bin/sh\\necho "%s"\\n' "$out" > "${bin}/$exe"; chmod +x "${bin}/$exe"; exit 0`,
    "fi",
    "exit 1",
  ].join("\n"));
  stub(bin, "rustup", [
    `echo "rustup $*" >> "${log}"`,
    `if [ "$1 $2" = "target list" ]; then echo x86_64-unknown-linux-gnu; ${wasmTarget ? "echo wasm32-unknown-unknown;" : ""} exit 0; fi`,
    'if [ "$1 $2" = "target add" ]; then exit 0; fi',
    "exit 1",
  ].join("\n"));
  if (workerBuild) stub(bin, "worker-build", `echo "${workerBuild}"`);
  if (wasmBindgen) stub(bin, "wasm-bindgen", `echo "wasm-bindgen ${wasmBindgen}"`);
  return { home, bin, log };
}

function runEnsure(home, bin) {
  const r = spawnSync(process.execPath, [path.join(ROOT, "scripts/ensure-tools.mjs")], {
    cwd: ROOT,
    encoding: "utf8",
    // A Chromium "found" at CHROMIUM_PATH: these tests never run apt-get.
    env: { PATH: [bin, path.dirname(process.execPath), "/usr/bin", "/bin"].join(path.delimiter), CARGO_HOME: home, HOME: home, CHROMIUM_PATH: path.join(bin, "cargo") },
  });
  return { ...r, calls: existsSync(path.join(home, "calls.log")) ? readFileSync(path.join(home, "calls.log"), "utf8").trim().split("\n") : [] };
}

const WB = lockedWasmBindgenVersion();

test("everything present → every step skipped, nothing installed", () => {
  const { home, bin } = fakeCargoHome({ wasmTarget: true, workerBuild: "0.8.7", wasmBindgen: WB });
  try {
    const r = runEnsure(home, bin);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 5, r.stdout);
    for (const l of lines) assert.match(l, /skipped/);
    assert.ok(!r.calls.some((c) => /^cargo install|target add/.test(c)), r.calls.join("\n"));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("nothing present → target added, worker-build --locked, wasm-bindgen-cli (Cargo.lock version) without --locked", () => {
  const { home, bin } = fakeCargoHome({ wasmTarget: false });
  try {
    const r = runEnsure(home, bin);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.ok(r.calls.includes("rustup target add wasm32-unknown-unknown"), r.calls.join("\n"));
    assert.ok(r.calls.includes("cargo install worker-build --version 0.8.7 --locked"), r.calls.join("\n"));
    assert.ok(r.calls.includes(`cargo install wasm-bindgen-cli --version ${WB}`), r.calls.join("\n"));
    assert.match(r.stdout, /worker-build 0\.8\.7: installed/);
    assert.match(r.stdout, new RegExp(`wasm-bindgen-cli ${WB.replace(/\./g, "\\.")}: installed`));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("wrong versions → reinstalled with --force", () => {
  const { home, bin } = fakeCargoHome({ wasmTarget: true, workerBuild: "0.8.6", wasmBindgen: "0.2.100" });
  try {
    const r = runEnsure(home, bin);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.ok(r.calls.includes("cargo install worker-build --version 0.8.7 --locked --force"), r.calls.join("\n"));
    assert.ok(r.calls.includes(`cargo install wasm-bindgen-cli --version ${WB} --force`), r.calls.join("\n"));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("no cargo → a clear failure", () => {
  const home = mkdtempSync(path.join(tmpdir(), "ensure-tools-"));
  try {
    const r = runEnsure(home, path.join(home, "bin"));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ensure-tools: FAILED: cargo not found on PATH.*rustup/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("Chromium comes from apt (update, then install chromium) as root or with password-less sudo, else a reason", () => {
  const install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"];
  const asRoot = chromiumInstall({ platform: "linux", hasApt: true, isRoot: true, hasSudo: false });
  assert.deepEqual(asRoot.commands.map((c) => c.slice(2)), [["apt-get", "update", "-qq"], install]);
  assert.deepEqual(asRoot.commands[1].slice(0, 2), ["env", "DEBIAN_FRONTEND=noninteractive"]);
  const withSudo = chromiumInstall({ platform: "linux", hasApt: true, isRoot: false, hasSudo: true });
  assert.deepEqual(withSudo.commands[1].slice(0, 2), ["sudo", "-n"]);
  assert.match(chromiumInstall({ platform: "linux", hasApt: true, isRoot: false, hasSudo: false }).why, /sudo apt-get install chromium/);
  assert.match(chromiumInstall({ platform: "darwin", hasApt: false }).why, /CHROMIUM_PATH/);
});
