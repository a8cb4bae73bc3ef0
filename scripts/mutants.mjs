// npm run mutants [-- <cargo mutants args>]: mutation testing of the core (cargo-mutants).
//
// Every mutant of the delivery flow, the ledger's rules, the retry policy, the webhook checks and
// the Baidu layer (EXAMINED) is built and tested natively; a mutant the tests do not
// catch is a decision no test pins. The flow, ledger, policy and webhook files must have none:
// the script fails if one survives there. Not part of `npm test` (it takes tens of minutes on two
// cores); the report is in mutants.out/. Extra arguments go to cargo mutants, e.g.
//   npm run mutants -- --file src/webhook.rs
import { readFileSync } from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { ROOT, addCargoBinToPath, capture, run as runOrThrow } from "./ensure-tools.mjs";

const CARGO_MUTANTS_VERSION = "27.1.0";
/** The core's decisions. The simulator is test code; keys and the platform layer are not here. */
const EXAMINED = ["src/delivery/*.rs", "src/webhook.rs", "src/baidu/*.rs"];
const EXCLUDED = ["src/delivery/simulation.rs"];
/** Files whose surviving mutants fail the run. */
const MUST_CATCH_ALL = ["src/delivery/flow.rs", "src/delivery/ledger.rs", "src/delivery/policy.rs", "src/webhook.rs"];
/** Enough schedules for the simulator to reach every branch of the flow, in a few seconds. */
const SIM_SCHEDULES = process.env.SIM_SCHEDULES ?? "2000";

addCargoBinToPath();
const installed = capture("cargo", ["mutants", "--version"]);
if (!installed.ok || !installed.stdout.includes(CARGO_MUTANTS_VERSION)) {
  console.log(`mutants: cargo install cargo-mutants ${CARGO_MUTANTS_VERSION} (takes a few minutes) ...`);
  runOrThrow("cargo", ["install", "cargo-mutants", "--version", CARGO_MUTANTS_VERSION, "--locked", "--force"]);
}

const extra = process.argv.slice(2);
const files = extra.some((a) => a === "--file" || a === "-f" || a.startsWith("--file=")) ? [] : EXAMINED.flatMap((f) => ["--file", f]);
// Unit tests and the simulation judge a mutant; doc tests and binaries only add time.
const args = ["mutants", "--no-config", "--no-shuffle", "--jobs", "1", "--cargo-test-arg=--lib",
  ...files, ...EXCLUDED.flatMap((f) => ["--exclude", f]), ...extra];
console.log(`mutants: cargo ${args.join(" ")} (SIM_SCHEDULES=${SIM_SCHEDULES})`);
const started = Date.now();
const run = spawnSync("cargo", args, { cwd: ROOT, stdio: "inherit", env: { ...process.env, SIM_SCHEDULES } });

const outcomes = JSON.parse(readFileSync(path.join(ROOT, "mutants.out", "outcomes.json"), "utf8"));
const byFile = new Map();
const missed = [];
for (const outcome of outcomes.outcomes) {
  const mutant = outcome.scenario?.Mutant;
  if (!mutant) continue;
  const file = mutant.file;
  const counts = byFile.get(file) ?? { caught: 0, missed: 0, timeout: 0, unviable: 0 };
  const summary = String(outcome.summary).toLowerCase();
  if (summary.includes("caught")) counts.caught++;
  else if (summary.includes("missed")) { counts.missed++; missed.push(`${file}:${mutant.span?.start?.line}: ${mutant.name ?? mutant.replacement}`); }
  else if (summary.includes("timeout")) counts.timeout++;
  else counts.unviable++;
  byFile.set(file, counts);
}
console.log("\nmutants: file                              caught missed timeout unviable");
const total = { caught: 0, missed: 0, timeout: 0, unviable: 0 };
for (const [file, c] of [...byFile].sort()) {
  console.log(`mutants: ${file.padEnd(34)} ${String(c.caught).padStart(6)} ${String(c.missed).padStart(6)} ${String(c.timeout).padStart(7)} ${String(c.unviable).padStart(8)}`);
  for (const k of Object.keys(total)) total[k] += c[k];
}
const viable = total.caught + total.missed + total.timeout;
console.log(`mutants: ${viable} viable mutants, ${total.missed} missed, ${total.timeout} timed out, ${total.unviable} unviable, in ${Math.round((Date.now() - started) / 1000)} s`);
for (const line of missed) console.log(`mutants: missed ${line}`);
const mustCatch = missed.filter((line) => MUST_CATCH_ALL.some((file) => line.startsWith(`${file}:`)));
if (mustCatch.length > 0) {
  console.error(`mutants: FAILED: ${mustCatch.length} mutants survive in ${MUST_CATCH_ALL.join(", ")}`);
  process.exit(1);
}
// cargo mutants exits 2 when mutants were missed and 3 on timeouts: judged above.
process.exit([0, 2, 3].includes(run.status) ? 0 : run.status ?? 1);
