// Drives Start-ChaosProxyServer with the unchanged npm package toxiproxy-node-client (the same calls its README shows)
// and prints one JSON object with what it saw. Usage: node toxiproxy-node-client.js <clientDir> <apiUri>
// It runs its own echo server on 127.0.0.1 as the upstream.
const path = require('path');
const net = require('net');
const [clientDir, apiUri] = process.argv.slice(2);
const { Toxiproxy } = require(path.join(clientDir, 'node_modules', 'toxiproxy-node-client'));

function roundTrip(port, payload) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    s.on('connect', () => s.write(payload));
    s.on('data', d => { got = Buffer.concat([got, d]); if (got.length >= payload.length) { s.end(); resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, data: got.toString() }); } });
    s.on('error', reject);
    setTimeout(() => reject(new Error('timeout')), 10000);
  });
}

(async () => {
  const out = {};
  const echo = net.createServer(c => c.pipe(c));
  await new Promise(r => echo.listen(0, '127.0.0.1', r));
  const echoPort = echo.address().port;
  const toxiproxy = new Toxiproxy(apiUri);
  out.version = await toxiproxy.getVersion();
  const proxy = await toxiproxy.createProxy({ name: 'nodeclient', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echoPort}` });
  out.created = { name: proxy.name, listen: proxy.listen, enabled: proxy.enabled };
  const port = Number(proxy.listen.split(':').pop());
  out.plain = await roundTrip(port, 'hello');
  const toxic = await proxy.addToxic({ type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 300, jitter: 0 } });
  out.toxic = { name: toxic.name, type: toxic.type, stream: toxic.stream, toxicity: toxic.toxicity, attributes: toxic.attributes };
  out.slowed = await roundTrip(port, 'world');
  const again = await proxy.getToxic('latency_downstream');
  out.fetchedToxic = again.name;
  await toxic.remove();
  out.afterRemove = await roundTrip(port, 'again');
  try { await proxy.addToxic({ name: 'x', type: 'walrus' }); out.badType = 'no error'; } catch (e) { out.badType = String(e.message || e); }
  try { await toxiproxy.createProxy({ name: 'nodeclient', listen: '127.0.0.1:0', upstream: 'localhost:1' }); out.conflict = 'no error'; } catch (e) { out.conflict = String(e.message || e); }
  const disabled = await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
  out.disabled = disabled.enabled;
  const all = await toxiproxy.getAll();
  out.names = Object.keys(all);
  const populated = await toxiproxy.populate([{ name: 'pop1', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echoPort}` }]);
  out.populated = Object.keys(populated);
  await toxiproxy.reset();
  out.afterReset = (await toxiproxy.get('nodeclient')).enabled;
  await (await toxiproxy.get('pop1')).remove();
  await proxy.remove();
  try { await toxiproxy.get('nodeclient'); out.afterDelete = 'still there'; } catch (e) { out.afterDelete = String(e.message || e); }
  console.log(JSON.stringify(out));
  echo.close();
})().catch(e => { console.log(JSON.stringify({ fatal: String(e && e.stack || e) })); process.exit(1); });
