// Runs the prebuilt relay under plain `wrangler dev`, configured the conventional way: a .dev.vars
// file beside wrangler.toml, local D1 migrations applied with `wrangler d1 migrations apply
// --local`. In a project directory of its own (wrangler.toml without its [build] step, links to
// build/ and migrations/), so the repository's .dev.vars and .wrangler/ state are left alone.
//
//   const dev = await startWranglerDev({ vars: { WEBHOOK_SECRET, ... } });
//   dev.url, dev.output(), await dev.close()
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, BUILD_DIR } from "./relay.mjs";
import { closedPort } from "./e2e.mjs";

const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");
const ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_UPDATE_NOTIFIER: "1" };

/** `vars` as a .dev.vars file (dotenv: inside double quotes, \n is a newline; nothing else is escaped). */
export function dotenv(vars) {
  const quote = (v) => `"${String(v).split(/\r?\n/).join("\\n")}"`;
  return `${Object.entries(vars).map(([k, v]) => `${k}=${quote(v)}`).join("\n")}\n`;
}

export async function startWranglerDev({ vars, buildDir = BUILD_DIR, migrate = true, readyMs = 120_000 }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "relay-wrangler-dev-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  let child;
  let out = "";
  try {
    const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8").replace(/^\[build\][\s\S]*?(?=^\[)/m, "");
    writeFileSync(path.join(dir, "wrangler.toml"), toml);
    symlinkSync(path.resolve(buildDir), path.join(dir, "build"));
    symlinkSync(path.join(ROOT, "migrations"), path.join(dir, "migrations"));
    writeFileSync(path.join(dir, ".dev.vars"), dotenv(vars), { mode: 0o600 });
    if (migrate) {
      const r = spawnSync(WRANGLER, ["d1", "migrations", "apply", "LEDGER", "--local"], { cwd: dir, env: ENV, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`wrangler d1 migrations apply LEDGER --local failed:\n${r.stdout}${r.stderr}`);
    }
    const port = await closedPort();
    child = spawn(WRANGLER, ["dev", "--port", String(port), "--ip", "127.0.0.1"], { cwd: dir, env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    const ready = new Promise((resolve, reject) => {
      const seen = (d) => { out += d; if (/Ready on http/.test(out)) resolve(); };
      child.stdout.on("data", seen);
      child.stderr.on("data", seen);
      child.on("exit", (code) => reject(new Error(`wrangler dev exited (${code}):\n${out}`)));
    });
    let timer;
    const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`wrangler dev not ready in ${readyMs / 1000} s:\n${out}`)), readyMs); });
    await Promise.race([ready, late]).finally(() => clearTimeout(timer));
    return {
      url: `http://127.0.0.1:${port}`,
      output: () => out,
      async close() {
        if (child.exitCode === null) {
          child.kill("SIGTERM");
          await new Promise((r) => { child.once("exit", r); setTimeout(r, 5000).unref(); });
        }
        cleanup();
      },
    };
  } catch (err) {
    child?.kill("SIGTERM");
    cleanup();
    throw err;
  }
}
