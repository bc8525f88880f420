"""Authenticates through fanout-proxy (default mode: the client's own credentials reach
the primary) with the official Elasticsearch Python client 7.17: basic auth and an API
key write and read as themselves; a wrong password, a wrong API key and no credentials
get the primary's 401. Prints a JSON summary."""
import json
import os
import warnings

from elasticsearch import AuthenticationException, Elasticsearch

warnings.simplefilter("ignore")  # the product check warns when it is refused
url = os.environ["PROXY_URL"]
user, password = os.environ["CLIENT_AUTH"].split(":", 1)
key_id, key = os.environ["CLIENT_API_KEY"].split(":", 1)


def refused(es, call):
    try:
        call(es)
    except AuthenticationException as e:
        return [e.status_code, e.error]
    return "served"


good = Elasticsearch([url], http_auth=(user, password), max_retries=0)
by_key = Elasticsearch([url], api_key=(key_id, key), max_retries=0)
wrong = Elasticsearch([url], http_auth=(user, password + "-wrong"), max_retries=0)
wrong_key = Elasticsearch([url], api_key=(key_id, "wrong"), max_retries=0)
anonymous = Elasticsearch([url], max_retries=0)

summary = {
    "version": good.info()["version"]["number"],
    "write": good.index(index="py-auth", id="1", body={"by": "basic"})["result"],
    "key_write": by_key.index(index="py-auth", id="2", body={"by": "api key"})["result"],
    "whoami": good.security.authenticate()["username"],
    "key_whoami": by_key.security.authenticate()["authentication_type"],
    "wrong": refused(wrong, lambda es: es.index(index="py-auth", id="3", body={"by": "wrong"})),
    "wrong_key": refused(wrong_key, lambda es: es.delete(index="py-auth", id="1")),
    "anonymous": refused(anonymous, lambda es: es.indices.delete(index="py-auth")),
}
print(json.dumps(summary))
