#!/usr/bin/env node
// npm run deploy [-- <wrangler deploy options>]: refuses to ship a relay that lacks a secret every
// deployment needs (it would answer every webhook 500 misconfigured), then builds and runs
// `wrangler deploy` with the options given.
//
// The check asks Cloudflare which secrets the Worker has (`wrangler secret list`); names in a
// `--secrets-file` (JSON or .env, uploaded with this deploy) count too. `--dry-run` uploads
// nothing and skips it. RELAY_SKIP_SECRET_CHECK=1 skips it (say, a CI that sets secrets itself).
// This replaces wrangler's experimental `[secrets] required`, which also made `wrangler dev`
// read only those names from .dev.vars.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseDotEnv } from "./dev.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");

/**
 * The secrets without which the relay refuses everything. The features' own secrets
 * (BAIDU_RSA_PRIVATE_KEY, BAIDU_APP_SECRET) and ADMIN_TOKEN are optional: a deployment may not
 * use them, and /healthz names whatever a configured feature lacks.
 */
export const REQUIRED_SECRETS = ["WEBHOOK_SECRET"];

/** The names a --secrets-file sets: a JSON object, or a .env file. */
export function secretsFileNames(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) return Object.keys(JSON.parse(trimmed));
  return Object.keys(parseDotEnv(text));
}

/** The value of `--name value` or `--name=value` in `args`, if given. */
export function option(args, name) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
  }
  return undefined;
}

/**
 * What the check decides, as a plain value: `{ok: true}` or `{ok: false, message}`.
 * `listed` is the names `wrangler secret list` gave, or an Error when it could not list them.
 */
export function checkSecrets({ listed, fileNames = [], required = REQUIRED_SECRETS }) {
  const known = new Set([...(listed instanceof Error ? [] : listed), ...fileNames]);
  const missing = required.filter((name) => !known.has(name));
  if (missing.length === 0) return { ok: true };
  const how = missing.map((name) => `npx wrangler secret put ${name}`).join("; ");
  const why = listed instanceof Error ? ` (the Worker's secrets could not be listed: ${listed.message})` : "";
  return { ok: false, message: `deploy: refused: ${missing.join(", ")} is not set${why}. Set it first (${how}), or pass it with --secrets-file. docs/deploy.md, step 3.` };
}

function listSecrets() {
  const r = spawnSync(WRANGLER, ["secret", "list", "--format", "json"], { cwd: ROOT, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  if (r.status !== 0) return new Error((r.stderr || r.stdout || String(r.error ?? r.status)).trim().split("\n").slice(-3).join(" "));
  try {
    return JSON.parse(r.stdout.slice(r.stdout.indexOf("["))).map((s) => s.name);
  } catch (err) {
    return new Error(`unreadable answer: ${err.message}`);
  }
}

async function main(args) {
  if (!args.includes("--dry-run") && !process.env.RELAY_SKIP_SECRET_CHECK) {
    const file = option(args, "--secrets-file");
    const verdict = checkSecrets({ listed: listSecrets(), fileNames: file ? secretsFileNames(readFileSync(path.resolve(file), "utf8")) : [] });
    if (!verdict.ok) {
      console.error(verdict.message);
      process.exit(1);
    }
    console.log(`deploy: ${REQUIRED_SECRETS.join(", ")} set`);
  }
  const { build } = await import("./build.mjs");
  await build();
  const r = spawnSync(WRANGLER, ["deploy", ...args], { cwd: ROOT, stdio: "inherit" });
  process.exit(r.status ?? 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`deploy: FAILED: ${err.message}`);
    process.exit(1);
  });
}
