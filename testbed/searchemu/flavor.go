package searchemu

import (
	"fmt"
	"strings"
)

// String names the flavour as ParseFlavor reads it.
func (f Flavor) String() string {
	switch f {
	case OpenSearch2:
		return "opensearch2"
	case Elasticsearch7:
		return "elasticsearch7"
	case Elasticsearch8:
		return "elasticsearch8"
	case OpenSearch1:
		return "opensearch1"
	case OpenSearch3:
		return "opensearch3"
	}
	return fmt.Sprintf("Flavor(%d)", int(f))
}

// Flavors lists every flavour, the default first.
func Flavors() []Flavor {
	return []Flavor{OpenSearch2, OpenSearch1, OpenSearch3, Elasticsearch7, Elasticsearch8}
}

// ParseFlavor reads a flavour name as String writes it ("" is the default, OpenSearch2).
func ParseFlavor(s string) (Flavor, error) {
	if s == "" {
		return OpenSearch2, nil
	}
	names := make([]string, 0, 5)
	for _, f := range Flavors() {
		if strings.EqualFold(s, f.String()) {
			return f, nil
		}
		names = append(names, f.String())
	}
	return 0, fmt.Errorf("searchemu: unknown flavor %q (want one of %s)", s, strings.Join(names, ", "))
}

// elastic reports whether the flavour is an Elasticsearch product.
func (f Flavor) elastic() bool { return f == Elasticsearch7 || f == Elasticsearch8 }

// product is what a flavour's GET / reports about its build (MainResponse.toXContent in
// OpenSearch server/src/main/java/org/opensearch/action/main/MainResponse.java, the same
// class in Elasticsearch). The minimum wire and index compatibility versions follow
// Version.computeMinCompatVersion / minimumIndexCompatibilityVersion of each product:
// ES 7 and OpenSearch 1 are wire compatible with 6.8 and read 6.x indices, OpenSearch 2
// reports the legacy 7.10.0/7.0.0, OpenSearch 3 the last 2.x minor and 2.0.0, ES 8 the
// last 7.x minor (7.17) and 7.0.0. Version numbers and Lucene versions are those of the
// named releases; build hashes and dates are illustrative (no client reads them).
type product struct {
	name              string // the Warning header's agent prefix
	number            string
	buildFlavor       string // Elasticsearch only
	buildType         string
	buildHash         string
	buildDate         string
	lucene            string
	minWire, minIndex string
	tagline           string
}

var products = map[Flavor]product{
	OpenSearch1: {
		name: "OpenSearch", number: "1.3.20", buildType: "tar",
		buildHash: "a4d3a2d1d9b5b2e3a3a4d9b1a8d4e2c9f6e1b3a7", buildDate: "2024-11-21T00:42:42.862185Z",
		lucene: "8.10.1", minWire: "6.8.0", minIndex: "6.0.0-beta1",
		tagline: "The OpenSearch Project: https://opensearch.org/",
	},
	OpenSearch2: {
		name: "OpenSearch", number: "2.11.0", buildType: "tar",
		buildHash: "4dcad6dd4d8fb1d1a5a6d1e6e3f3bd4fe5b7e4b2", buildDate: "2023-10-13T02:55:55.511945994Z",
		lucene: "9.7.0", minWire: "7.10.0", minIndex: "7.0.0",
		tagline: "The OpenSearch Project: https://opensearch.org/",
	},
	OpenSearch3: {
		name: "OpenSearch", number: "3.0.0", buildType: "tar",
		buildHash: "dc4efa821904cc2d7ea7ef61c0f577d3fc0d8be9", buildDate: "2025-05-03T06:23:50.311109522Z",
		lucene: "10.1.0", minWire: "2.19.0", minIndex: "2.0.0",
		tagline: "The OpenSearch Project: https://opensearch.org/",
	},
	Elasticsearch7: {
		name: "Elasticsearch", number: "7.10.2", buildFlavor: "default", buildType: "tar",
		buildHash: "747e1cc71def077253878a59143c1f785afa92b9", buildDate: "2021-01-13T00:42:12.435326Z",
		lucene: "8.7.0", minWire: "6.8.0", minIndex: "6.0.0-beta1",
		tagline: "You Know, for Search",
	},
	Elasticsearch8: {
		name: "Elasticsearch", number: "8.15.0", buildFlavor: "default", buildType: "tar",
		buildHash: "1a77947f34deddb41af25e6f0ddb8e830159c179", buildDate: "2024-08-05T10:05:34.233336849Z",
		lucene: "9.11.1", minWire: "7.17.0", minIndex: "7.0.0",
		tagline: "You Know, for Search",
	},
}

func (c *Cluster) product() product {
	if p, ok := products[c.opts.Flavor]; ok {
		return p
	}
	return products[OpenSearch2]
}

// appendVersion writes the root answer's "version" object. OpenSearch leads with
// "distribution" and has no "build_flavor"; Elasticsearch has "build_flavor" after the
// number and no distribution.
func (p product) appendVersion(b []byte) []byte {
	b = append(b, '{')
	if p.buildFlavor == "" {
		b = append(b, `"distribution":"opensearch",`...)
	}
	b = append(b, `"number":`...)
	b = appendJSONString(b, p.number)
	if p.buildFlavor != "" {
		b = append(b, `,"build_flavor":`...)
		b = appendJSONString(b, p.buildFlavor)
	}
	b = append(b, `,"build_type":`...)
	b = appendJSONString(b, p.buildType)
	b = append(b, `,"build_hash":`...)
	b = appendJSONString(b, p.buildHash)
	b = append(b, `,"build_date":`...)
	b = appendJSONString(b, p.buildDate)
	b = append(b, `,"build_snapshot":false,"lucene_version":`...)
	b = appendJSONString(b, p.lucene)
	b = append(b, `,"minimum_wire_compatibility_version":`...)
	b = appendJSONString(b, p.minWire)
	b = append(b, `,"minimum_index_compatibility_version":`...)
	b = appendJSONString(b, p.minIndex)
	return append(b, '}')
}

// errIDFieldData is Elasticsearch 8's refusal of field data on _id: the
// indices.id_field_data.enabled cluster setting defaults to false since 8.0, and
// ProvidedIdFieldMapper's fielddata builder throws this (elastic/elasticsearch
// server/src/main/java/org/elasticsearch/index/mapper/ProvidedIdFieldMapper.java). The emulator
// models the default; the setting cannot be changed.
func errIDFieldData() *esError {
	return errIllegalArg("Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic cluster setting: indices.id_field_data.enabled")
}
