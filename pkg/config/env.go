package config

import (
	"fmt"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// strictEnvKey is the file key, and FANOUT_STRICT_ENV the variable, that make an
// unknown FANOUT_* variable an error (the --strict-env flag does too).
const strictEnvKey = "strict_env"

// fromEnv maps FANOUT_* variables to keys. A variable that names no key is a warning
// that suggests the nearest one, or with strict an error: a typo must not pass
// unnoticed, but neither may a variable the process never asked for stop it from
// starting. Kubernetes gives every pod a set of variables per Service of its namespace
// (enableServiceLinks is on by default), and a Service named fanout-proxy gives
// FANOUT_PROXY_SERVICE_HOST and friends to every pod next to it: those are ignored
// without a word when both their names and their values have the shapes the kubelet
// gives them.
func fromEnv(environ []string, keys map[string]reflect.Type, strict bool) (map[string]any, []Warning, error) {
	byEnv := make(map[string]string, len(keys))
	for key := range keys {
		byEnv[EnvName(key)] = key
	}
	out := map[string]any{}
	var warnings []Warning
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || name == EnvName(strictEnvKey) {
			continue
		}
		key, known := byEnv[name]
		if !known {
			if ServiceLink(name, value) {
				continue
			}
			hint := ""
			if near := nearest(name, byEnv); near != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", near)
			}
			if strict {
				return nil, nil, fmt.Errorf("config: unknown environment variable %s%s", name, hint)
			}
			warnings = append(warnings, Warning{Key: "environment " + name,
				Message: "names no configuration key and is ignored" + hint + "; --strict-env makes this an error"})
			continue
		}
		if keys[key].Kind() == reflect.Slice {
			var items []string
			for _, s := range strings.Split(value, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			out[key] = items
			continue
		}
		out[key] = value
	}
	return out, warnings, nil
}

// The variables the kubelet makes for a Service named S (uppercased, '-' made '_'), as
// pkg/kubelet/envvars does: S_SERVICE_HOST=<cluster IP>, S_SERVICE_PORT=<port>,
// S_SERVICE_PORT_<PORT NAME>=<port>, S_PORT=<proto>://<ip>:<port> for the first port,
// and per port S_PORT_<port>_<PROTO>=<proto>://<ip>:<port> with _PROTO=<proto>,
// _PORT=<port> and _ADDR=<ip>.
var (
	linkServiceHost = regexp.MustCompile(`^[A-Z0-9_]+_SERVICE_HOST$`)
	linkServicePort = regexp.MustCompile(`^[A-Z0-9_]+_SERVICE_PORT(_[A-Z0-9_]+)?$`)
	linkPort        = regexp.MustCompile(`^[A-Z0-9_]+_PORT$`)
	linkPortProto   = regexp.MustCompile(`^[A-Z0-9_]+_PORT_([0-9]+)_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?$`)
)

// ServiceLink reports whether name=value has the shape of a variable Kubernetes sets
// for a Service (see above): the name's suffix and the value must agree, so that a
// misspelt fanout key is not mistaken for one.
func ServiceLink(name, value string) bool {
	m := linkPortProto.FindStringSubmatch(name)
	if m == nil {
		switch {
		case linkServiceHost.MatchString(name):
			return isIP(value)
		case linkServicePort.MatchString(name):
			return isPort(value)
		case linkPort.MatchString(name):
			_, _, ok := linkURL(value)
			return ok
		}
		return false
	}
	port, proto := m[1], strings.ToLower(m[2])
	switch m[3] {
	case "_PROTO":
		return value == proto
	case "_PORT":
		return value == port
	case "_ADDR":
		return isIP(value)
	}
	p, hostPort, ok := linkURL(value)
	if !ok || p != proto {
		return false
	}
	_, vp, _ := net.SplitHostPort(hostPort)
	return vp == port
}

// linkURL splits "tcp://10.0.0.1:9200" (or an IPv6 "[fd00::1]:9200") into the protocol
// and the address.
func linkURL(v string) (proto, hostPort string, ok bool) {
	proto, hostPort, ok = strings.Cut(v, "://")
	if !ok || (proto != "tcp" && proto != "udp" && proto != "sctp") {
		return "", "", false
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil || !isIP(host) || !isPort(port) {
		return "", "", false
	}
	return proto, hostPort, true
}

func isIP(s string) bool { return net.ParseIP(s) != nil }

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 1<<16 && strconv.Itoa(n) == s
}

// nearest is the known variable closest to name by edit distance, "" when none is close
// enough to be a likely typo: one edit per five characters after the prefix, at least
// one and at most three.
func nearest(name string, known map[string]string) string {
	best, bestD := "", -1
	for k := range known {
		d := editDistance(name, k)
		if bestD < 0 || d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if bestD < 0 || bestD > max(1, min(3, (len(name)-len(EnvPrefix))/5)) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (ASCII names).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Strict reports whether src makes an unknown FANOUT_* variable an error: its
// StrictEnv, FANOUT_STRICT_ENV in its environment, or strict_env in its file. For a
// caller that loads one environment in several parts and wants them to agree.
func Strict(src Sources) (bool, error) {
	k := koanf.New(".")
	if src.File != "" {
		if err := k.Load(file.Provider(src.File), yaml.Parser()); err != nil {
			return false, fmt.Errorf("config: reading %s: %w", src.File, err)
		}
	}
	return strictSetting(k, src)
}

// strictSetting is Strict for a file already loaded into k.
func strictSetting(k *koanf.Koanf, src Sources) (bool, error) {
	strict := src.StrictEnv
	if k.Exists(strictEnvKey) {
		v, err := parseBool(k.Get(strictEnvKey))
		if err != nil {
			return false, fmt.Errorf("config: %s in %s: %w", strictEnvKey, src.File, err)
		}
		strict = strict || v
	}
	for _, kv := range src.Environ {
		if name, value, _ := strings.Cut(kv, "="); name == EnvName(strictEnvKey) {
			v, err := parseBool(value)
			if err != nil {
				return false, fmt.Errorf("config: %s: %w", name, err)
			}
			strict = strict || v
		}
	}
	return strict, nil
}

// parseBool reads a boolean setting given as YAML (a bool) or text.
func parseBool(v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		p, err := strconv.ParseBool(strings.TrimSpace(b))
		if err != nil {
			return false, fmt.Errorf("want true or false, got %q", b)
		}
		return p, nil
	}
	return false, fmt.Errorf("want true or false, got %v", v)
}
