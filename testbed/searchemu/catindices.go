package searchemu

import (
	"strconv"
)

// catIndicesColumns are RestIndicesAction.getTableWithHeader's columns (OpenSearch 2.x), in
// order. The emulator computes health, status, index, uuid, pri, rep, docs.*, creation.*,
// store sizes and search.throttled; the statistics it does not model (caches, merges,
// segments, per-operation timings…) are accepted in ?h, ?s and ?help and render empty
// (null in JSON), as they would for an index without statistics.
var catIndicesColumns = func() []catColumn {
	cols := []catColumn{
		parseCatColumn("health", "alias:h;desc:current health status"),
		parseCatColumn("status", "alias:s;desc:open/close status"),
		parseCatColumn("index", "alias:i,idx;desc:index name"),
		parseCatColumn("uuid", "alias:id,uuid;desc:index uuid"),
		parseCatColumn("pri", "alias:p,shards.primary,shardsPrimary;text-align:right;desc:number of primary shards"),
		parseCatColumn("rep", "alias:r,shards.replica,shardsReplica;text-align:right;desc:number of replica shards"),
		parseCatColumn("docs.count", "alias:dc,docsCount;text-align:right;desc:available docs"),
		parseCatColumn("docs.deleted", "alias:dd,docsDeleted;text-align:right;desc:deleted docs"),
		parseCatColumn("creation.date", "alias:cd;default:false;desc:index creation date (millisecond value)"),
		parseCatColumn("creation.date.string", "alias:cds;default:false;desc:index creation date (as string)"),
		parseCatColumn("store.size", "sibling:pri;alias:ss,storeSize;text-align:right;desc:store size of primaries & replicas"),
		parseCatColumn("pri.store.size", "text-align:right;desc:store size of primaries"),
	}
	stat := func(name, alias, desc, priDesc string) {
		cols = append(cols,
			parseCatColumn(name, "sibling:pri;alias:"+alias+";default:false;text-align:right;desc:"+desc),
			parseCatColumn("pri."+name, "default:false;text-align:right;desc:"+priDesc))
	}
	for _, s := range [][3]string{
		{"completion.size", "cs,completionSize", "size of completion"},
		{"fielddata.memory_size", "fm,fielddataMemory", "used fielddata cache"},
		{"fielddata.evictions", "fe,fielddataEvictions", "fielddata evictions"},
		{"query_cache.memory_size", "qcm,queryCacheMemory", "used query cache"},
		{"query_cache.evictions", "qce,queryCacheEvictions", "query cache evictions"},
		{"request_cache.memory_size", "rcm,requestCacheMemory", "used request cache"},
		{"request_cache.evictions", "rce,requestCacheEvictions", "request cache evictions"},
		{"request_cache.hit_count", "rchc,requestCacheHitCount", "request cache hit count"},
		{"request_cache.miss_count", "rcmc,requestCacheMissCount", "request cache miss count"},
		{"flush.total", "ft,flushTotal", "number of flushes"},
		{"flush.total_time", "ftt,flushTotalTime", "time spent in flush"},
		{"get.current", "gc,getCurrent", "number of current get ops"},
		{"get.time", "gti,getTime", "time spent in get"},
		{"get.total", "gto,getTotal", "number of get ops"},
		{"get.exists_time", "geti,getExistsTime", "time spent in successful gets"},
		{"get.exists_total", "geto,getExistsTotal", "number of successful gets"},
		{"get.missing_time", "gmti,getMissingTime", "time spent in failed gets"},
		{"get.missing_total", "gmto,getMissingTotal", "number of failed gets"},
		{"indexing.delete_current", "idc,indexingDeleteCurrent", "number of current deletions"},
		{"indexing.delete_time", "idti,indexingDeleteTime", "time spent in deletions"},
		{"indexing.delete_total", "idto,indexingDeleteTotal", "number of delete ops"},
		{"indexing.index_current", "iic,indexingIndexCurrent", "number of current indexing ops"},
		{"indexing.index_time", "iiti,indexingIndexTime", "time spent in indexing"},
		{"indexing.index_total", "iito,indexingIndexTotal", "number of indexing ops"},
		{"indexing.index_failed", "iif,indexingIndexFailed", "number of failed indexing ops"},
		{"merges.current", "mc,mergesCurrent", "number of current merges"},
		{"merges.current_docs", "mcd,mergesCurrentDocs", "number of current merging docs"},
		{"merges.current_size", "mcs,mergesCurrentSize", "size of current merges"},
		{"merges.total", "mt,mergesTotal", "number of completed merge ops"},
		{"merges.total_docs", "mtd,mergesTotalDocs", "docs merged"},
		{"merges.total_size", "mts,mergesTotalSize", "size merged"},
		{"merges.total_time", "mtt,mergesTotalTime", "time spent in merges"},
		{"refresh.total", "rto,refreshTotal", "total refreshes"},
		{"refresh.time", "rti,refreshTime", "time spent in refreshes"},
		{"refresh.external_total", "rto,refreshTotal", "total external refreshes"},
		{"refresh.external_time", "rti,refreshTime", "time spent in external refreshes"},
		{"refresh.listeners", "rli,refreshListeners", "number of pending refresh listeners"},
		{"search.fetch_current", "sfc,searchFetchCurrent", "current fetch phase ops"},
		{"search.fetch_time", "sfti,searchFetchTime", "time spent in fetch phase"},
		{"search.fetch_total", "sfto,searchFetchTotal", "total fetch ops"},
		{"search.open_contexts", "so,searchOpenContexts", "open search contexts"},
		{"search.query_current", "sqc,searchQueryCurrent", "current query phase ops"},
		{"search.query_time", "sqti,searchQueryTime", "time spent in query phase"},
		{"search.query_total", "sqto,searchQueryTotal", "total query phase ops"},
		{"search.scroll_current", "scc,searchScrollCurrent", "open scroll contexts"},
		{"search.scroll_time", "scti,searchScrollTime", "time scroll contexts held open"},
		{"search.scroll_total", "scto,searchScrollTotal", "completed scroll contexts"},
		{"search.point_in_time_current", "scc,searchPointInTimeCurrent", "open point in time contexts"},
		{"search.point_in_time_time", "scti,searchPointInTimeTime", "time point in time contexts held open"},
		{"search.point_in_time_total", "scto,searchPointInTimeTotal", "completed point in time contexts"},
		{"segments.count", "sc,segmentsCount", "number of segments"},
		{"segments.memory", "sm,segmentsMemory", "memory used by segments"},
		{"segments.index_writer_memory", "siwm,segmentsIndexWriterMemory", "memory used by index writer"},
		{"segments.version_map_memory", "svmm,segmentsVersionMapMemory", "memory used by version map"},
		{"segments.fixed_bitset_memory", "sfbm,fixedBitsetMemory", "memory used by fixed bit sets for nested object field types and type filters for types referred in _parent fields"},
		{"warmer.current", "wc,warmerCurrent", "current warmer ops"},
		{"warmer.total", "wto,warmerTotal", "total warmer ops"},
		{"warmer.total_time", "wtt,warmerTotalTime", "time spent in warmers"},
		{"suggest.current", "suc,suggestCurrent", "number of current suggest ops"},
		{"suggest.time", "suti,suggestTime", "time spend in suggest"},
		{"suggest.total", "suto,suggestTotal", "number of suggest ops"},
	} {
		stat(s[0], s[1], s[2], s[2])
	}
	stat("memory.total", "tm,memoryTotal", "total used memory", "total user memory")
	return append(cols, parseCatColumn("search.throttled", "alias:sth;default:false;desc:indicates if the index is search throttled"))
}()

// handleCatIndices serves GET /_cat/indices[/{index}] (RestIndicesAction): indices are
// resolved with strictExpand (open and closed) overridden by the request's indices
// options, ?health filters rows, and the table answers ?h, ?s, ?v, ?help, ?format (or
// Accept) and ?bytes as RestTable does. Closed indices show health, state and shard
// counts; their statistics cells are empty.
func handleCatIndices(c *Cluster, rq *request) *response {
	ixs, rerr := c.resolveIndices(rq, optStrictExpand)
	if rerr != nil {
		return errResp(rerr)
	}
	t := &catTable{cols: catIndicesColumns}
	healthParam, filter := rq.query["health"]
	now := c.now()
	for _, ix := range ixs {
		health := indexHealth(ix)
		if filter {
			// ClusterHealthStatus.fromString, checked row by row.
			switch want := healthParam; {
			case equalFoldASCII(want, "green"), equalFoldASCII(want, "yellow"), equalFoldASCII(want, "red"):
				if !equalFoldASCII(want, health) {
					continue
				}
			default:
				return errResp(errIllegalArg("unknown cluster health status [" + want + "]"))
			}
		}
		k := ix.k()
		row := map[string]catValue{}
		for _, col := range t.cols {
			row[col.name] = catNull
		}
		row["health"] = catStr(health)
		row["status"] = catStr("open")
		row["index"] = catStr(ix.name)
		row["uuid"] = catStr(ix.uuid)
		row["pri"] = catNum(int64(k.shards))
		row["rep"] = catNum(int64(k.replicas))
		row["creation.date"] = catNum(ix.created.UnixMilli())
		row["creation.date.string"] = catStr(ix.created.UTC().Format("2006-01-02T15:04:05.000Z"))
		row["search.throttled"] = catStr(strconv.FormatBool(ix.settings["index.search.throttled"] == "true"))
		if ix.isClosed() {
			row["status"] = catStr("close")
		} else {
			count := ix.statsDocCount(now)
			ix.mu.RLock()
			deleted := ix.liveTombstones(c, now)
			size := ix.srcBytes + int64(count)*64
			ix.mu.RUnlock()
			if count == 0 {
				size = 208
			}
			row["docs.count"] = catNum(int64(count))
			row["docs.deleted"] = catNum(int64(deleted))
			// Only primaries are ever active on one node, so the total is the primaries'.
			row["store.size"] = catBytes(size)
			row["pri.store.size"] = catBytes(size)
		}
		t.rows = append(t.rows, row)
	}
	return t.respond(rq)
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
