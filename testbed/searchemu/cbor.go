package searchemu

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// The server accepts CBOR request bodies (XContentType.CBOR, Jackson's CBORParser). It
// stores a document's source as sent and converts it when it is read in another content
// type, through XContentBuilder.copyCurrentStructure; the emulator converts the body to
// JSON as it arrives, the way that copy renders it: map keys in document order (integer
// keys as their decimal text, as CBORParser names them), half and single floats as
// Java's Float.toString, doubles as Double.toString, byte strings in base64 (Jackson's
// writeBinary), integers beyond a long as their decimal literal. Tags, undefined, NaN and
// the infinities answer 400: the emulator does not model what Jackson makes of them.

var errCBORTruncated = errors.New("unexpected end of CBOR content")

// cborToJSON converts one CBOR data item to compact JSON.
func cborToJSON(src []byte) ([]byte, error) {
	d := cborDecoder{b: src}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.pos != len(d.b) {
		return nil, errors.New("[searchemu] CBOR bodies with more than one data item are not supported")
	}
	return appendCanonicalRaw(nil, v), nil
}

type cborDecoder struct {
	b   []byte
	pos int
}

const cborBreak = 0xff

// head reads an item's initial byte and argument; indefinite reports additional info 31.
func (d *cborDecoder) head() (major byte, info byte, arg uint64, indefinite bool, err error) {
	if d.pos >= len(d.b) {
		return 0, 0, 0, false, errCBORTruncated
	}
	ib := d.b[d.pos]
	d.pos++
	major, info = ib>>5, ib&0x1f
	switch {
	case info < 24:
		return major, info, uint64(info), false, nil
	case info == 31:
		return major, info, 0, true, nil
	case info > 27:
		return 0, 0, 0, false, errors.New("malformed CBOR: reserved additional information " + strconv.Itoa(int(info)))
	}
	n := 1 << (info - 24) // 1, 2, 4 or 8 bytes
	if d.pos+n > len(d.b) {
		return 0, 0, 0, false, errCBORTruncated
	}
	p := d.b[d.pos : d.pos+n]
	d.pos += n
	switch n {
	case 1:
		arg = uint64(p[0])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(p))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(p))
	default:
		arg = binary.BigEndian.Uint64(p)
	}
	return major, info, arg, false, nil
}

func (d *cborDecoder) value(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("CBOR content nested too deeply")
	}
	major, info, arg, indef, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case 0:
		return jsonNum{raw: strconv.FormatUint(arg, 10)}, nil
	case 1:
		if arg < math.MaxInt64 {
			return jsonNum{raw: strconv.FormatInt(-1-int64(arg), 10)}, nil
		}
		// -1-arg below the long range: a BigInteger
		return jsonNum{raw: "-" + bigNeg(arg)}, nil
	case 2, 3:
		s, err := d.str(major, arg, indef)
		if err != nil {
			return nil, err
		}
		if major == 2 {
			return base64.StdEncoding.EncodeToString(s), nil
		}
		if !utf8.Valid(s) {
			return nil, errors.New("invalid UTF-8 in a CBOR text string")
		}
		return string(s), nil
	case 4:
		var out []any
		for i := uint64(0); indef || i < arg; i++ {
			if indef && d.pos < len(d.b) && d.b[d.pos] == cborBreak {
				d.pos++
				break
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	case 5:
		o := &jsonObj{}
		for i := uint64(0); indef || i < arg; i++ {
			if indef && d.pos < len(d.b) && d.b[d.pos] == cborBreak {
				d.pos++
				break
			}
			k, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			var key string
			switch kk := k.(type) {
			case string:
				key = kk
			case jsonNum:
				key = kk.raw
			default:
				return nil, errors.New("[searchemu] CBOR map keys other than text strings and integers are not supported")
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			o.m = append(o.m, jsonMember{k: key, v: v})
		}
		return o, nil
	case 6:
		return nil, errors.New("[searchemu] CBOR tags are not supported (tag " + strconv.FormatUint(arg, 10) + ")")
	}
	// major 7: simple values and floats
	switch info {
	case 20:
		return false, nil
	case 21:
		return true, nil
	case 22:
		return nil, nil
	case 25:
		return floatNum(float64(halfToFloat(uint16(arg))), true)
	case 26:
		return floatNum(float64(math.Float32frombits(uint32(arg))), true)
	case 27:
		return floatNum(math.Float64frombits(arg), false)
	case 31:
		return nil, errors.New("malformed CBOR: unexpected break")
	}
	return nil, errors.New("[searchemu] CBOR simple value " + strconv.FormatUint(arg, 10) + " is not supported")
}

// bigNeg renders 1+arg (the magnitude of -1-arg) for arg at or past MaxInt64.
func bigNeg(arg uint64) string {
	if arg == math.MaxUint64 {
		return "18446744073709551616"
	}
	return strconv.FormatUint(arg+1, 10)
}

func floatNum(f float64, single bool) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errors.New("[searchemu] CBOR NaN and infinite floats are not supported")
	}
	if single {
		return jsonNum{raw: javaFloat(float32(f)), float: true}, nil
	}
	return jsonNum{raw: javaDouble(f), float: true}, nil
}

// str reads a byte or text string, definite or made of definite chunks.
func (d *cborDecoder) str(major byte, n uint64, indef bool) ([]byte, error) {
	if !indef {
		if n > uint64(len(d.b)-d.pos) {
			return nil, errCBORTruncated
		}
		s := d.b[d.pos : d.pos+int(n)]
		d.pos += int(n)
		return s, nil
	}
	var out []byte
	for {
		if d.pos >= len(d.b) {
			return nil, errCBORTruncated
		}
		if d.b[d.pos] == cborBreak {
			d.pos++
			return out, nil
		}
		m, _, cn, cindef, err := d.head()
		if err != nil {
			return nil, err
		}
		if m != major || cindef {
			return nil, errors.New("malformed CBOR: bad chunk in an indefinite-length string")
		}
		c, err := d.str(major, cn, false)
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
}

// halfToFloat decodes an IEEE 754 half-precision float.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		f := float32(mant) / 1024 * float32(math.Pow(2, -14))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}
