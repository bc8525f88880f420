"""Drives fanout-proxy with the official Elasticsearch Python client 7.17, which refuses
servers that do not answer as Elasticsearch (X-Elastic-Product). Prints a JSON summary."""
import json
import os
import sys

from elasticsearch import Elasticsearch, helpers

# No retries: a retried bulk is applied and published twice (python_test.go counts the
# events). The timeout is longer than the proxy can take to answer.
es = Elasticsearch([os.environ["PROXY_URL"]], max_retries=0, timeout=float(os.environ.get("REQUEST_TIMEOUT_S", "10")))
info = es.info()
docs = int(os.environ.get("DOCS", "2000"))
ok, errors = helpers.bulk(
    es,
    ({"_index": "py", "_id": str(i), "_source": {"n": i, "name": "doc %d" % i}} for i in range(docs)),
    chunk_size=500,
    raise_on_error=False,
)
es.update(index="py", id="0", body={"doc": {"n": -1}})
es.delete(index="py", id="1")
es.indices.refresh(index="py")
count = es.count(index="py")["count"]
print(json.dumps({"version": info["version"]["number"], "ok": ok, "errors": len(errors), "count": count}))
sys.exit(0 if ok == docs and not errors else 1)
