// Authenticates through fanout-proxy (default mode: the client's own credentials reach
// the primary) with the official OpenSearch Node.js client: a client with the right
// password writes and reads; one with a wrong password and one with none are refused
// with the primary's 401. Prints a JSON summary; exit status 1 on any surprise.
'use strict';
const { Client } = require('@opensearch-project/opensearch');

const url = process.env.PROXY_URL;
const [user, password] = process.env.CLIENT_AUTH.split(':');

async function status(client, fn) {
  try {
    const res = await fn(client);
    return res.statusCode;
  } catch (err) {
    if (err.meta && err.meta.statusCode) return err.meta.statusCode;
    throw err;
  }
}

async function main() {
  const good = new Client({ node: url, auth: { username: user, password } });
  const wrong = new Client({ node: url, auth: { username: user, password: password + '-wrong' } });
  const anonymous = new Client({ node: url });

  const write = (c) => c.index({ index: 'node-auth', id: '1', body: { by: 'node' }, refresh: true });
  const summary = {
    good_write: await status(good, write),
    good_read: await status(good, (c) => c.get({ index: 'node-auth', id: '1' })),
    good_whoami: (await good.transport.request({ method: 'GET', path: '/_plugins/_security/authinfo' })).body.user_name,
    wrong_write: await status(wrong, (c) => c.index({ index: 'node-auth', id: '2', body: { by: 'wrong' } })),
    wrong_delete_index: await status(wrong, (c) => c.indices.delete({ index: 'node-auth' })),
    anonymous_write: await status(anonymous, (c) => c.index({ index: 'node-auth', id: '3', body: { by: 'anonymous' } })),
    anonymous_cat: await status(anonymous, (c) => c.cat.indices({})),
  };
  console.log(JSON.stringify(summary));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
