// A small keep-alive HTTP load generator (Node's http client): sends prepared requests, each
// once, `concurrency` at a time, each connection waiting for the full answer before the next.
// Measures from outside the Worker: wall time, and each request's latency.
import http from "node:http";

/** An agent that keeps `sockets` connections open to one host. */
export function keepAliveAgent(sockets) {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, keepAliveMsecs: 60_000 });
}

/** One request: resolves {status, body} once the whole answer has arrived. */
export function send(baseUrl, { method = "POST", path, headers = {}, body }, agent) {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, method, path, agent,
      headers: body ? { ...headers, "content-length": body.length } : headers,
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Lets a load run be paused: while closed, no new request starts (those in flight finish).
 * A request's latency starts once it passes, and the time the gate stayed closed with nothing
 * in flight is left out of the run's wallMs.
 */
export class Gate {
  #open = true;
  #waiting = [];
  #drains = [];
  #inFlight = 0;
  #idleSince = null;
  pausedMs = 0;

  async pass() {
    while (!this.#open) await new Promise((resolve) => this.#waiting.push(resolve));
    this.#inFlight++;
  }

  done() {
    if (--this.#inFlight === 0 && !this.#open) this.#drained();
  }

  /** Closes the gate; resolves once no request is in flight. */
  close() {
    this.#open = false;
    const drained = new Promise((resolve) => this.#drains.push(resolve));
    if (this.#inFlight === 0) this.#drained();
    return drained;
  }

  open() {
    if (this.#idleSince !== null) this.pausedMs += performance.now() - this.#idleSince;
    this.#idleSince = null;
    this.#open = true;
    for (const resolve of this.#waiting.splice(0)) resolve();
  }

  #drained() {
    this.#idleSince ??= performance.now();
    for (const resolve of this.#drains.splice(0)) resolve();
  }
}

/**
 * Sends every request in `requests` (each once) with `concurrency` in flight.
 * Returns {wallMs, latenciesMs (Float64Array, in request order), statuses {code: count}, badSamples}.
 * `expectStatus`: answers with another status are counted and up to 3 bodies kept.
 * `gate`: a Gate that can hold new requests back (wallMs then leaves out the time it did).
 * A request may be a function returning one, called just before it is sent: a signed webhook
 * then stays inside its timestamp window however long the run takes.
 */
export async function runLoad(baseUrl, requests, { concurrency = 1, agent, expectStatus = 200, gate } = {}) {
  const ownAgent = !agent;
  agent ??= keepAliveAgent(concurrency);
  const latencies = new Float64Array(requests.length);
  const statuses = {};
  const badSamples = [];
  let next = 0;
  const started = performance.now();
  async function lane() {
    for (;;) {
      const i = next++;
      if (i >= requests.length) return;
      const request = typeof requests[i] === "function" ? requests[i]() : requests[i];
      if (gate) await gate.pass();
      const t0 = performance.now();
      const r = await send(baseUrl, request, agent).finally(() => gate?.done());
      latencies[i] = performance.now() - t0;
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status !== expectStatus && badSamples.length < 3) badSamples.push(`${r.status} ${r.body.toString("utf8").slice(0, 300)}`);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, lane));
  const wallMs = performance.now() - started - (gate?.pausedMs ?? 0);
  if (ownAgent) agent.destroy();
  return { wallMs, latenciesMs: latencies, statuses, badSamples };
}

/** Throws when any answer had another status than expected. */
export function assertAllOk(result, what, expectStatus = 200) {
  const bad = Object.entries(result.statuses).filter(([s]) => Number(s) !== expectStatus);
  if (bad.length) throw new Error(`${what}: ${bad.map(([s, n]) => `${n}× HTTP ${s}`).join(", ")}; e.g. ${result.badSamples.join(" | ")}`);
}
