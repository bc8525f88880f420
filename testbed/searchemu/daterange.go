package searchemu

import (
	"strings"
	"time"
)

// Date term and range queries read each bound twice, as DateFieldType.dateRangeQuery
// does: rounded down (gte, lt) and rounded up (gt, lte), where rounding up fills the
// components a value leaves out with their maxima (JavaDateFormatter's
// ROUND_UP_BASE_FIELDS: hour 23, minute 59, second 59, nanosecond 999999999 — month and
// day stay 1), an epoch_millis value gains 999999 nanoseconds (EpochTime) and date math
// rounding ("now/d") ends one millisecond before the next unit (JavaDateMathParser). A
// term query is the range [down, up], so {"term":{"d":"2024-05-01"}} matches the whole
// day and "lte":"2024-05-01" includes it.

// dateQueryBounds returns a query value of a date field rounded down and up, in the
// field's resolution (milliseconds, or nanoseconds for date_nanos).
func (ec *evalCtx) dateQueryBounds(m *mapper, v any, format string) (lo, hi int64, ok bool) {
	var s string
	switch x := v.(type) {
	case jsonNum:
		// numbers are read as their text, with the field's format
		s = x.raw
	case string:
		s = x
	default:
		return 0, 0, false
	}
	var down, up time.Time
	if strings.HasPrefix(s, "now") {
		ms, ok := ec.dateMath(s)
		if !ok {
			return 0, 0, false
		}
		down = time.UnixMilli(ms).UTC()
		up = dateMathUp(s, down)
	} else {
		if format == "" {
			format = m.format
		}
		if format == "" {
			format = defaultDateFormat
			if m.typ == "date_nanos" {
				format = defaultDateNanosFormat
			}
		}
		if _, isNum := v.(jsonNum); isNum && !strings.Contains(format, "epoch_") {
			format += "||epoch_millis"
		}
		down, up, ok = parseDateBounds(format, s)
		if !ok {
			return 0, 0, false
		}
	}
	if m.typ == "date_nanos" {
		lo, ok1 := nanosOf(down)
		hi, ok2 := nanosOf(up)
		return lo, hi, ok1 && ok2
	}
	return down.UnixMilli(), up.UnixMilli(), true
}

// parseDateBounds parses s with the first format of the list that accepts it.
func parseDateBounds(format, s string) (down, up time.Time, ok bool) {
	for _, f := range strings.Split(format, "||") {
		f = strings.TrimSpace(f)
		switch f {
		case "strict_date_optional_time", "date_optional_time", "strict_date_optional_time_nanos",
			"strict_date_time", "date_time", "strict_date_time_no_millis", "date_time_no_millis":
			t, unit, ok := parseISOTimeUnit(s)
			if !ok {
				continue
			}
			return t, roundUpISO(t, unit), true
		case "epoch_millis", "epoch_second":
			unitNanos, fill := int64(1e6), 999_999*time.Nanosecond
			if f == "epoch_second" {
				unitNanos, fill = 1e9, 999_999_999*time.Nanosecond
			}
			t, ok := parseEpochTime(s, unitNanos)
			if !ok {
				continue
			}
			if strings.Contains(s, ".") {
				return t, t, true
			}
			return t, t.Add(fill), true
		}
		if t, ok := parseDateTimeOne(f, s); ok {
			return t, t, true
		}
	}
	return time.Time{}, time.Time{}, false
}

// roundUpISO fills the components after unit with the round-up defaults.
func roundUpISO(t time.Time, unit isoUnit) time.Time {
	switch unit {
	case unitFraction:
		return t
	case unitSecond:
		return t.Add(time.Second - time.Nanosecond)
	case unitMinute:
		return t.Add(time.Minute - time.Nanosecond)
	case unitHour:
		return t.Add(time.Hour - time.Nanosecond)
	}
	// a date without a time: 23:59:59.999999999 of that day (of day 1 when only a
	// month or a year is given)
	return t.Add(24*time.Hour - time.Nanosecond)
}

// dateMathUp rounds a date math expression up: when it ends in a rounding ("/d"), to one
// millisecond before the next unit.
func dateMathUp(s string, down time.Time) time.Time {
	i := strings.LastIndexByte(s, '/')
	if i < 0 || i != len(s)-2 {
		return down
	}
	var next time.Time
	switch s[len(s)-1] {
	case 'y':
		next = down.AddDate(1, 0, 0)
	case 'M':
		next = down.AddDate(0, 1, 0)
	case 'w':
		next = down.AddDate(0, 0, 7)
	case 'd':
		next = down.AddDate(0, 0, 1)
	case 'h', 'H':
		next = down.Add(time.Hour)
	case 'm':
		next = down.Add(time.Minute)
	case 's':
		next = down.Add(time.Second)
	default:
		return down
	}
	return next.Add(-time.Millisecond)
}

// dateInRange evaluates a range query on a date field for one source value.
func (ec *evalCtx) dateInRange(f field, q *rangeQuery, sv any) bool {
	v, ok := ec.toDate(f.m, sv)
	if !ok {
		return false
	}
	bound := func(b any) (int64, int64, bool) { return ec.dateQueryBounds(f.m, b, q.format) }
	if q.gt != nil {
		_, hi, ok := bound(q.gt)
		if !ok || v <= hi {
			return false
		}
	}
	if q.gte != nil {
		lo, _, ok := bound(q.gte)
		if !ok || v < lo {
			return false
		}
	}
	if q.lt != nil {
		lo, _, ok := bound(q.lt)
		if !ok || v >= lo {
			return false
		}
	}
	if q.lte != nil {
		_, hi, ok := bound(q.lte)
		if !ok || v > hi {
			return false
		}
	}
	return true
}

// dateTermMatches is DateFieldType.termQuery: the range [value rounded down, rounded up].
func (ec *evalCtx) dateTermMatches(m *mapper, qv, sv any) bool {
	v, ok := ec.toDate(m, sv)
	if !ok {
		return false
	}
	lo, hi, ok := ec.dateQueryBounds(m, qv, "")
	return ok && lo <= v && v <= hi
}

// checkDateQuery is the refusal of a date query value the field's format cannot parse:
// JavaDateMathParser.parseDateTime's OpenSearchParseException around the formatter's
// IllegalArgumentException, wrapped "failed to create query: …" by QueryShardContext.
func checkDateQuery(ec *evalCtx, field string, values []any, format string) *esError {
	if strings.HasPrefix(field, "_") {
		return nil
	}
	m := ec.m.lookup(field)
	if m == nil || m.object || fieldKind(m.typ) != kindDate {
		return nil
	}
	if format == "" {
		format = m.format
	}
	if format == "" {
		format = defaultDateFormat
		if m.typ == "date_nanos" {
			format = defaultDateNanosFormat
		}
	}
	if !dateFormatKnown(format) {
		return nil
	}
	for _, v := range values {
		s, ok := v.(string)
		if !ok || strings.HasPrefix(s, "now") {
			continue
		}
		if s == "" {
			return failedToCreate(ec.ix, errParse("cannot parse empty date"))
		}
		if _, _, ok := parseDateBounds(format, s); ok {
			continue
		}
		inner := "Failed to parse with all enclosed parsers"
		if !strings.Contains(format, "||") {
			inner = "Text '" + s + "' could not be parsed at index 0"
		}
		cause := errIllegalArgCause("failed to parse date field ["+s+"] with format ["+format+"]", newErr(400, typeDateTimeParse, inner, false))
		pe := errParse("failed to parse date field [" + s + "] with format [" + format + "]: [" + cause.reason + "]")
		pe.cause = cause
		return failedToCreate(ec.ix, pe)
	}
	return nil
}
