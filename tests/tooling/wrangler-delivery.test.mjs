// wrangler.toml keeps what durable delivery relies on: the D1 ledger (LEDGER, with its migrations),
// the retry queue (producer RETRIES and a consumer), the dead-letter queue (named by the retry
// consumer, with its own consumer) and the cron trigger of the sweep. The queues' names are free
// (the relay does not depend on them); how they are wired together is not. Read by wrangler itself
// (`unstable_readConfig`); the deploy dry run in wrangler.test.mjs checks that it deploys.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { unstable_readConfig } from "wrangler";
import { ROOT } from "../../scripts/ensure-tools.mjs";

/** The binding names the Worker looks up, read from src/bindings.rs (their one home). */
function bindingNames() {
  const source = readFileSync(path.join(ROOT, "src", "bindings.rs"), "utf8");
  const names = Object.fromEntries([...source.matchAll(/^pub const ([A-Z_]+): &str = "([^"]+)";$/gm)].map((m) => [m[1], m[2]]));
  for (const constant of ["LEDGER", "RETRY_QUEUE", "TOKEN_CACHE"]) {
    assert.ok(names[constant], `src/bindings.rs defines ${constant}: ${JSON.stringify(names)}`);
  }
  return names;
}

const BINDINGS = bindingNames();
const LEDGER_BINDING = BINDINGS.LEDGER;
const RETRY_BINDING = BINDINGS.RETRY_QUEUE;

describe("wrangler.toml: durable delivery", () => {
  // wrangler's own reading of the file, normalised as `wrangler deploy` sees it.
  const config = unstable_readConfig({ config: path.join(ROOT, "wrangler.toml") });
  const producers = config.queues?.producers ?? [];
  const consumers = config.queues?.consumers ?? [];
  const retryQueue = producers.find((p) => p.binding === RETRY_BINDING)?.queue;
  const retryConsumer = consumers.find((c) => c.queue === retryQueue);
  const deadLetterQueue = retryConsumer?.dead_letter_queue;

  test(`a D1 binding ${LEDGER_BINDING} with migrations_dir = "migrations" (which holds the migrations)`, () => {
    const dbs = (config.d1_databases ?? []).filter((d) => d.binding === LEDGER_BINDING);
    assert.equal(dbs.length, 1, `one [[d1_databases]] with binding = "${LEDGER_BINDING}": ${JSON.stringify(config.d1_databases)}`);
    const [db] = dbs;
    assert.equal(db.migrations_dir, "migrations");
    assert.equal(typeof db.database_name, "string");
    assert.ok(db.database_name.length > 0, "database_name (wrangler d1 commands need it)");
    const dir = path.join(ROOT, db.migrations_dir);
    assert.ok(existsSync(dir) && statSync(dir).isDirectory(), `${db.migrations_dir}/ exists`);
    assert.ok(readdirSync(dir).some((f) => f.endsWith(".sql")), `${db.migrations_dir}/ holds .sql migrations`);
  });

  test(`a queue producer binding ${RETRY_BINDING}`, () => {
    const retries = producers.filter((p) => p.binding === RETRY_BINDING);
    assert.equal(retries.length, 1, `one [[queues.producers]] with binding = "${RETRY_BINDING}": ${JSON.stringify(producers)}`);
    assert.equal(typeof retryQueue, "string");
    assert.ok(retryQueue.length > 0, `${RETRY_BINDING} names its queue`);
  });

  test(`a KV namespace binding ${BINDINGS.TOKEN_CACHE} (the shared token cache)`, () => {
    const kv = (config.kv_namespaces ?? []).filter((k) => k.binding === BINDINGS.TOKEN_CACHE);
    assert.equal(kv.length, 1, `one [[kv_namespaces]] with binding = "${BINDINGS.TOKEN_CACHE}": ${JSON.stringify(config.kv_namespaces)}`);
  });

  test("a consumer for the retry queue, whose dead_letter_queue names the dead-letter queue", () => {
    assert.equal(consumers.filter((c) => c.queue === retryQueue).length, 1, `one [[queues.consumers]] with queue = "${retryQueue}": ${JSON.stringify(consumers)}`);
    assert.equal(typeof deadLetterQueue, "string", "the retry consumer sets dead_letter_queue");
    assert.ok(deadLetterQueue.length > 0);
    assert.notEqual(deadLetterQueue, retryQueue, "the dead-letter queue is not the retry queue itself");
  });

  test("a consumer for the dead-letter queue", () => {
    const dlq = consumers.filter((c) => c.queue === deadLetterQueue);
    assert.equal(dlq.length, 1, `one [[queues.consumers]] with queue = "${deadLetterQueue}": ${JSON.stringify(consumers)}`);
    assert.notEqual(dlq[0].dead_letter_queue, retryQueue, "dead letters must not loop back into the retry queue");
  });

  test("a cron trigger (the sweep of rows abandoned mid-attempt)", () => {
    const crons = config.triggers?.crons;
    assert.ok(Array.isArray(crons) && crons.length > 0, `[triggers] crons = [...]: ${JSON.stringify(config.triggers)}`);
    for (const c of crons) {
      assert.equal(typeof c, "string");
      assert.equal(c.trim().split(/\s+/).length, 5, `"${c}" is a five-field cron expression`);
    }
  });
});
