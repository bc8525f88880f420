package searchemu

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// date_nanos fields index nanoseconds since the epoch (DateFieldMapper.Resolution
// .NANOSECONDS, DateUtils.toLong): term and range queries compare at that precision and
// sort values are those longs. Values before the epoch or after 2262-04-11T23:47:16.854775807
// cannot be stored.

// maxNanosTime is DateUtils.MAX_NANOSECOND_INSTANT.
var maxNanosTime = time.Unix(0, math.MaxInt64).UTC()

// defaultDateNanosFormat is DateFieldMapper.DEFAULT_DATE_TIME_NANOS_FORMATTER.
const defaultDateNanosFormat = "strict_date_optional_time_nanos||epoch_millis"

// parseDateTime parses s with a "||"-separated format list to an instant.
func parseDateTime(format, s string) (time.Time, bool) {
	if format == "" {
		format = defaultDateFormat
	}
	for _, f := range strings.Split(format, "||") {
		if t, ok := parseDateTimeOne(strings.TrimSpace(f), s); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

func parseDateTimeOne(f, s string) (time.Time, bool) {
	switch f {
	case "strict_date_optional_time", "date_optional_time", "strict_date_optional_time_nanos",
		"strict_date_time", "date_time", "strict_date_time_no_millis", "date_time_no_millis":
		return parseISOTime(s)
	case "epoch_millis":
		return parseEpochTime(s, 1e6)
	case "epoch_second":
		return parseEpochTime(s, 1e9)
	}
	ms, ok := parseDateOne(f, s)
	if !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// parseEpochTime reads an epoch count (with an optional fraction) in units of unitNanos.
func parseEpochTime(s string, unitNanos int64) (time.Time, bool) {
	if _, ok := parseEpoch(s, 1); !ok {
		return time.Time{}, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return time.Time{}, false
	}
	r.Mul(r, new(big.Rat).SetInt64(unitNanos))
	n := truncRat(r)
	sec, rem := new(big.Int).QuoRem(n, big.NewInt(1e9), new(big.Int))
	if !sec.IsInt64() {
		return time.Time{}, false
	}
	return time.Unix(sec.Int64(), rem.Int64()).UTC(), true
}

// nanosOf is DateUtils.toLong without the range check (callers check first).
func nanosOf(t time.Time) (int64, bool) {
	if t.Before(time.Unix(0, 0)) || t.After(maxNanosTime) {
		return 0, false
	}
	return t.UnixNano(), true
}

// toDateNanos converts a date_nanos value (source value, term value, range bound) to
// nanoseconds; numbers are epoch milliseconds, as the default format says.
func (ec *evalCtx) toDateNanos(m *mapper, v any) (int64, bool) {
	switch x := v.(type) {
	case jsonNum:
		t, ok := parseEpochTime(x.raw, 1e6)
		if !ok {
			return 0, false
		}
		return nanosOf(t)
	case string:
		if ms, ok := ec.dateMath(x); ok {
			return ms * 1e6, true
		}
		return parseDateNanos(m.format, x)
	}
	return 0, false
}

// parseDateNanos parses a date_nanos string with the field's format.
func parseDateNanos(format, s string) (int64, bool) {
	if format == "" {
		format = defaultDateNanosFormat
	}
	t, ok := parseDateTime(format, s)
	if !ok {
		return 0, false
	}
	return nanosOf(t)
}

// nanosRangeCause is DateUtils.toLong's refusal of an instant outside the nanosecond range.
func nanosRangeCause(t time.Time) *esError {
	if t.Before(time.Unix(0, 0)) {
		return errIllegalArg("date[" + javaInstant(t) + "] is before the epoch in 1970 and cannot be stored in nanosecond resolution")
	}
	if t.After(maxNanosTime) {
		return errIllegalArg("date[" + javaInstant(t) + "] is after 2262-04-11T23:47:16.854775807 and cannot be stored in nanosecond resolution")
	}
	return nil
}

// javaInstant is Instant.toString (DateTimeFormatter.ISO_INSTANT): seconds always, the
// fraction in groups of three digits as needed.
func javaInstant(t time.Time) string {
	t = t.UTC()
	b := []byte(t.Format("2006-01-02T15:04:05"))
	if ns := t.Nanosecond(); ns != 0 {
		digits := strconv.Itoa(ns + 1e9)[1:]
		switch {
		case ns%1e6 == 0:
			digits = digits[:3]
		case ns%1e3 == 0:
			digits = digits[:6]
		}
		b = append(b, '.')
		b = append(b, digits...)
	}
	return string(append(b, 'Z'))
}
