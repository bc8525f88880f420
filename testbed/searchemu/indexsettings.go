package searchemu

import (
	"sort"
	"strings"
)

// IndexSetting is an index-scoped setting a cluster has registered, as a plugin registers
// one with Plugin.getSettings (a Setting with Property.IndexScope in IndexScopedSettings).
// Options.PluginIndexSettings takes them.
type IndexSetting struct {
	// Key is the full key ("index.knn"), or the prefix of a group setting ending in "."
	// ("index.knn.algo_param."), which registers every key under it.
	Key string
	// Dynamic settings may be changed on an open index (Property.Dynamic); the others
	// only on a closed one.
	Dynamic bool
	// Final settings can never be changed once the index exists (Property.Final).
	Final bool
}

// settingProp holds a registered setting's Setting.Property flags.
type settingProp uint8

const (
	propDynamic settingProp = 1 << iota
	propFinal
	// propPrivate is Property.PrivateIndex: set by the server only.
	propPrivate
	// propInternal is Property.InternalIndex: set through a dedicated API only.
	propInternal
	// propBool marks a Setting.boolSetting, whose value must be true or false.
	propBool
)

// settingsRegistry is a cluster's IndexScopedSettings: the keys it knows and their flags.
type settingsRegistry struct {
	keys map[string]settingProp
	// groups are the group settings' prefixes (complex matchers), longest first.
	groups []string
	gprops map[string]settingProp
	// product names the server in the private-setting message.
	product string
}

// newSettingsRegistry builds the registry of a cluster of flavour f with the given
// plugin settings.
func newSettingsRegistry(f Flavor, plugins []IndexSetting) *settingsRegistry {
	r := &settingsRegistry{keys: map[string]settingProp{}, gprops: map[string]settingProp{}, product: "OpenSearch"}
	if f.elastic() {
		r.product = "Elasticsearch"
	}
	add := func(key string, p settingProp) {
		if strings.HasSuffix(key, ".") {
			if _, ok := r.gprops[key]; !ok {
				r.groups = append(r.groups, key)
			}
			r.gprops[key] = p
			return
		}
		r.keys[key] = p
	}
	for _, line := range strings.Split(builtinIndexSettings, "\n") {
		key, flags, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if (strings.Contains(flags, "o") && f.elastic()) || (strings.Contains(flags, "e") && !f.elastic()) {
			continue
		}
		var p settingProp
		for _, fl := range flags {
			switch fl {
			case 'd':
				p |= propDynamic
			case 'f':
				p |= propFinal
			case 'p':
				p |= propPrivate
			case 'i':
				p |= propInternal
			case 'b':
				p |= propBool
			}
		}
		add(key, p)
	}
	for _, s := range plugins {
		var p settingProp
		if s.Dynamic {
			p |= propDynamic
		}
		if s.Final {
			p |= propFinal
		}
		add(s.Key, p)
	}
	sort.Slice(r.groups, func(i, j int) bool { return len(r.groups[i]) > len(r.groups[j]) })
	return r
}

// lookup returns the flags of key and whether it is registered (AbstractScopedSettings.get:
// a key setting, else the first complex matcher).
func (r *settingsRegistry) lookup(key string) (settingProp, bool) {
	if p, ok := r.keys[key]; ok {
		return p, true
	}
	for _, g := range r.groups {
		if strings.HasPrefix(key, g) && len(key) > len(g) {
			return r.gprops[g], true
		}
	}
	return 0, false
}

// errUnknownSetting is AbstractScopedSettings.validate's answer for a key nothing
// registered: the keys more than 70% alike (Lucene's LevenshteinDistance) are suggested,
// best first. The server breaks ties in its HashMap's order, the emulator by key.
func (r *settingsRegistry) errUnknownSetting(key string) *esError {
	type scored struct {
		d float32
		k string
	}
	var cands []scored
	for k := range r.keys {
		if d := luceneDistance(key, k); d > 0.7 {
			cands = append(cands, scored{d, k})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].d != cands[j].d {
			return cands[i].d > cands[j].d
		}
		return cands[i].k < cands[j].k
	})
	msg := "unknown setting [" + key + "]"
	switch len(cands) {
	case 0:
		msg += " please check that any required plugins are installed, or check the breaking changes documentation for removed settings"
	case 1:
		msg += " did you mean [" + cands[0].k + "]?"
	default:
		names := make([]string, len(cands))
		for i, c := range cands {
			names[i] = c.k
		}
		msg += " did you mean any of " + javaList(names) + "?"
	}
	return errIllegalArg(msg)
}

// validate mirrors AbstractScopedSettings.validate over keys (sorted, as Settings iterate)
// with their values (absent for a null): every failing key raises an exception, the
// first is thrown with the others suppressed. Values are parsed here for boolean
// settings; the other values the emulator acts on are parsed by indexKnobs.apply. forUpdate adds the private and internal checks of the update settings API;
// keys holding a wildcard are left out, as MetadataUpdateSettingsService does.
func (r *settingsRegistry) validate(keys []string, vals map[string]string, forUpdate bool) *esError {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	var errs []*esError
	for _, k := range sorted {
		if forUpdate && strings.Contains(k, "*") {
			continue
		}
		p, ok := r.lookup(k)
		v, hasVal := vals[k]
		switch {
		case !ok:
			errs = append(errs, r.errUnknownSetting(k))
		case forUpdate && p&propInternal != 0:
			errs = append(errs, errIllegalArg("can not update internal setting ["+k+"]; this setting is managed via a dedicated API"))
		case forUpdate && p&propPrivate != 0:
			errs = append(errs, errIllegalArg("can not update private setting ["+k+"]; this setting is managed by "+r.product))
		case p&propBool != 0 && hasVal && v != "true" && v != "false":
			// Setting.get: Booleans.parseBoolean's exception as it is
			errs = append(errs, errIllegalArg("Failed to parse value ["+v+"] as only [true] or [false] are allowed."))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	e := errs[0]
	e.suppressed = errs[1:]
	return e
}

// messages flattens an error and its suppressed ones into their reasons, as
// MetadataIndexTemplateService.validate collects them.
func (e *esError) messages() []string {
	out := []string{e.reason}
	for _, s := range e.suppressed {
		out = append(out, s.reason)
	}
	return out
}

// privateErrors is MetadataCreateIndexService.validatePrivateSettingsNotExplicitlySet:
// a private setting may not be given at index creation or in a template.
func (r *settingsRegistry) privateErrors(keys []string) []string {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		if p, ok := r.lookup(k); ok && p&propPrivate != 0 {
			out = append(out, "private index setting ["+k+"] can not be set explicitly")
		}
	}
	return out
}

// errValidationException is org.opensearch.common.ValidationException (an
// IllegalArgumentException, so 400): "Validation Failed: 1: a;2: b;".
func errValidationException(msgs []string) *esError {
	e := errValidation(msgs)
	e.typ = "validation_exception"
	e.server = false
	return e
}
