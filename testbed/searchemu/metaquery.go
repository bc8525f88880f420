package searchemu

import (
	"strconv"
	"strings"
)

// Queries on metadata fields answer as each metadata mapper's field type does:
//
//   - exists: _id and _index match every document (IdFieldType, IndexFieldType:
//     MatchAllDocsQuery); _seq_no and _version have doc values on every document, so
//     MappedFieldType.existsQuery matches all; _routing is indexed with a _field_names
//     entry only when a document has a routing (RoutingFieldMapper.preParse); _source
//     is "not searchable" (SourceFieldType); _field_names refuses ("Cannot run exists
//     query on _field_names", FieldNamesFieldType);
//   - term/terms/range: _seq_no is a long point field (SeqNoFieldType: Long.parseLong of
//     strings, "has a decimal part" for fractions); _version refuses term queries ("The
//     _version field is not searchable") and, like _source, range queries
//     (MappedFieldType.rangeQuery); _routing is a keyword-like string field.
//
// Refusals are QueryShardExceptions, thrown while the shard builds its query, so the
// search answers search_phase_execution_exception; exceptions that are not
// QueryShardExceptions are wrapped "failed to create query: …" (QueryShardContext.toQuery).

// seqNoMapper resolves _seq_no as the long field it is.
var seqNoMapper = &mapper{name: "_seq_no", path: "_seq_no", typ: "long", ignoreAbove: -1, coerce: true, enabled: true}

// metaExists reports how an exists query on a metadata field matches d; handled is false
// for fields that are not metadata fields the emulator models.
func metaExists(name string, d *doc) (matches, handled bool) {
	switch name {
	case "_id", "_index", "_seq_no", "_version":
		return true, true
	case "_routing":
		return d.hasRouting, true
	}
	return false, false
}

// queryShardErr is a QueryShardException raised while building the query for ix.
func queryShardErr(ix *index, reason string, cause *esError) *esError {
	e := newErr(400, typeQueryShard, reason, true)
	e.meta = []metaKV{{k: "index", v: ix.name}, {k: "index_uuid", v: ix.uuid}}
	e.cause = cause
	return e
}

// failedToCreate wraps a non-shard exception as QueryShardContext.toQuery does.
func failedToCreate(ix *index, cause *esError) *esError {
	return queryShardErr(ix, "failed to create query: "+cause.reason, cause)
}

// shardChecker is a query that can fail while a shard turns it into a Lucene query.
type shardChecker interface {
	check(ec *evalCtx) *esError
}

// checkQuery walks q (and its sub-queries) for shard-level refusals.
func checkQuery(q query, ec *evalCtx) *esError {
	switch x := q.(type) {
	case *boolQuery:
		for _, l := range [][]query{x.must, x.filter, x.should, x.mustNot} {
			for _, c := range l {
				if err := checkQuery(c, ec); err != nil {
					return err
				}
			}
		}
		return nil
	case *constantScore:
		return checkQuery(x.filter, ec)
	case shardChecker:
		return x.check(ec)
	}
	return nil
}

// checkQueries runs checkQuery for every index a search or count reads, answering the
// first refusal as the search phase failure it becomes.
func (c *Cluster) checkQueries(ixs []*index, sr *searchReq) *esError {
	for _, ix := range ixs {
		ec := &evalCtx{ix: ix, m: ix.mapping.Load(), now: c.now()}
		for _, q := range []query{sr.q, sr.post} {
			if q == nil {
				continue
			}
			if err := checkQuery(q, ec); err != nil {
				return shardFailure(c, ixs, err)
			}
		}
	}
	return nil
}

func (q *existsQuery) check(ec *evalCtx) *esError {
	switch q.name {
	case "_source":
		return queryShardErr(ec.ix, "The _source field is not searchable", nil)
	case "_field_names":
		return failedToCreate(ec.ix, newErr(400, "unsupported_operation_exception", "Cannot run exists query on _field_names", false))
	}
	return nil
}

func (q *termQuery) check(ec *evalCtx) *esError {
	if err := checkMetaTerm(ec, q.f.name, []any{q.value}); err != nil {
		return err
	}
	if err := checkIntQuery(ec, q.f.name, []any{q.value}, true); err != nil {
		return err
	}
	return checkDateQuery(ec, q.f.name, []any{q.value}, "")
}

func (q *termsQuery) check(ec *evalCtx) *esError {
	if err := checkMetaTerm(ec, q.f.name, q.values); err != nil {
		return err
	}
	if err := checkIntQuery(ec, q.f.name, q.values, true); err != nil {
		return err
	}
	return checkDateQuery(ec, q.f.name, q.values, "")
}

func (q *rangeQuery) check(ec *evalCtx) *esError {
	if err := checkIntQuery(ec, q.f.name, []any{q.gt, q.gte, q.lt, q.lte}, false); err != nil {
		return err
	}
	if err := checkDateQuery(ec, q.f.name, []any{q.gt, q.gte, q.lt, q.lte}, q.format); err != nil {
		return err
	}
	switch q.f.name {
	case "_version", "_source":
		return failedToCreate(ec.ix, errIllegalArg("Field ["+q.f.name+"] of type ["+q.f.name+"] does not support range queries"))
	case "_seq_no":
		for _, b := range []any{q.gt, q.gte, q.lt, q.lte} {
			if b == nil {
				continue
			}
			if err := parseSeqNo(b); err != nil {
				return failedToCreate(ec.ix, err)
			}
		}
	}
	return nil
}

func checkMetaTerm(ec *evalCtx, field string, values []any) *esError {
	switch field {
	case "_version":
		return queryShardErr(ec.ix, "The _version field is not searchable", nil)
	case "_source":
		return queryShardErr(ec.ix, "The _source field is not searchable", nil)
	case "_seq_no":
		for _, v := range values {
			if err := parseSeqNo(v); err != nil {
				return failedToCreate(ec.ix, err)
			}
		}
	}
	return nil
}

// parseSeqNo is SeqNoFieldType.parse's refusals.
func parseSeqNo(v any) *esError {
	switch x := v.(type) {
	case jsonNum:
		if !x.float {
			if _, err := strconv.ParseInt(x.raw, 10, 64); err != nil {
				return errIllegalArg("Value [" + x.raw + "] is out of range for a long")
			}
			return nil
		}
		f := x.float64()
		if f != float64(int64(f)) {
			return errIllegalArg("Value [" + javaDouble(f) + "] has a decimal part")
		}
		return nil
	case string:
		if _, err := strconv.ParseInt(strings.TrimPrefix(x, "+"), 10, 64); err != nil || strings.HasPrefix(x, "+-") {
			return newErr(400, typeNumberFormat, `For input string: "`+x+`"`, false)
		}
		return nil
	case bool:
		return newErr(400, typeNumberFormat, `For input string: "`+strconv.FormatBool(x)+`"`, false)
	}
	return nil
}
