package searchemu

import (
	"strconv"
	"strings"
	"time"
)

// defaultDateFormat is the format of date fields that do not name one.
const defaultDateFormat = "strict_date_optional_time||epoch_millis"

// slashDateFormat is the mapping format of dynamically detected "yyyy/MM/dd" dates.
const slashDateFormat = "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd"

// parseDate parses s with a "||"-separated format list and returns epoch milliseconds.
// Formats the emulator does not know are accepted without validation (known=false).
func parseDate(format, s string) (ms int64, ok bool) {
	if format == "" {
		format = defaultDateFormat
	}
	for _, f := range strings.Split(format, "||") {
		if v, ok := parseDateOne(strings.TrimSpace(f), s); ok {
			return v, true
		}
	}
	return 0, false
}

// dateFormatKnown reports whether every format in the list is one parseDate implements, so
// that a failure to parse is a real failure.
func dateFormatKnown(format string) bool {
	if format == "" {
		return true
	}
	for _, f := range strings.Split(format, "||") {
		f = strings.TrimSpace(f)
		if _, ok := namedDateFormats[f]; ok {
			continue
		}
		if !patternSupported(f) {
			return false
		}
	}
	return true
}

var namedDateFormats = map[string]string{
	"strict_date_optional_time":       "",
	"date_optional_time":              "",
	"strict_date_optional_time_nanos": "",
	"strict_date_time":                "",
	"date_time":                       "",
	"strict_date_time_no_millis":      "",
	"date_time_no_millis":             "",
	"epoch_millis":                    "",
	"epoch_second":                    "",
	"strict_date":                     "yyyy-MM-dd",
	"date":                            "yyyy-MM-dd",
	"strict_year_month_day":           "yyyy-MM-dd",
	"year_month_day":                  "yyyy-MM-dd",
	"strict_date_hour_minute_second":  "yyyy-MM-dd'T'HH:mm:ss",
	"date_hour_minute_second":         "yyyy-MM-dd'T'HH:mm:ss",
	"strict_date_hour_minute":         "yyyy-MM-dd'T'HH:mm",
	"date_hour_minute":                "yyyy-MM-dd'T'HH:mm",
	"basic_date":                      "yyyyMMdd",
	"strict_year":                     "yyyy",
	"year":                            "yyyy",
	"strict_year_month":               "yyyy-MM",
	"year_month":                      "yyyy-MM",
}

func parseDateOne(f, s string) (int64, bool) {
	switch f {
	case "strict_date_optional_time", "date_optional_time", "strict_date_optional_time_nanos",
		"strict_date_time", "date_time", "strict_date_time_no_millis", "date_time_no_millis":
		return parseISODate(s)
	case "epoch_millis":
		return parseEpoch(s, 1)
	case "epoch_second":
		return parseEpoch(s, 1000)
	}
	if p, ok := namedDateFormats[f]; ok && p != "" {
		f = p
	}
	return parsePattern(f, s)
}

func parseEpoch(s string, mult float64) (int64, bool) {
	if s == "" {
		return 0, false
	}
	i := 0
	if s[0] == '-' {
		i++
	}
	digits := 0
	dot := false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' && !dot {
			dot = true
			continue
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		digits++
	}
	if digits == 0 || digits > 25 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return int64(f * mult), true
}

// parseISODate implements strict_date_optional_time:
// yyyy[-MM[-dd[THH[:mm[:ss[.fraction]]][zone]]]].
func parseISODate(s string) (int64, bool) {
	t, ok := parseISOTime(s)
	if !ok {
		return 0, false
	}
	return t.UnixMilli(), true
}

// parseISOTime is parseISODate keeping the full (nanosecond) precision.
func parseISOTime(s string) (time.Time, bool) {
	t, _, ok := parseISOTimeUnit(s)
	return t, ok
}

// isoUnit is the smallest component an ISO date gives, which decides where rounding up
// lands (a date with a fraction is exact).
type isoUnit uint8

const (
	unitYear isoUnit = iota
	unitMonth
	unitDay
	unitHour
	unitMinute
	unitSecond
	unitFraction
)

func parseISOTimeUnit(s string) (time.Time, isoUnit, bool) {
	p := 0
	unit := unitYear
	num := func(n int) (int, bool) {
		if p+n > len(s) {
			return 0, false
		}
		v := 0
		for i := 0; i < n; i++ {
			c := s[p+i]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		p += n
		return v, true
	}
	year, ok := num(4)
	if !ok {
		return time.Time{}, 0, false
	}
	month, day, hour, minute, sec, nanos := 1, 1, 0, 0, 0, 0
	loc := time.UTC
	if p < len(s) && s[p] == '-' {
		p++
		if month, ok = num(2); !ok {
			return time.Time{}, 0, false
		}
		unit = unitMonth
		if p < len(s) && s[p] == '-' {
			p++
			if day, ok = num(2); !ok {
				return time.Time{}, 0, false
			}
			unit = unitDay
			if p < len(s) && s[p] == 'T' {
				p++
				if p < len(s) && s[p] >= '0' && s[p] <= '9' {
					if hour, ok = num(2); !ok {
						return time.Time{}, 0, false
					}
					unit = unitHour
					if p < len(s) && s[p] == ':' {
						p++
						if minute, ok = num(2); !ok {
							return time.Time{}, 0, false
						}
						unit = unitMinute
						if p < len(s) && s[p] == ':' {
							p++
							if sec, ok = num(2); !ok {
								return time.Time{}, 0, false
							}
							unit = unitSecond
							if p < len(s) && (s[p] == '.' || s[p] == ',') {
								p++
								n := 0
								for p < len(s) && s[p] >= '0' && s[p] <= '9' && n < 9 {
									nanos = nanos*10 + int(s[p]-'0')
									p++
									n++
								}
								if n == 0 {
									return time.Time{}, 0, false
								}
								unit = unitFraction
								for k := n; k < 9; k++ {
									nanos *= 10
								}
							}
						}
					}
				}
				if p < len(s) {
					l, n, ok := parseZone(s[p:])
					if !ok {
						return time.Time{}, 0, false
					}
					loc = l
					p += n
				}
			}
		}
	}
	if p != len(s) {
		return time.Time{}, 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, 0, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nanos, loc), unit, true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseZone parses Z, ±HH, ±HHmm, ±HH:mm.
func parseZone(s string) (*time.Location, int, bool) {
	if s == "" {
		return nil, 0, false
	}
	if s[0] == 'Z' {
		return time.UTC, 1, true
	}
	if s[0] != '+' && s[0] != '-' {
		return nil, 0, false
	}
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	digits := func(t string) (int, bool) {
		if len(t) < 2 || t[0] < '0' || t[0] > '9' || t[1] < '0' || t[1] > '9' {
			return 0, false
		}
		return int(t[0]-'0')*10 + int(t[1]-'0'), true
	}
	h, ok := digits(s[1:])
	if !ok || h > 18 {
		return nil, 0, false
	}
	n := 3
	m := 0
	if len(s) > n && s[n] == ':' {
		if m, ok = digits(s[n+1:]); !ok {
			return nil, 0, false
		}
		n += 3
	} else if len(s) >= n+2 {
		if m, ok = digits(s[n:]); !ok {
			return nil, 0, false
		}
		n += 2
	}
	return time.FixedZone("", sign*(h*3600+m*60)), n, true
}

// patternSupported reports whether a Java DateTimeFormatter pattern uses only letters
// parsePattern understands.
func patternSupported(f string) bool {
	inQuote := false
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c == '\'' {
			inQuote = !inQuote
			continue
		}
		if inQuote {
			continue
		}
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			if !strings.ContainsRune("yuMdHmsSZX", rune(c)) {
				return false
			}
		}
	}
	return true
}

// parsePattern parses s with a small subset of Java DateTimeFormatter patterns.
func parsePattern(f, s string) (int64, bool) {
	if !patternSupported(f) {
		return 0, false
	}
	year, month, day, hour, minute, sec, nanos := 1970, 1, 1, 0, 0, 0, 0
	loc := time.UTC
	p := 0
	for i := 0; i < len(f); {
		c := f[i]
		if c == '\'' {
			j := strings.IndexByte(f[i+1:], '\'')
			if j < 0 {
				return 0, false
			}
			lit := f[i+1 : i+1+j]
			if !strings.HasPrefix(s[p:], lit) {
				return 0, false
			}
			p += len(lit)
			i += j + 2
			continue
		}
		n := 1
		for i+n < len(f) && f[i+n] == c {
			n++
		}
		isLetter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !isLetter {
			if p >= len(s) || s[p] != c {
				return 0, false
			}
			p++
			i++
			continue
		}
		i += n
		if c == 'Z' || c == 'X' {
			l, k, ok := parseZone(s[p:])
			if !ok {
				return 0, false
			}
			loc = l
			p += k
			continue
		}
		// numeric field: exactly n digits when n>1 (strict), 1-2 digits when n==1
		minD, maxD := n, n
		if n == 1 {
			minD, maxD = 1, 2
		}
		if c == 'S' {
			minD, maxD = 1, 9
		}
		if (c == 'y' || c == 'u') && n == 4 {
			minD, maxD = 4, 9
		}
		k := 0
		v := 0
		for k < maxD && p+k < len(s) && s[p+k] >= '0' && s[p+k] <= '9' {
			v = v*10 + int(s[p+k]-'0')
			k++
		}
		if k < minD {
			return 0, false
		}
		switch c {
		case 'y', 'u':
			year = v
			if n == 2 {
				year = 2000 + v
			}
		case 'M':
			month = v
		case 'd':
			day = v
		case 'H':
			hour = v
		case 'm':
			minute = v
		case 's':
			sec = v
		case 'S':
			nanos = v
			for d := k; d < 9; d++ {
				nanos *= 10
			}
		}
		p += k
	}
	if p != len(s) {
		return 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nanos, loc).UnixMilli(), true
}

// parseDateMath resolves "now" expressions (now, now-1d, now/d, now+2h/h) against now.
func parseDateMath(s string, now time.Time) (int64, bool) {
	if !strings.HasPrefix(s, "now") {
		return 0, false
	}
	t := now.UTC()
	rest := s[3:]
	for rest != "" {
		op := rest[0]
		rest = rest[1:]
		switch op {
		case '+', '-':
			i := 0
			for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
				i++
			}
			n := 1
			if i > 0 {
				n, _ = strconv.Atoi(rest[:i])
			}
			if i >= len(rest) {
				return 0, false
			}
			unit := rest[i]
			rest = rest[i+1:]
			if op == '-' {
				n = -n
			}
			switch unit {
			case 'y':
				t = t.AddDate(n, 0, 0)
			case 'M':
				t = t.AddDate(0, n, 0)
			case 'w':
				t = t.AddDate(0, 0, 7*n)
			case 'd':
				t = t.AddDate(0, 0, n)
			case 'h', 'H':
				t = t.Add(time.Duration(n) * time.Hour)
			case 'm':
				t = t.Add(time.Duration(n) * time.Minute)
			case 's':
				t = t.Add(time.Duration(n) * time.Second)
			default:
				return 0, false
			}
		case '/':
			if rest == "" {
				return 0, false
			}
			unit := rest[0]
			rest = rest[1:]
			y, mo, d := t.Date()
			switch unit {
			case 'y':
				t = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
			case 'M':
				t = time.Date(y, mo, 1, 0, 0, 0, 0, time.UTC)
			case 'w':
				wd := (int(t.Weekday()) + 6) % 7
				t = time.Date(y, mo, d-wd, 0, 0, 0, 0, time.UTC)
			case 'd':
				t = time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
			case 'h', 'H':
				t = t.Truncate(time.Hour)
			case 'm':
				t = t.Truncate(time.Minute)
			case 's':
				t = t.Truncate(time.Second)
			default:
				return 0, false
			}
		default:
			return 0, false
		}
	}
	return t.UnixMilli(), true
}
