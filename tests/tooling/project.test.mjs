// Checks of the project's own configuration files (no build, no worker).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT, lockedWasmBindgenVersion, WORKER_BUILD_VERSION } from "../../scripts/ensure-tools.mjs";

const read = (f) => readFileSync(path.join(ROOT, f), "utf8");

test("wasm-bindgen-cli version comes from Cargo.lock and matches the Cargo.toml pin", () => {
  const v = lockedWasmBindgenVersion();
  assert.match(v ?? "", /^\d+\.\d+\.\d+$/);
  const pin = read("Cargo.toml").match(/^wasm-bindgen\s*=\s*"=?([^"]+)"/m);
  if (pin) assert.equal(v, pin[1], "Cargo.toml pins wasm-bindgen to another version than Cargo.lock holds");
  assert.match(read("Cargo.lock"), new RegExp(`name = "worker"\\nversion = "${WORKER_BUILD_VERSION.replace(/\./g, "\\.")}"`), "worker crate and worker-build versions differ");
});

test("wrangler.toml: entry point, compatibility date, build command, no secrets", () => {
  const toml = read("wrangler.toml");
  assert.match(toml, /^name = "baidu-order-relay"$/m);
  assert.match(toml, /^main = "build\/index\.js"$/m);
  const date = toml.match(/^compatibility_date = "(\d{4}-\d{2}-\d{2})"$/m)?.[1];
  assert.ok(date, "compatibility_date missing");
  // workerd (through miniflare 4.YYYYMMDD.x) refuses dates after its own release.
  const pkg = JSON.parse(read("package.json"));
  const mf = pkg.devDependencies.miniflare.match(/^4\.(\d{4})(\d{2})(\d{2})\./);
  assert.ok(mf, "miniflare must be pinned exactly");
  assert.ok(date <= `${mf[1]}-${mf[2]}-${mf[3]}`, `compatibility_date ${date} is newer than the pinned workerd`);
  assert.match(toml, /^command = "node scripts\/build\.mjs/m);
  for (const name of ["WEBHOOK_SECRET", "BAIDU_RSA_PRIVATE_KEY"]) {
    assert.doesNotMatch(toml, new RegExp(`^\\s*${name}\\s*=`, "m"), `${name} must not be set in wrangler.toml`);
  }
  assert.doesNotMatch(toml, /BEGIN [A-Z ]*PRIVATE KEY|whsec_[A-Za-z0-9+/]{8}/);
});

test("devDependencies are pinned exactly", () => {
  const pkg = JSON.parse(read("package.json"));
  for (const [name, version] of Object.entries(pkg.devDependencies)) {
    assert.match(version, /^\d+\.\d+\.\d+$/, `${name}@${version} is not an exact version`);
    const lock = JSON.parse(read("package-lock.json"));
    assert.equal(lock.packages[`node_modules/${name}`]?.version, version, `${name}: package-lock.json disagrees`);
  }
});

test(".gitignore keeps build output, dependencies and local secrets out of git", () => {
  const lines = read(".gitignore").split(/\r?\n/).map((l) => l.trim());
  for (const entry of ["target/", "build/", "node_modules/", ".dev/", ".dev.vars", ".wrangler/", ".env"]) {
    assert.ok(lines.includes(entry), `.gitignore lacks ${entry}`);
  }
});
