// A fake Baidu for load tests: cashier (/cashier/syncOrderStatus), access token
// (/oauth/2.0/token), order center (/rest/2.0/smartapp/ordercenter/app/...) and /floor (a
// cashier-shaped answer for the harness floor). It runs in its own thread so that answering
// never competes with the load generator's event loop, answers at once, and verifies every
// `sampleEvery`-th cashier signature with Node's crypto (sandbox/fake-baidu.mjs).
//
//   const baidu = await startFastBaidu({ publicKey, appKey, appSecret, sampleEvery: 25 });
//   baidu.url; await baidu.stats(); await baidu.close();
import { Worker } from "node:worker_threads";

export async function startFastBaidu({ publicKey, appKey, appSecret, sampleEvery = 25, accessToken = "24.bench0000000000000000000000000000.2592000.100001", expiresIn = 2592000 }) {
  const worker = new Worker(new URL("./fast-baidu-thread.mjs", import.meta.url), {
    workerData: { publicKey, appKey, appSecret, sampleEvery, accessToken, expiresIn },
  });
  const waitFor = (type) => new Promise((resolve, reject) => {
    const onMessage = (m) => { if (m.type === type) { worker.off("message", onMessage); worker.off("error", reject); resolve(m); } };
    worker.on("message", onMessage);
    worker.once("error", reject);
  });
  const { port } = await waitFor("listening");
  return {
    url: `http://127.0.0.1:${port}`,
    async stats() {
      const reply = waitFor("stats");
      worker.postMessage("stats");
      return (await reply).stats;
    },
    async close() {
      const closed = waitFor("closed");
      worker.postMessage("close");
      await closed;
      await worker.terminate();
    },
  };
}
