package searchemu

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The server accepts YAML request bodies (XContentType.YAML, read with Jackson's YAML
// parser). The emulator parses them with yaml.v3 and converts the one document to JSON
// before handling the request, keeping key order. Plain scalars are typed the way
// Jackson's YAMLParser types them (true/false in three casings, null/~, decimal integers
// and floats; everything else, YAML 1.1's yes/no and 0x… included, is a string), not by
// yaml.v3's own resolver. Anchors, aliases and tags, and a second document, answer 400:
// the emulator does not model what Jackson makes of them.

// yamlToJSON converts a YAML document to compact JSON.
func yamlToJSON(src []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return []byte("null"), nil
		}
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, errors.New("[searchemu] YAML bodies with more than one document are not supported")
	}
	if len(doc.Content) == 0 {
		return []byte("null"), nil
	}
	v, err := yamlValue(doc.Content[0])
	if err != nil {
		return nil, err
	}
	return appendCanonicalRaw(nil, v), nil
}

// yamlValue converts one node to the emulator's JSON values (*jsonObj, []any, jsonNum,
// string, bool, nil).
func yamlValue(n *yaml.Node) (any, error) {
	if n.Anchor != "" || n.Kind == yaml.AliasNode || (n.Tag != "" && n.Style&yaml.TaggedStyle != 0) {
		return nil, errors.New("[searchemu] YAML anchors, aliases and tags are not supported (line " + strconv.Itoa(n.Line) + ")")
	}
	switch n.Kind {
	case yaml.MappingNode:
		o := &jsonObj{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := yamlKey(n.Content[i])
			if err != nil {
				return nil, err
			}
			v, err := yamlValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			o.m = append(o.m, jsonMember{k: k, v: v})
		}
		return o, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			return n.Value, nil
		}
		return plainYAMLScalar(n.Value), nil
	}
	return nil, errors.New("[searchemu] unsupported YAML node (line " + strconv.Itoa(n.Line) + ")")
}

// yamlKey returns a mapping key as a field name; only scalar keys make JSON field names.
func yamlKey(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Anchor != "" {
		return "", errors.New("[searchemu] unsupported YAML mapping key (line " + strconv.Itoa(n.Line) + ")")
	}
	return n.Value, nil
}

// plainYAMLScalar types an unquoted scalar as Jackson's YAMLParser does.
func plainYAMLScalar(s string) any {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE":
		return false
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return jsonNum{raw: strings.TrimPrefix(s, "+")}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXpP_") && !strings.EqualFold(strings.TrimLeft(s, "+-"), "inf") && !strings.EqualFold(strings.TrimLeft(s, "+-"), "infinity") && !strings.EqualFold(s, "nan") {
		return jsonNum{raw: javaDouble(f), float: true}
	}
	return s
}
