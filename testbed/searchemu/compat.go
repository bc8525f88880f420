package searchemu

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Elasticsearch 8's REST API compatibility (elastic/elasticsearch
// server/src/main/java/org/elasticsearch/rest/RestRequest.java, RestCompatibleVersionHelper.java,
// libs/x-content/.../ParsedMediaType.java): Accept and Content-Type may name
// application/vnd.elasticsearch+json (or +x-ndjson, +yaml, +smile, +cbor) with a
// compatible-with parameter; 8 is the current REST API version and 7 the one compatible
// version. The other flavours know no vendor media types: OpenSearch's
// XContentType.fromMediaType and Elasticsearch 7.10's refuse them as unsupported.

const vndPrefix = "application/vnd.elasticsearch+"

// mediaType is a parsed Accept or Content-Type value (ParsedMediaType).
type mediaType struct {
	original      string
	typ, sub      string
	params        map[string]string
	paramOrder    []string
	compatVersion string // the compatible-with parameter, "" if absent
}

var tcharRe = regexp.MustCompile(`^[a-zA-Z0-9!#$%&'*+\-.^_` + "`" + `|~]+$`)
var paramSplitRe = regexp.MustCompile(`[\s\t]*;`)

// parseMediaType is ParsedMediaType.parseMediaType: media ranges ("a, b") and */* count
// as absent (nil, nil).
func parseMediaType(v string) (*mediaType, *esError) {
	if strings.Contains(v, ",") || v == "*/*" {
		return nil, nil
	}
	elems := paramSplitRe.Split(strings.ToLower(v), -1)
	ts := strings.Split(elems[0], "/")
	if len(ts) != 2 || !tcharRe.MatchString(strings.TrimSpace(ts[0])) || !tcharRe.MatchString(strings.TrimSpace(ts[1])) {
		return nil, errIllegalArg("invalid media-type [" + v + "]")
	}
	mt := &mediaType{original: v, typ: strings.TrimSpace(ts[0]), sub: strings.TrimSpace(ts[1]), params: map[string]string{}}
	for _, p := range elems[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		kv := strings.Split(p, "=")
		if len(kv) != 2 || kv[0] == "" || kv[1] == "" || kv[0] != strings.TrimRight(kv[0], " \t") || kv[1] != strings.TrimLeft(kv[1], " \t") {
			return nil, errIllegalArg("invalid parameters for header [" + v + "]")
		}
		k, val := strings.TrimSpace(kv[0]), strings.TrimSpace(kv[1])
		if _, dup := mt.params[k]; !dup {
			mt.paramOrder = append(mt.paramOrder, k)
		}
		mt.params[k] = val
	}
	mt.compatVersion = mt.params["compatible-with"]
	return mt, nil
}

// base is the media type without parameters, vendor types mapped to the plain ones
// (XContentType.VND_JSON reads as JSON, and so on).
func (m *mediaType) base() string {
	full := m.typ + "/" + m.sub
	if rest, ok := strings.CutPrefix(full, vndPrefix); ok {
		switch rest {
		case "json":
			return "application/json"
		case "x-ndjson":
			return "application/x-ndjson"
		case "yaml":
			return "application/yaml"
		case "smile":
			return "application/smile"
		case "cbor":
			return "application/cbor"
		}
	}
	return full
}

func (m *mediaType) vendor() bool { return strings.HasPrefix(m.typ+"/"+m.sub, vndPrefix) }

// headerMediaType is RestRequest.parseHeaderWithMediaType.
func headerMediaType(h http.Header, name string) (*mediaType, *esError) {
	vs := h.Values(name)
	switch {
	case len(vs) == 0:
		return nil, nil
	case len(vs) > 1:
		return nil, errIllegalArg("Incorrect header [" + name + "]. Only one value should be provided")
	case strings.TrimSpace(vs[0]) == "":
		return nil, errIllegalArg("Header [" + name + "] cannot be empty.")
	}
	return parseMediaType(vs[0])
}

// es8Negotiation is what the media type headers of one request decided.
type es8Negotiation struct {
	accept, content *mediaType
}

// errMediaTypeHeader is RestRequest.MediaTypeHeaderException as RestController's
// dispatchBadRequest renders it: 400, the cause below it. Its header list is a Set.of,
// whose iteration order the JVM randomises; the emulator names them in request order.
func errMediaTypeHeader(cause *esError, headers ...string) *esError {
	e := newErr(400, "media_type_header_exception", "Invalid media-type value on headers ["+strings.Join(headers, ", ")+"]", false)
	e.cause = cause
	return e
}

// negotiateES8 validates the Accept and Content-Type headers as an Elasticsearch 8 node
// does before it routes the request.
func negotiateES8(h http.Header, hasContent bool) (*es8Negotiation, *esError) {
	accept, err := headerMediaType(h, "Accept")
	if err != nil {
		return nil, errMediaTypeHeader(err, "Accept")
	}
	content, err := headerMediaType(h, "Content-Type")
	if err != nil {
		return nil, errMediaTypeHeader(err, "Content-Type")
	}
	if err := compatibleVersion(accept, content, hasContent); err != nil {
		return nil, errMediaTypeHeader(err, "Accept", "Content-Type")
	}
	return &es8Negotiation{accept: accept, content: content}, nil
}

const (
	restAPICurrent = 8
	restAPIMinimum = 7
)

// compatibleVersion is RestCompatibleVersionHelper.getCompatibleVersion.
func compatibleVersion(accept, content *mediaType, hasContent bool) *esError {
	parse := func(m *mediaType) (int, bool, *esError) {
		if m == nil || m.compatVersion == "" {
			return restAPICurrent, false, nil
		}
		n, err := strconv.ParseInt(m.compatVersion, 10, 8) // Byte.parseByte
		if err != nil {
			return 0, false, newErr(400, typeNumberFormat, `For input string: "`+m.compatVersion+`"`, false)
		}
		return int(n), true, nil
	}
	av, aSet, err := parse(accept)
	if err != nil {
		return err
	}
	cv, cSet, err := parse(content)
	if err != nil {
		return err
	}
	status := func(msg string) *esError { return newErr(400, "status_exception", msg, true) }
	str := func(m *mediaType) string {
		if m == nil {
			return "null"
		}
		return m.original
	}
	if av > restAPICurrent || av < restAPIMinimum {
		return status("Accept version must be either version 8 or 7, but found " + strconv.Itoa(av) + ". Accept=" + str(accept))
	}
	if hasContent {
		if cv > restAPICurrent || cv < restAPIMinimum {
			return status("Content-Type version must be either version 8 or 7, but found " + strconv.Itoa(cv) + ". Content-Type=" + str(content))
		}
		if cv != av {
			return status("A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version and the compatible versions must match. Accept=" + str(accept) + ", Content-Type=" + str(content))
		}
		if aSet != cSet {
			return status("A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version. Accept=" + str(accept) + ", Content-Type=" + str(content))
		}
	}
	return nil
}

// responseType is the Content-Type an Elasticsearch 8 node answers a JSON body with
// (AbstractRestChannel.newBuilder): the Accept header's type when it names JSON, else the
// request body's, else application/json; the parameters are the Accept header's.
func (n *es8Negotiation) responseType() string {
	pick := func(m *mediaType) string {
		if m == nil {
			return ""
		}
		switch m.base() {
		case "application/json", "application/x-ndjson":
			if m.vendor() {
				return vndPrefix + "json"
			}
			return "application/json"
		}
		return ""
	}
	t := pick(n.accept)
	if t == "" {
		t = pick(n.content)
	}
	if t == "" {
		t = "application/json"
	}
	if n.accept != nil {
		for _, k := range n.accept.paramOrder {
			t += ";" + k + "=" + n.accept.params[k]
		}
	}
	return t
}
