package searchemu

// routes registers the REST API. Each endpoint lists the query parameters it accepts;
// anything else is rejected like BaseRestHandler does ("contains unrecognized parameter").
func (c *Cluster) routes() *router {
	rt := &router{}
	cmParams := []string{"master_timeout", "cluster_manager_timeout", "timeout"}

	rt.add("GET", "/", handleRoot)
	rt.add("HEAD", "/", handleRoot)
	c.securityRoutes(rt)

	nodesParams := []string{"timeout", "flat_settings"}
	rt.add("GET", "/_nodes", handleNodesInfo, nodesParams...)
	rt.add("GET", "/_nodes/{node_id}", handleNodesInfo, nodesParams...)
	rt.add("GET", "/_nodes/{node_id}/{metric}", handleNodesInfo, nodesParams...)
	rt.add("GET", "/_nodes/{node_id}/info/{metric}", handleNodesInfo, nodesParams...)
	// the other _nodes APIs have routes of their own, which the emulator refuses rather
	// than let /_nodes/stats read as a nodes info request for a node named "stats"
	for _, api := range []string{"stats", "usage", "hot_threads"} {
		fn := handleNodesUnsupported(api)
		rt.add("GET", "/_nodes/"+api, fn)
		rt.add("GET", "/_nodes/{node_id}/"+api, fn)
		if api != "hot_threads" {
			rt.add("GET", "/_nodes/"+api+"/{metric}", fn)
			rt.add("GET", "/_nodes/{node_id}/"+api+"/{metric}", fn)
		}
	}

	rt.add("PUT", "/_ingest/pipeline/{id}", handlePutPipeline, cmParams...)
	rt.add("GET", "/_ingest/pipeline", handleGetPipeline, "master_timeout", "cluster_manager_timeout")
	rt.add("GET", "/_ingest/pipeline/{id}", handleGetPipeline, "master_timeout", "cluster_manager_timeout")
	rt.add("DELETE", "/_ingest/pipeline/{id}", handleDeletePipeline, cmParams...)

	rt.add("POST", "/_bulk", handleBulk, bulkParams...)
	rt.add("PUT", "/_bulk", handleBulk, bulkParams...)
	rt.add("POST", "/{index}/_bulk", handleBulk, bulkParams...)
	rt.add("PUT", "/{index}/_bulk", handleBulk, bulkParams...)

	// writes and mappings through the typeless routes fix an Elasticsearch 7 index's
	// type as _doc
	writeFn := func(fn handlerFunc) handlerFunc { return fn }
	mappingFn := writeFn
	if c.opts.Flavor == Elasticsearch7 {
		writeFn = typelessES7
		mappingFn = typelessMappingES7
		c.typedRoutes(rt)
	}
	rt.add("PUT", "/{index}/_doc/{id}", writeFn(handleIndex), indexParams...)
	rt.add("POST", "/{index}/_doc/{id}", writeFn(handleIndex), indexParams...)
	rt.add("POST", "/{index}/_doc", writeFn(handleAutoID), indexParams...)
	rt.add("PUT", "/{index}/_create/{id}", writeFn(handleCreate), indexParams...)
	rt.add("POST", "/{index}/_create/{id}", writeFn(handleCreate), indexParams...)
	rt.add("DELETE", "/{index}/_doc/{id}", writeFn(handleDelete), deleteParams...)
	rt.add("POST", "/{index}/_update/{id}", writeFn(handleUpdate), updateParams...)
	rt.add("GET", "/{index}/_doc/{id}", handleGet, getParams...)
	rt.add("HEAD", "/{index}/_doc/{id}", handleGet, getParams...)
	rt.add("GET", "/{index}/_source/{id}", handleGetSource, getParams...)
	rt.add("HEAD", "/{index}/_source/{id}", handleGetSource, getParams...)
	rt.add("GET", "/_mget", handleMget, mgetParams...)
	rt.add("POST", "/_mget", handleMget, mgetParams...)
	rt.add("GET", "/{index}/_mget", handleMget, mgetParams...)
	rt.add("POST", "/{index}/_mget", handleMget, mgetParams...)

	rt.add("PUT", "/{index}", mappingFn(handleCreateIndex), withParams(createIndexParams, "include_type_name")...)
	rt.add("DELETE", "/{index}", handleDeleteIndex, withParams(indicesOptParams, cmParams...)...)
	rt.add("HEAD", "/{index}", handleIndexExists, withParams(indicesOptParams, "local", "flat_settings", "include_defaults", "human", "cluster_manager_timeout")...)
	rt.add("GET", "/{index}", handleGetIndex, withParams(indicesOptParams, "local", "flat_settings", "include_defaults", "master_timeout", "cluster_manager_timeout")...)

	stateParams := withParams(indicesOptParams, "timeout", "master_timeout", "cluster_manager_timeout", "wait_for_active_shards")
	rt.add("POST", "/{index}/_close", handleCloseIndex, stateParams...)
	rt.add("POST", "/{index}/_open", handleOpenIndex, stateParams...)
	rt.add("POST", "/_close", handleCloseIndex, stateParams...)
	rt.add("POST", "/_open", handleOpenIndex, stateParams...)

	mappingGet := withParams(indicesOptParams, "local", "master_timeout", "cluster_manager_timeout")
	rt.add("GET", "/_mapping", handleGetMapping, mappingGet...)
	rt.add("GET", "/{index}/_mapping", handleGetMapping, mappingGet...)
	mappingPut := withParams(indicesOptParams, "timeout", "master_timeout", "cluster_manager_timeout", "write_index_only")
	rt.add("PUT", "/{index}/_mapping", mappingFn(handlePutMapping), mappingPut...)
	rt.add("POST", "/{index}/_mapping", mappingFn(handlePutMapping), mappingPut...)

	rt.add("GET", "/_settings", handleGetSettings, withParams(indicesOptParams, "local", "flat_settings", "include_defaults", "master_timeout", "cluster_manager_timeout")...)
	rt.add("GET", "/{index}/_settings", handleGetSettings, withParams(indicesOptParams, "local", "flat_settings", "include_defaults", "master_timeout", "cluster_manager_timeout")...)
	rt.add("GET", "/{index}/_settings/{name}", handleGetSettings, withParams(indicesOptParams, "local", "flat_settings", "include_defaults", "master_timeout", "cluster_manager_timeout")...)
	settingsPut := withParams(indicesOptParams, "timeout", "master_timeout", "cluster_manager_timeout", "preserve_existing", "flat_settings")
	rt.add("PUT", "/_settings", handlePutSettings, settingsPut...)
	rt.add("PUT", "/{index}/_settings", handlePutSettings, settingsPut...)

	searchShards := withParams(indicesOptParams, "routing", "preference", "local")
	rt.add("GET", "/{index}/_search_shards", handleSearchShards, searchShards...)
	rt.add("POST", "/{index}/_search_shards", handleSearchShards, searchShards...)
	rt.add("GET", "/{index}/_stats/docs", handleDocsStats, withParams(indicesOptParams, "level")...)
	refresh := indicesOptParams
	rt.add("POST", "/_refresh", handleRefresh, refresh...)
	rt.add("GET", "/_refresh", handleRefresh, refresh...)
	rt.add("POST", "/{index}/_refresh", handleRefresh, refresh...)
	rt.add("GET", "/{index}/_refresh", handleRefresh, refresh...)
	flush := withParams(indicesOptParams, "force", "wait_if_ongoing")
	rt.add("POST", "/_flush", handleRefresh, flush...)
	rt.add("GET", "/_flush", handleRefresh, flush...)
	rt.add("POST", "/{index}/_flush", handleRefresh, flush...)
	rt.add("GET", "/{index}/_flush", handleRefresh, flush...)

	rt.add("GET", "/_count", handleCount, countParams...)
	rt.add("POST", "/_count", handleCount, countParams...)
	rt.add("GET", "/{index}/_count", handleCount, countParams...)
	rt.add("POST", "/{index}/_count", handleCount, countParams...)
	rt.add("GET", "/_search", handleSearch, searchParams...)
	rt.add("POST", "/_search", handleSearch, searchParams...)
	rt.add("GET", "/{index}/_search", handleSearch, searchParams...)
	rt.add("POST", "/{index}/_search", handleSearch, searchParams...)

	rt.add("GET", "/_search/scroll", handleScroll, scrollParams...)
	rt.add("POST", "/_search/scroll", handleScroll, scrollParams...)
	rt.add("GET", "/_search/scroll/{scroll_id}", handleScroll, scrollParams...)
	rt.add("POST", "/_search/scroll/{scroll_id}", handleScroll, scrollParams...)
	rt.add("DELETE", "/_search/scroll", handleClearScroll, "scroll_id")
	rt.add("DELETE", "/_search/scroll/{scroll_id}", handleClearScroll, "scroll_id")
	if !c.opts.Flavor.elastic() {
		rt.add("POST", "/{index}/_search/point_in_time", handleCreatePIT, withParams(indicesOptParams, "keep_alive", "preference", "routing", "allow_partial_pit_creation")...)
		rt.add("GET", "/_search/point_in_time/_all", handleListPITs)
		rt.add("DELETE", "/_search/point_in_time", handleDeletePITs)
		rt.add("DELETE", "/_search/point_in_time/_all", handleDeletePITs)
	} else {
		rt.add("POST", "/{index}/_pit", handleCreatePIT, withParams(indicesOptParams, "keep_alive", "preference", "routing")...)
		rt.add("DELETE", "/_pit", handleDeletePITES)
	}

	catParams := []string{"format", "h", "v", "s", "help", "bytes", "health", "pri", "local", "master_timeout", "cluster_manager_timeout", "expand_wildcards", "allow_no_indices", "ignore_unavailable", "ignore_throttled", "time", "ts", "size", "include_unloaded_segments"}
	rt.add("GET", "/_cat/indices", handleCatIndices, catParams...)
	rt.add("GET", "/_cat/indices/{index}", handleCatIndices, catParams...)

	healthParams := []string{"level", "local", "master_timeout", "cluster_manager_timeout", "timeout", "wait_for_active_shards", "wait_for_nodes", "wait_for_events", "wait_for_no_relocating_shards", "wait_for_no_initializing_shards", "wait_for_status", "expand_wildcards", "allow_no_indices", "ignore_unavailable", "awareness_attribute", "ensure_node_commissioned"}
	rt.add("GET", "/_cluster/health", handleHealth, healthParams...)
	rt.add("GET", "/_cluster/health/{index}", handleHealth, healthParams...)
	rt.add("GET", "/_cluster/state", handleClusterState, clusterStateParams...)
	rt.add("GET", "/_cluster/state/{metric}", handleClusterState, clusterStateParams...)
	rt.add("GET", "/_cluster/state/{metric}/{index}", handleClusterState, clusterStateParams...)

	templateRoutes(rt)
	dataStreamRoutes(rt)
	rt.add("POST", "/{index}/_rollover", handleRollover, rolloverParams...)
	rt.add("POST", "/{index}/_rollover/{new_index}", handleRollover, rolloverParams...)

	aliasParams := []string{"timeout", "master_timeout", "cluster_manager_timeout"}
	rt.add("POST", "/_aliases", handleAliases, aliasParams...)
	rt.add("PUT", "/{index}/_alias/{name}", handlePutAlias, aliasParams...)
	rt.add("POST", "/{index}/_alias/{name}", handlePutAlias, aliasParams...)
	rt.add("PUT", "/{index}/_aliases/{name}", handlePutAlias, aliasParams...)
	rt.add("DELETE", "/{index}/_alias/{name}", handleDeleteAlias, aliasParams...)
	rt.add("DELETE", "/{index}/_aliases/{name}", handleDeleteAlias, aliasParams...)
	getAlias := withParams(indicesOptParams, "local")
	rt.add("GET", "/_alias", handleGetAlias, getAlias...)
	rt.add("GET", "/_alias/{name}", handleGetAlias, getAlias...)
	rt.add("HEAD", "/_alias/{name}", handleGetAlias, getAlias...)
	rt.add("GET", "/{index}/_alias", handleGetAlias, getAlias...)
	rt.add("GET", "/{index}/_alias/{name}", handleGetAlias, getAlias...)
	rt.add("HEAD", "/{index}/_alias/{name}", handleGetAlias, getAlias...)
	return rt
}
