package searchemu

import "strings"

// Mapping updates are refused as the server's merge refuses them:
//
//   - ObjectMapper.doMerge: "object mapping [x] can't be changed from nested to
//     non-nested" (and back), an IllegalArgumentException; changing an explicit
//     "enabled" is a MapperException ("the [enabled] parameter can't be updated for the
//     object mapping [x]"), which has no REST status of its own and so answers 500;
//   - ParametrizedFieldMapper.merge: parameters that are not updateable must keep their
//     value, where a parameter the update leaves out takes its default, and every
//     conflict of one field is reported in one IllegalArgumentException ("Mapper for [f]
//     conflicts with existing mapper:\n\tCannot update parameter [index] from [true] to
//     [false]"), after the field's multi-fields merged.

// typeMapperException is MapperException's type name.
const typeMapperException = "mapper_exception"

// objectMergeErr checks the object-level rules of merging upd into old.
func objectMergeErr(old, upd *mapper) *esError {
	switch {
	case old.typ == "nested" && upd.typ != "nested":
		return errIllegalArg("object mapping [" + old.path + "] can't be changed from nested to non-nested")
	case old.typ != "nested" && upd.typ == "nested":
		return errIllegalArg("object mapping [" + old.path + "] can't be changed from non-nested to nested")
	}
	if _, explicit := paramValue(upd, "enabled"); explicit && old.enabled != upd.enabled {
		return newErr(500, typeMapperException, "the [enabled] parameter can't be updated for the object mapping ["+old.path+"]", true)
	}
	return nil
}

// fixedParam is a field parameter that a mapping update cannot change.
type fixedParam struct {
	name string
	def  func(typ string) string // the value when the definition leaves it out
	// applies reports whether the field type has the parameter
	applies func(typ string) bool
}

func always(string) bool { return true }

func constant(v string) func(string) string { return func(string) string { return v } }

// fixedParams lists, in the order the builders declare them, the non-updateable
// parameters the emulator checks (index, doc_values and store of every field type that
// has them, a date's format, a scaled_float's scaling_factor).
var fixedParams = []fixedParam{
	{name: "index", def: constant("true"), applies: always},
	{name: "doc_values", def: constant("true"), applies: func(typ string) bool { return fieldKind(typ) != kindText || typ == "keyword" }},
	{name: "store", def: constant("false"), applies: always},
	{name: "format", def: func(typ string) string {
		if typ == "date_nanos" {
			return defaultDateNanosFormat
		}
		return defaultDateFormat
	}, applies: func(typ string) bool { return fieldKind(typ) == kindDate }},
	{name: "scaling_factor", def: constant("null"), applies: func(typ string) bool { return typ == "scaled_float" }},
}

// paramValue returns a parameter as the server prints it (Objects.toString of the parsed
// value) and whether the definition gave it.
func paramValue(m *mapper, name string) (string, bool) {
	for _, p := range m.params {
		if p.k != name {
			continue
		}
		switch x := p.v.(type) {
		case string:
			if x == "true" || x == "false" {
				return x, true
			}
			if name == "scaling_factor" {
				if f, ok := javaParseDouble(x); ok {
					return javaDouble(f), true
				}
			}
			return x, true
		case jsonNum:
			if name == "scaling_factor" {
				return javaDouble(x.float64()), true
			}
		}
		return javaToString(p.v), true
	}
	return "", false
}

// fieldConflicts lists the fixed parameters upd would change on old.
func fieldConflicts(old, upd *mapper) []string {
	var out []string
	for _, p := range fixedParams {
		if !p.applies(old.typ) {
			continue
		}
		before, ok := paramValue(old, p.name)
		if !ok {
			before = p.def(old.typ)
		}
		after, ok := paramValue(upd, p.name)
		if !ok {
			after = p.def(upd.typ)
		}
		if before != after {
			out = append(out, "Cannot update parameter ["+p.name+"] from ["+before+"] to ["+after+"]")
		}
	}
	return out
}

func errConflicts(path string, conflicts []string) *esError {
	return errIllegalArg("Mapper for [" + path + "] conflicts with existing mapper:\n\t" + strings.Join(conflicts, "\n\t"))
}

// fieldParams are the parameters each field type's builder declares
// (ParametrizedFieldMapper.Builder.getParameters of KeywordFieldMapper, TextFieldMapper,
// NumberFieldMapper, DateFieldMapper, BooleanFieldMapper); any other key is refused
// ("unknown parameter [x] on mapper [f] of type [t]"), except "type", "fields", "copy_to"
// and the parameters the builder tolerates with a deprecation warning. Types not listed
// here accept any parameter.
var fieldParams = declaredParams()

func declaredParams() map[string]map[string]bool {
	fieldParams := map[string]map[string]bool{}
	set := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	number := set("index", "doc_values", "store", "skip_list", "ignore_malformed", "coerce", "null_value", "meta")
	for _, t := range []string{"long", "integer", "short", "byte", "double", "float", "half_float", "unsigned_long"} {
		fieldParams[t] = number
	}
	fieldParams["keyword"] = set("index", "doc_values", "store", "null_value", "eager_global_ordinals", "ignore_above",
		"index_options", "norms", "similarity", "use_similarity", "normalizer", "split_queries_on_whitespace", "boost", "meta")
	fieldParams["text"] = set("index", "store", "index_options", "norms", "term_vector", "analyzer", "search_analyzer",
		"search_quote_analyzer", "similarity", "position_increment_gap", "fielddata", "fielddata_frequency_filter",
		"eager_global_ordinals", "index_phrases", "index_prefixes", "boost", "meta")
	date := set("index", "doc_values", "store", "format", "print_format", "locale", "null_value", "ignore_malformed", "boost", "meta")
	fieldParams["date"], fieldParams["date_nanos"] = date, date
	fieldParams["boolean"] = set("meta", "boost", "doc_values", "index", "null_value", "store")
	return fieldParams
}

// tolerated are the keys every field builder accepts: its own structure, and
// ParametrizedFieldMapper.Builder's DEPRECATED_PARAMS (ignored with a warning on indices
// created before 8.0, which every OpenSearch 2.x index is).
var tolerated = map[string]bool{
	"type": true, "fields": true, "copy_to": true,
	"store": true, "meta": true, "index": true, "doc_values": true, "boost": true, "index_options": true, "similarity": true,
}

// unknownParam returns the first parameter of def its type does not declare.
func unknownParam(typ string, def *jsonObj) (string, bool) {
	known, ok := fieldParams[typ]
	if !ok {
		return "", false
	}
	for _, mem := range def.m {
		if !known[mem.k] && !tolerated[mem.k] {
			return mem.k, true
		}
	}
	return "", false
}
