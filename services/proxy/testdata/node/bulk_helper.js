// Indexes N documents through fanout-proxy with the client's bulk helper, as a user
// would, and prints the helper's summary as JSON. Exit status 1 if any document failed.
'use strict';
const { Client } = require('@opensearch-project/opensearch');

const url = process.env.PROXY_URL;
const total = Number(process.env.DOCS || 10000);
// No transport retries: a retried bulk is applied and published twice, which would hide
// a 503 or a timeout from the test (node_test.go); a failed request fails the run.
const client = new Client({
  node: url,
  maxRetries: 0,
  requestTimeout: Number(process.env.REQUEST_TIMEOUT_MS || 30000),
});

async function main() {
  const info = await client.info();
  if (!info.body.version) throw new Error('no version in GET / through the proxy');
  const docs = [];
  for (let i = 0; i < total; i++) {
    docs.push({ id: `doc-${i}`, n: i, text: `document number ${i} `.repeat(5) });
  }
  const result = await client.helpers.bulk({
    datasource: docs,
    onDocument(doc) {
      return { index: { _index: 'node-client', _id: doc.id } };
    },
    flushBytes: 256 * 1024,
    concurrency: 4,
    retries: 0,
    onDrop(dropped) {
      console.error('dropped', JSON.stringify(dropped));
    },
  });
  await client.indices.refresh({ index: 'node-client' });
  const count = await client.count({ index: 'node-client' });
  console.log(JSON.stringify({ total: result.total, successful: result.successful, failed: result.failed, count: count.body.count }));
  if (result.failed !== 0 || result.successful !== total) process.exit(1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
