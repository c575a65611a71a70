// Drives Start-ChaosProxyServer with the unchanged npm package toxiproxy-node-client to add ChaosPS's HTTP toxics,
// then sends real keep-alive HTTP requests through the proxy and prints one JSON object with what it saw.
// Usage: node toxiproxy-node-http.js <clientDir> <apiUri> <upstream host:port> <requests>
const path = require('path');
const http = require('http');
const [clientDir, apiUri, upstream, count] = process.argv.slice(2);
const { Toxiproxy } = require(path.join(clientDir, 'node_modules', 'toxiproxy-node-client'));

function get(port, agent, p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent }, res => {
      let body = '';
      res.on('data', d => body += d);
      res.on('end', () => resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] || null, body }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
  });
}

(async () => {
  const out = {};
  try {
    const toxiproxy = new Toxiproxy(apiUri);
    // "mode" is ChaosPS's one extra field; the client passes the body through unchanged.
    const proxy = await toxiproxy.createProxy({ name: 'nodehttp', listen: '127.0.0.1:0', upstream, mode: 'http' });
    const port = Number(proxy.listen.split(':').pop());
    const toxic = await proxy.addToxic({ name: 'throttle', type: 'http_status', stream: 'downstream', toxicity: 0.25,
      attributes: { status: 429, retry_after: 3, method: 'GET', path: '/api/' } });
    out.toxic = { name: toxic.name, type: toxic.type, toxicity: toxic.toxicity, attributes: toxic.attributes };
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const counts = {};
    let retryAfter = null;
    const n = Number(count);
    for (let i = 0; i < n; i += 4) {
      const batch = await Promise.all([0, 1, 2, 3].map(() => get(port, agent, '/api/items')));
      for (const r of batch) { counts[r.status] = (counts[r.status] || 0) + 1; if (r.status === 429) retryAfter = r.retryAfter; }
    }
    out.counts = counts;
    out.retryAfter = retryAfter;
    out.other = (await get(port, agent, '/health')).status; // path not matched
    agent.destroy();
    out.fetched = (await proxy.getToxic('throttle')).attributes;
    try { await proxy.addToxic({ name: 'bad', type: 'http_status', attributes: { status: 700 } }); out.badStatus = 'no error'; }
    catch (e) { out.badStatus = String(e.message || e); }
    await toxic.remove();
    await proxy.remove();
  } catch (e) { out.fatal = String(e && e.stack || e); }
  console.log(JSON.stringify(out));
})();
