// A client with sniffing on, as users configure it: sniffOnStart asks the proxy for
// GET /_nodes/_all/http and replaces the proxy with every node's http.publish_address.
// Once it has sniffed, it writes (bulk helper, index, update, delete) and prints the
// sniffed hosts, its connection pool and the bulk summary as JSON.
'use strict';
const { Client } = require('@opensearch-project/opensearch');

const url = process.env.PROXY_URL;
const index = process.env.INDEX;
const total = Number(process.env.DOCS || 1000);
const client = new Client({ node: url, sniffOnStart: true, maxRetries: 0 });

const sniffed = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('the client did not sniff within 30 s')), 30000);
  client.on('sniff', (err, result) => {
    clearTimeout(timer);
    if (err) reject(err);
    else resolve(result.meta.sniff.hosts.map((h) => h.url.href));
  });
});

async function main() {
  const hosts = await sniffed;
  const pool = client.connectionPool.connections.map((c) => c.url.href);
  const docs = [];
  for (let i = 0; i < total; i++) docs.push({ id: `doc-${i}`, n: i });
  const result = await client.helpers.bulk({
    datasource: docs,
    onDocument(doc) {
      return { index: { _index: index, _id: doc.id } };
    },
    flushBytes: 32 * 1024,
    concurrency: 2,
    retries: 0,
    onDrop(dropped) {
      console.error('dropped', JSON.stringify(dropped));
    },
  });
  await client.index({ index, id: 'single', body: { n: -1 } });
  await client.update({ index, id: 'doc-0', body: { doc: { updated: true } } });
  await client.delete({ index, id: 'doc-1' });
  console.log(JSON.stringify({ hosts, pool, successful: result.successful, failed: result.failed }));
  await client.close();
  if (result.failed !== 0 || result.successful !== total) process.exit(1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
