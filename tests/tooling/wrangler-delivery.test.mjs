// wrangler.toml keeps what durable delivery relies on: the D1 ledger (LEDGER, with its migrations),
// the retry queue (producer RETRIES and a consumer), the dead-letter queue (named by the retry
// consumer, with its own consumer) and the cron trigger of the sweep. The queues' names are free
// (the relay does not depend on them); how they are wired together is not. Parsed with a tiny TOML
// reader for the subset wrangler.toml uses; the deploy dry run in wrangler.test.mjs checks that
// wrangler itself accepts the file.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
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

/**
 * Parses the TOML subset of wrangler.toml: comments, `key = value`, `[table]`, `[[array.of.tables]]`
 * (dotted names), basic and literal strings, integers, floats, booleans and arrays of those (on one
 * line or several). Any other value (an inline table, a date, ...) is kept as { unparsed: "<text>" }
 * so that a new kind of entry elsewhere in the file does not break these checks; anything else it
 * cannot read (a line that is not one of the above) throws.
 */
function parseToml(text) {
  const root = {};
  let table = root;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = stripComment(lines[n]).trim();
    if (!line) continue;
    let m;
    if ((m = line.match(/^\[\[\s*([^\][]+?)\s*\]\]$/))) {
      const keys = splitKey(m[1]);
      const parent = descend(root, keys.slice(0, -1), n);
      const last = keys.at(-1);
      if (parent[last] === undefined) parent[last] = [];
      if (!Array.isArray(parent[last])) throw new Error(`wrangler.toml:${n + 1}: [[${m[1]}]] after a [${m[1]}] table`);
      table = {};
      parent[last].push(table);
    } else if ((m = line.match(/^\[\s*([^\][]+?)\s*\]$/))) {
      table = descend(root, splitKey(m[1]), n);
    } else if ((m = line.match(/^([A-Za-z0-9_\-."']+?)\s*=\s*(.*)$/))) {
      let raw = m[2];
      // A value that opens more brackets than it closes goes on over the next lines.
      while (depth(raw) > 0 && n + 1 < lines.length) raw += `\n${stripComment(lines[++n])}`;
      const keys = splitKey(m[1]);
      const target = descend(table, keys.slice(0, -1), n);
      const key = keys.at(-1);
      if (key in target) throw new Error(`wrangler.toml:${n + 1}: ${m[1]} defined twice`);
      target[key] = parseValue(raw.trim());
    } else {
      throw new Error(`wrangler.toml:${n + 1}: cannot read ${JSON.stringify(line)}`);
    }
  }
  return root;
}

function descend(table, keys, n) {
  let t = table;
  for (const k of keys) {
    if (t[k] === undefined) t[k] = {};
    t = Array.isArray(t[k]) ? t[k].at(-1) : t[k];
    if (typeof t !== "object" || t === null) throw new Error(`wrangler.toml:${n + 1}: ${keys.join(".")} is not a table`);
  }
  return t;
}

function splitKey(key) {
  return key.split(".").map((k) => k.trim().replace(/^"(.*)"$|^'(.*)'$/, "$1$2"));
}

/** The line without its comment (a `#` outside strings). */
function stripComment(line) {
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#") return line.slice(0, i);
  }
  return line;
}

/** Open brackets/braces minus closed ones, outside strings. */
function depth(text) {
  let d = 0;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "[" || c === "{") d++;
    else if (c === "]" || c === "}") d--;
  }
  return d;
}

function parseValue(raw) {
  if (/^"(?:[^"\\]|\\.)*"$/.test(raw)) return JSON.parse(raw);
  if (/^'[^']*'$/.test(raw)) return raw.slice(1, -1);
  if (raw === "true" || raw === "false") return raw === "true";
  if (/^[+-]?\d[\d_]*$/.test(raw)) return Number(raw.replace(/_/g, ""));
  if (/^[+-]?\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?$/.test(raw)) return Number(raw.replace(/_/g, ""));
  if (raw.startsWith("[") && raw.endsWith("]")) {
    const items = splitTopLevel(raw.slice(1, -1));
    if (items.every((i) => i.trim() !== "")) return items.map((i) => parseValue(i.trim()));
  }
  return { unparsed: raw };
}

/** Splits on commas outside strings and brackets; drops a trailing empty item (a trailing comma). */
function splitTopLevel(text) {
  const items = [];
  let d = 0;
  let quote = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "[" || c === "{") d++;
    else if (c === "]" || c === "}") d--;
    else if (c === "," && d === 0) { items.push(text.slice(start, i)); start = i + 1; }
  }
  items.push(text.slice(start));
  if (items.length && items.at(-1).trim() === "") items.pop();
  return items;
}

describe("the TOML reader", () => {
  test("reads the subset wrangler.toml uses", () => {
    const t = parseToml([
      'name = "x" # comment',
      "n = 5",
      "f = 1.5",
      "b = true",
      "lit = 'a#b'",
      'esc = "a\\"#b"',
      'arr = ["*/5 * * * *", "0 0 * * *",]',
      "multi = [",
      '  "src", # a comment',
      '  "Cargo.toml",',
      "]",
      "routes = [{ pattern = \"a.example\", zone_name = \"example\" }]",
      "[vars]",
      'A = "1"',
      "[[queues.producers]]",
      'binding = "P1"',
      "[[queues.producers]]",
      'binding = "P2"',
      "[[queues.consumers]]",
      'queue = "q"',
      "[triggers]",
      'crons = ["*/5 * * * *"]',
    ].join("\n"));
    assert.deepEqual(t, {
      name: "x", n: 5, f: 1.5, b: true, lit: "a#b", esc: 'a"#b',
      arr: ["*/5 * * * *", "0 0 * * *"],
      multi: ["src", "Cargo.toml"],
      routes: [{ unparsed: '{ pattern = "a.example", zone_name = "example" }' }],
      vars: { A: "1" },
      queues: { producers: [{ binding: "P1" }, { binding: "P2" }], consumers: [{ queue: "q" }] },
      triggers: { crons: ["*/5 * * * *"] },
    });
    assert.throws(() => parseToml("a = 1\na = 2"), /defined twice/);
    assert.throws(() => parseToml("what is this"), /cannot read/);
  });
});

describe("wrangler.toml: durable delivery", () => {
  const config = parseToml(readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"));
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
