"""Drives fanout-proxy with the official Elasticsearch Python client 7.17 with sniffing
on: sniff_on_start replaces the seed with the nodes' http.publish_address from
GET /_nodes/_all/http before the first request. Writes after sniffing, prints the hosts
the client ended up with and a summary as JSON."""
import json
import os
import sys

from elasticsearch import Elasticsearch, helpers

es = Elasticsearch([os.environ["PROXY_URL"]], sniff_on_start=True, max_retries=0)
hosts = sorted({"%s:%s" % (c.host.split("://", 1)[-1].rsplit(":", 1)[0], c.port)
                for c in es.transport.connection_pool.connections})
docs = int(os.environ.get("DOCS", "200"))
ok, errors = helpers.bulk(
    es,
    ({"_index": "sniffed", "_id": str(i), "_source": {"n": i}} for i in range(docs)),
    chunk_size=50,
    raise_on_error=False,
)
print(json.dumps({"hosts": hosts, "ok": ok, "errors": len(errors)}))
sys.exit(0 if ok == docs and not errors else 1)
