"""Drives fanout-proxy with the typed APIs of the official Elasticsearch Python client
7.17 (doc_type, "_type" in bulk actions), which an Elasticsearch 7 primary still routes.
Prints a JSON summary."""
import json
import os
import sys
import warnings

from elasticsearch import Elasticsearch, helpers

# The primary's deprecation warnings for types come back as ElasticsearchWarning.
warnings.simplefilter("ignore")

es = Elasticsearch([os.environ["PROXY_URL"]], max_retries=0)
types = []
r = es.index(index="pyt", doc_type="doc", id="1", body={"n": 1})  # PUT /pyt/doc/1
types.append(r["_type"])
r = es.index(index="pyt", doc_type="doc", body={"n": 0})  # POST /pyt/doc
types.append(r["_type"])
auto_id = r["_id"]
r = es.create(index="pyt", doc_type="doc", id="2", body={"n": 2})  # PUT /pyt/doc/2/_create
types.append(r["_type"])
r = es.update(index="pyt", doc_type="doc", id="1", body={"doc": {"m": 1}})  # POST /pyt/doc/1/_update
types.append(r["_type"])
r = es.delete(index="pyt", doc_type="doc", id="2")  # DELETE /pyt/doc/2
types.append(r["_type"])
body = '{"index":{"_id":"3"}}\n{"n":3}\n{"index":{"_id":"4"}}\n{"n":4}\n'
r = es.bulk(body=body, index="pyt", doc_type="doc")  # POST /pyt/doc/_bulk
types += [list(it.values())[0]["_type"] for it in r["items"]]
ok, errors = helpers.bulk(
    es,
    ({"_index": "pyt", "_type": "doc", "_id": str(i), "_source": {"n": i}} for i in range(5, 8)),
    raise_on_error=False,
)
got = es.get(index="pyt", doc_type="doc", id="1")["_source"]
print(json.dumps({"types": types, "ok": ok, "errors": len(errors), "auto_id": auto_id, "doc1": got}))
sys.exit(0 if ok == 3 and not errors else 1)
