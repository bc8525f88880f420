// Package config loads a service's configuration with koanf, in increasing precedence:
// the defaults in the struct it fills, a YAML file, FANOUT_* environment variables, and
// command-line flags. An unknown key in the file or the flags is an error that names it,
// so that a typo never silently falls back to a default. An unknown FANOUT_* variable is
// a warning that suggests the nearest key (an error when strict), because a process's
// environment is not all its own: Kubernetes service links, which are ignored, and a
// caller's variables end up there too (env.go).
//
// A configuration is a struct with `koanf:"name"` tags on every field; nested structs
// nest keys ("kafka.brokers"). A field tagged `secret:"true"` is redacted by Print, and
// so is the userinfo of any URL ("https://user:pw@host").
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment variable that configures fanout.
const EnvPrefix = "FANOUT_"

// Sources say where configuration comes from besides the defaults.
type Sources struct {
	// File is a YAML file; "" for none.
	File string
	// Environ is the process environment ("KEY=value" entries), usually os.Environ().
	// A variable starting with EnvPrefix names a key: FANOUT_KAFKA_BROKERS sets
	// kafka.brokers. Lists are comma-separated. One that names no key is ignored with a
	// warning (an error with StrictEnv), and one shaped like a Kubernetes service link
	// is ignored silently (see env.go).
	Environ []string
	// StrictEnv makes a FANOUT_* variable that names no key an error. The file key
	// strict_env and the variable FANOUT_STRICT_ENV turn it on too.
	StrictEnv bool
	// Flags maps keys to values given on the command line; they win over everything.
	Flags map[string]any
}

// Load fills dst, a pointer to a configuration struct whose current values are the
// defaults, from src. The warnings are environment variables it ignored, which the
// caller shows (Command prints them on stderr and in --print-config).
func Load(dst any, src Sources) ([]Warning, error) {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: Load needs a pointer to a struct, got %T", dst)
	}
	keys := Keys(dst)

	k := koanf.New(".")
	if err := k.Load(structs.Provider(rv.Elem().Interface(), "koanf"), nil); err != nil {
		return nil, fmt.Errorf("config: loading defaults: %w", err)
	}
	if src.File != "" {
		if err := k.Load(file.Provider(src.File), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config: reading %s: %w", src.File, err)
		}
	}
	strict, err := strictSetting(k, src)
	if err != nil {
		return nil, err
	}
	// strict_env is about how this configuration is read, not part of it.
	k.Delete(strictEnvKey)
	env, warnings, err := fromEnv(src.Environ, keys, strict)
	if err != nil {
		return nil, err
	}
	if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
		return nil, fmt.Errorf("config: loading environment: %w", err)
	}
	for key := range src.Flags {
		if _, ok := keys[key]; !ok {
			return nil, fmt.Errorf("config: unknown flag key %q", key)
		}
	}
	if err := k.Load(confmap.Provider(src.Flags, "."), nil); err != nil {
		return nil, fmt.Errorf("config: loading flags: %w", err)
	}

	// Decode into a zero value: merging onto the defaults field by field would keep the
	// tail of a default list that a shorter configured list replaces.
	fresh := reflect.New(rv.Elem().Type())
	var md mapstructure.Metadata
	err = k.UnmarshalWithConf("", fresh.Interface(), koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.StringToSliceHookFunc(","),
				mapstructure.TextUnmarshallerHookFunc()),
			Metadata:         &md,
			ErrorUnused:      true,
			WeaklyTypedInput: true,
			TagName:          "koanf",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("config: %w", cleanDecodeError(err, rv.Elem().Type().String()))
	}
	rv.Elem().Set(fresh.Elem())
	return warnings, nil
}

var invalidKeys = regexp.MustCompile(`has invalid keys: (.*)`)

// cleanDecodeError turns mapstructure's "has invalid keys: a, b" (relative to a parent) into
// "unknown keys: a, b" (with full paths, which mapstructure names relative to the parent).
// root is the Go type decoded into: mapstructure from v2.5.0 names the top level by it
// ("config.Config has invalid keys: listn") where v2.4.0 left it empty, and a module
// elsewhere in the workspace may bring either.
func cleanDecodeError(err error, root string) error {
	var msgs []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasPrefix(line, "decoding failed") || strings.HasSuffix(line, "error(s) decoding:") {
			continue
		}
		if m := invalidKeys.FindStringSubmatch(line); m != nil {
			parent := strings.Trim(strings.SplitN(line, " ", 2)[0], "'")
			if parent == root {
				parent = ""
			}
			var full []string
			for _, k := range strings.Split(m[1], ", ") {
				if parent != "" {
					k = parent + "." + k
				}
				full = append(full, k)
			}
			line = "unknown key " + strings.Join(full, ", ")
		}
		msgs = append(msgs, line)
	}
	if len(msgs) == 0 {
		return err
	}
	return errors.New(strings.Join(msgs, "; "))
}

// EnvName is the environment variable that sets key: "kafka.publish_timeout" is
// FANOUT_KAFKA_PUBLISH_TIMEOUT.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Keys lists the leaf keys of a configuration struct with their types.
func Keys(cfg any) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	walk(reflect.TypeOf(cfg), "", func(key string, f reflect.StructField) {
		out[key] = f.Type
	})
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

func walk(t reflect.Type, prefix string, leaf func(string, reflect.StructField)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			walk(f.Type, key, leaf)
			continue
		}
		leaf(key, f)
	}
}

// Print writes cfg as YAML with secrets redacted: what --print-config shows. Fields
// tagged secret are replaced by Redacted, and so is the userinfo of every URL
// (RedactURL). The warnings come first, as YAML comments, so that the output still
// loads as a configuration file.
func Print(w io.Writer, cfg any, warnings ...Warning) error {
	m := toMap(reflect.ValueOf(cfg))
	b, err := yaml.Parser().Marshal(m)
	if err != nil {
		return fmt.Errorf("config: rendering: %w", err)
	}
	var head strings.Builder
	for _, wr := range warnings {
		head.WriteString("# WARNING " + strings.ReplaceAll(wr.String(), "\n", " ") + "\n")
	}
	_, err = io.WriteString(w, head.String()+string(b))
	return err
}

// Redacted replaces a set secret in printed configuration.
const Redacted = "REDACTED"

func toMap(v reflect.Value) map[string]any {
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	t := v.Type()
	out := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		switch {
		case f.Tag.Get("secret") == "true":
			if fv.IsZero() {
				out[name] = ""
			} else {
				out[name] = Redacted
			}
		case f.Type == durationType:
			out[name] = time.Duration(fv.Int()).String()
		case f.Type.Kind() == reflect.Struct:
			out[name] = toMap(fv)
		case f.Type.Kind() == reflect.String:
			out[name] = redactIfURL(fv.String())
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String && !fv.IsNil():
			items := make([]string, fv.Len())
			for i := range items {
				items[i] = redactIfURL(fv.Index(i).String())
			}
			out[name] = items
		default:
			out[name] = fv.Interface()
		}
	}
	return out
}

// redactIfURL redacts the userinfo of a value that is a URL; other values, which may
// hold an '@' for reasons of their own, are left alone.
func redactIfURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return RedactURL(s)
}

// SecretValue returns value, or the trimmed contents of file when value is empty and a
// file is named: credentials come from env, a mounted secret file, or the config file.
func SecretValue(value, file string) (string, error) {
	if value != "" || file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SortedKeys returns the keys of a configuration, sorted: for documentation and help.
func SortedKeys(cfg any) []string {
	keys := Keys(cfg)
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
