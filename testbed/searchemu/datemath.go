package searchemu

import (
	"strconv"
	"strings"
	"time"
)

// Date math index names ("<logs-{now/d}>"), resolved as OpenSearch's
// IndexNameExpressionResolver.DateMathExpressionResolver does (server/src/main/java/org/
// opensearch/cluster/metadata/IndexNameExpressionResolver.java): an expression wrapped in
// < > has its {math{format|zone}} placeholders replaced by the formatted instant, on the
// cluster clock (Options.Now). The resolver runs first in every resolution chain, so the
// rest of the emulator only ever sees the resolved names: reads (each comma-separated
// expression), writes and index creation (resolveDateMathExpression).

// resolveDateMathList resolves every comma-separated expression of a path's index part.
func (c *Cluster) resolveDateMathList(expr string) (string, *esError) {
	if !strings.Contains(expr, "<") {
		return expr, nil
	}
	parts := strings.Split(expr, ",")
	for i, p := range parts {
		r, err := resolveDateMath(p, c.now())
		if err != nil {
			return "", err
		}
		parts[i] = r
	}
	return strings.Join(parts, ","), nil
}

// resolveDateMath is DateMathExpressionResolver.resolveExpression.
func resolveDateMath(expr string, now time.Time) (string, *esError) {
	if !strings.HasPrefix(expr, "<") || !strings.HasSuffix(expr, ">") || len(expr) < 2 {
		return expr, nil
	}
	text := []rune(expr)
	// the server's messages quote new String(text, from, length): the expression from its
	// second character, one character longer than the inside (it keeps the closing '>')
	quoted := string(text[1:])
	var before, holder strings.Builder
	escape, inFormat, inHolder := false, false, false
	for i := 1; i < len(text)-1; i++ {
		escaped := escape
		escape = false
		ch := text[i]
		if ch == '\\' {
			if escaped {
				before.WriteRune(ch)
			} else {
				escape = true
			}
			continue
		}
		if inHolder {
			switch ch {
			case '{':
				switch {
				case inFormat && escaped:
					holder.WriteRune(ch)
				case !inFormat:
					inFormat = true
					holder.WriteRune(ch)
				default:
					return "", errParse("invalid dynamic name expression [" + quoted + "]. invalid character in placeholder at position [" + strconv.Itoa(i) + "]")
				}
			case '}':
				switch {
				case inFormat && escaped:
					holder.WriteRune(ch)
				case inFormat:
					inFormat = false
					holder.WriteRune(ch)
				default:
					s, err := formatPlaceholder(holder.String(), now)
					if err != nil {
						return "", err
					}
					before.WriteString(s)
					holder.Reset()
					inHolder = false
				}
			default:
				holder.WriteRune(ch)
			}
			continue
		}
		switch ch {
		case '{':
			if escaped {
				before.WriteRune(ch)
			} else {
				inHolder = true
			}
		case '}':
			if !escaped {
				return "", errParse("invalid dynamic name expression [" + quoted + "]. invalid character at position [" + strconv.Itoa(i) + "]. `{` and `}` are reserved characters and should be escaped when used as part of the index name using `\\` (e.g. `\\{text\\}`)")
			}
			before.WriteRune(ch)
		default:
			before.WriteRune(ch)
		}
	}
	if inHolder {
		return "", errParse("invalid dynamic name expression [" + quoted + "]. date math placeholder is open ended")
	}
	if before.Len() == 0 {
		return "", errParse("nothing captured")
	}
	return before.String(), nil
}

// formatPlaceholder evaluates one placeholder: math, then an optional {format|zone}.
func formatPlaceholder(s string, now time.Time) (string, *esError) {
	math, pattern, loc := s, "uuuu.MM.dd", time.UTC
	if i := strings.IndexByte(s, '{'); i >= 0 {
		if strings.LastIndexByte(s, '}') != len(s)-1 {
			return "", errParse("invalid dynamic name expression [" + s + "]. missing closing `}` for date math format")
		}
		if i == len(s)-2 {
			return "", errParse("invalid dynamic name expression [" + s + "]. missing date format")
		}
		math = s[:i]
		pattern = s[i+1 : len(s)-1]
		if j := strings.IndexByte(pattern, '|'); j >= 0 {
			z, err := zoneID(pattern[j+1:])
			if err != nil {
				return "", err
			}
			loc = z
			pattern = pattern[:j]
		}
	}
	t, err := dateMathInZone(math, now, loc)
	if err != nil {
		return "", err
	}
	return formatJavaPattern(pattern, t)
}

// zoneID is DateUtils.of / ZoneId.of for offsets (Z, +h, +hh, +hh:mm, +hhmm), UTC/GMT
// and region ids.
func zoneID(id string) (*time.Location, *esError) {
	switch id {
	case "Z", "UTC", "GMT", "UT":
		return time.UTC, nil
	}
	if id != "" && (id[0] == '+' || id[0] == '-') {
		s := id
		if len(s) == 2 { // +h
			s = s[:1] + "0" + s[1:]
		}
		if loc, n, ok := parseZone(s); ok && n == len(s) {
			return loc, nil
		}
		return nil, errIllegalArg("Invalid ID for ZoneOffset, invalid format: " + id)
	}
	loc, err := time.LoadLocation(id)
	if err != nil || strings.HasPrefix(id, "Local") {
		return nil, errIllegalArg("Unknown time-zone ID: " + id)
	}
	return loc, nil
}

// dateMathInZone is JavaDateMathParser.parse for expressions anchored on now: the
// arithmetic and rounding happen in the placeholder's time zone (roundUp false).
func dateMathInZone(math string, now time.Time, loc *time.Location) (time.Time, *esError) {
	if !strings.HasPrefix(math, "now") {
		return time.Time{}, errIllegalArg("[searchemu] date math index names must be anchored on now, got [" + math + "]")
	}
	t := now.In(loc)
	rest := math[3:]
	for i := 0; i < len(rest); {
		op := rest[i]
		i++
		round := false
		switch op {
		case '/':
			round = true
		case '+', '-':
		default:
			return time.Time{}, errParse("operator not supported for date math [" + rest + "]")
		}
		num := 1
		if !round {
			j := i
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			if j > i {
				n, err := strconv.Atoi(rest[i:j])
				if err != nil {
					return time.Time{}, errParse("failed to parse date math [" + rest + "]")
				}
				num = n
			}
			i = j
		} else if i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			return time.Time{}, errParse("rounding `/` can only be used on single unit types [" + rest + "]")
		}
		if i >= len(rest) {
			return time.Time{}, errParse("truncated date math [" + rest + "]")
		}
		unit := rest[i]
		i++
		if op == '-' {
			num = -num
		}
		y, mo, d := t.Date()
		h, mi, s := t.Clock()
		switch unit {
		case 'y':
			if round {
				t = time.Date(y, 1, 1, 0, 0, 0, 0, loc)
			} else {
				t = t.AddDate(num, 0, 0)
			}
		case 'M':
			if round {
				t = time.Date(y, mo, 1, 0, 0, 0, 0, loc)
			} else {
				t = t.AddDate(0, num, 0)
			}
		case 'w':
			if round {
				t = time.Date(y, mo, d-(int(t.Weekday())+6)%7, 0, 0, 0, 0, loc)
			} else {
				t = t.AddDate(0, 0, 7*num)
			}
		case 'd':
			if round {
				t = time.Date(y, mo, d, 0, 0, 0, 0, loc)
			} else {
				t = t.AddDate(0, 0, num)
			}
		case 'h', 'H':
			if round {
				t = time.Date(y, mo, d, h, 0, 0, 0, loc)
			} else {
				t = t.Add(time.Duration(num) * time.Hour)
			}
		case 'm':
			if round {
				t = time.Date(y, mo, d, h, mi, 0, 0, loc)
			} else {
				t = t.Add(time.Duration(num) * time.Minute)
			}
		case 's':
			if round {
				t = time.Date(y, mo, d, h, mi, s, 0, loc)
			} else {
				t = t.Add(time.Duration(num) * time.Second)
			}
		default:
			return time.Time{}, errParse("unit [" + string(unit) + "] not supported for date math [" + rest + "]")
		}
	}
	return t, nil
}

// formatJavaPattern formats t with a java.time DateTimeFormatter pattern, for the letters
// index name patterns use: u/y (year), M (month), d (day of month), D (day of year), H,
// m, s, S (fraction), w (ISO week of year), e (ISO day of week), 'quoted' text and other
// literal characters.
func formatJavaPattern(p string, t time.Time) (string, *esError) {
	var b strings.Builder
	for i := 0; i < len(p); {
		ch := p[i]
		if ch == '\'' {
			j := strings.IndexByte(p[i+1:], '\'')
			if j < 0 {
				return "", errIllegalArg("Pattern ends with an incomplete string literal: " + p)
			}
			if j == 0 {
				b.WriteByte('\'')
			} else {
				b.WriteString(p[i+1 : i+1+j])
			}
			i += j + 2
			continue
		}
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z') {
			b.WriteByte(ch)
			i++
			continue
		}
		n := 1
		for i+n < len(p) && p[i+n] == ch {
			n++
		}
		i += n
		pad := func(v, w int) { b.WriteString(leftPad(strconv.Itoa(v), w)) }
		switch ch {
		case 'u', 'y':
			if n == 2 {
				pad(t.Year()%100, 2)
			} else {
				pad(t.Year(), n)
			}
		case 'M':
			switch {
			case n <= 2:
				pad(int(t.Month()), n)
			case n == 3:
				b.WriteString(t.Month().String()[:3])
			default:
				b.WriteString(t.Month().String())
			}
		case 'd':
			pad(t.Day(), n)
		case 'D':
			pad(t.YearDay(), n)
		case 'H':
			pad(t.Hour(), n)
		case 'm':
			pad(t.Minute(), n)
		case 's':
			pad(t.Second(), n)
		case 'S':
			frac := leftPad(strconv.Itoa(t.Nanosecond()), 9)
			if n > 9 {
				n = 9
			}
			b.WriteString(frac[:n])
		case 'w':
			_, wk := t.ISOWeek()
			pad(wk, n)
		case 'e':
			pad((int(t.Weekday())+6)%7+1, n)
		default:
			return "", errIllegalArg("[searchemu] date format letter [" + string(ch) + "] is not supported in date math index names")
		}
	}
	return b.String(), nil
}

func leftPad(s string, w int) string {
	for len(s) < w {
		s = "0" + s
	}
	return s
}
