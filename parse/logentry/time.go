package logentry

import (
	"errors"
	"fmt"
	"time"
)

// defaultZones maps the zone abbreviations PostgreSQL prints to their UTC
// offset in seconds. Where an abbreviation means several zones, the value
// is the one of PostgreSQL's own "Default" timezone_abbreviations set (so
// IST is Israel, CST is US Central), which is how PostgreSQL itself reads
// such a stamp back. A log written in another of those zones needs
// --log-timezone.
var defaultZones = map[string]int{
	"UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "ZULU": 0, "WET": 0,
	"BST": 3600, "WEST": 3600, "CET": 3600, "MET": 3600, "WAT": 3600,
	"CEST": 7200, "MEST": 7200, "EET": 7200, "CAT": 7200, "SAST": 7200, "IST": 7200,
	"EEST": 3 * 3600, "MSK": 3 * 3600, "EAT": 3 * 3600, "IDT": 3 * 3600,
	"PKT": 5 * 3600, "WIB": 7 * 3600, "ICT": 7 * 3600,
	"AWST": 8 * 3600, "HKT": 8 * 3600, "SGT": 8 * 3600, "WITA": 8 * 3600, "PHT": 8 * 3600,
	"JST": 9 * 3600, "KST": 9 * 3600, "WIT": 9 * 3600,
	"ACST": 9*3600 + 1800, "ACDT": 10*3600 + 1800,
	"AEST": 10 * 3600, "AEDT": 11 * 3600, "CHST": 10 * 3600,
	"NZST": 12 * 3600, "NZDT": 13 * 3600,
	"NDT": -(2*3600 + 1800), "NST": -(3*3600 + 1800),
	"ADT": -3 * 3600, "AST": -4 * 3600,
	"EDT": -4 * 3600, "EST": -5 * 3600,
	"CDT": -5 * 3600, "CST": -6 * 3600,
	"MDT": -6 * 3600, "MST": -7 * 3600,
	"PDT": -7 * 3600, "PST": -8 * 3600,
	"AKDT": -8 * 3600, "AKST": -9 * 3600,
	"HDT": -9 * 3600, "HST": -10 * 3600,
}

// ErrUnknownZone is returned for a zone abbreviation that is in neither the
// table nor the --log-timezone location.
var ErrUnknownZone = errors.New("unknown time zone abbreviation")

// TimeParser reads the timestamps of log lines ("2026-11-22 12:17:33.113
// UTC", "2026-11-22 07:18:54 EST", "2026-11-22 15:47:33.113 +0330").
//
// It caches the minute it saw last: consecutive entries of a log share it,
// so the calendar arithmetic runs about once a minute of log instead of
// once a line. A TimeParser is not safe for concurrent use.
type TimeParser struct {
	// Location, when set (--log-timezone), resolves abbreviations first: a
	// stamp's abbreviation is looked up among the names that location uses.
	Location *time.Location

	key   [16]byte
	zone  [8]byte
	zlen  int
	valid bool
	base  int64 // Unix microseconds of key's minute in zone
}

// Parse parses a timestamp with optional fraction and a zone. It returns
// Unix microseconds and the precision of the stamp in microseconds.
func (p *TimeParser) Parse(b []byte) (micros, precision int64, err error) {
	// YYYY-MM-DD HH:MM:SS[.f+] ZONE
	if len(b) < 19+2 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return 0, 0, fmt.Errorf("timestamp %q: want YYYY-MM-DD HH:MM:SS[.fff] ZONE", clip(b))
	}
	sec, ok := digits2(b[17], b[18])
	if !ok || sec > 60 {
		return 0, 0, fmt.Errorf("timestamp %q: bad seconds", clip(b))
	}
	rest := b[19:]
	var frac int64
	precision = 1_000_000
	if len(rest) > 0 && rest[0] == '.' {
		n := 0
		for n+1 < len(rest) && rest[n+1] >= '0' && rest[n+1] <= '9' {
			n++
		}
		if n == 0 || n > 9 {
			return 0, 0, fmt.Errorf("timestamp %q: bad fraction", clip(b))
		}
		scale := int64(1_000_000)
		for i := 1; i <= n; i++ {
			scale /= 10
			if i <= 6 {
				frac += int64(rest[i]-'0') * scale
			}
		}
		if n >= 6 {
			precision = 1
		} else {
			precision = pow10[6-n]
		}
		rest = rest[n+1:]
	}
	if len(rest) < 2 || rest[0] != ' ' {
		return 0, 0, fmt.Errorf("timestamp %q: missing time zone", clip(b))
	}
	zone := rest[1:]
	if len(zone) > len(p.zone) {
		return 0, 0, fmt.Errorf("timestamp %q: %w", clip(b), ErrUnknownZone)
	}
	if !p.valid || string(b[:16]) != string(p.key[:]) || string(zone) != string(p.zone[:p.zlen]) {
		base, err := p.minute(b[:16], zone)
		if err != nil {
			return 0, 0, fmt.Errorf("timestamp %q: %w", clip(b), err)
		}
		copy(p.key[:], b[:16])
		p.zlen = copy(p.zone[:], zone)
		p.base = base
		p.valid = true
	}
	return p.base + int64(sec)*1_000_000 + frac, precision, nil
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000}

func (p *TimeParser) minute(b, zone []byte) (int64, error) {
	var v [5]int
	fields := [5][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}}
	for i, f := range fields {
		n := 0
		for _, c := range b[f[0]:f[1]] {
			if c < '0' || c > '9' {
				return 0, errors.New("bad date")
			}
			n = n*10 + int(c-'0')
		}
		v[i] = n
	}
	if v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 {
		return 0, errors.New("bad date")
	}
	off, err := p.offset(v, zone)
	if err != nil {
		return 0, err
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], 0, 0, time.UTC)
	return t.UnixMicro() - int64(off)*1_000_000, nil
}

// offset resolves zone (an abbreviation or a numeric offset such as +03,
// -0330 or +05:30) to seconds east of UTC at wall time v.
func (p *TimeParser) offset(v [5]int, zone []byte) (int, error) {
	if zone[0] == '+' || zone[0] == '-' {
		return numericOffset(zone)
	}
	if p.Location != nil {
		wall := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], 0, 0, p.Location)
		// Around a DST switch the same wall time exists under both
		// abbreviations; look at both sides of it.
		for _, d := range []time.Duration{0, -time.Hour, time.Hour, -2 * time.Hour, 2 * time.Hour} {
			name, off := wall.Add(d).Zone()
			if name == string(zone) {
				return off, nil
			}
		}
	}
	if off, ok := defaultZones[upper(zone)]; ok {
		return off, nil
	}
	return 0, fmt.Errorf("%w %q: pass --log-timezone with the server's log_timezone (for example Europe/Berlin)", ErrUnknownZone, zone)
}

func numericOffset(z []byte) (int, error) {
	sign := 1
	if z[0] == '-' {
		sign = -1
	}
	d := make([]int, 0, 4)
	for _, c := range z[1:] {
		switch {
		case c >= '0' && c <= '9':
			d = append(d, int(c-'0'))
		case c == ':':
		default:
			return 0, fmt.Errorf("%w %q", ErrUnknownZone, z)
		}
	}
	var h, m int
	switch len(d) {
	case 1:
		h = d[0]
	case 2:
		h = d[0]*10 + d[1]
	case 4:
		h, m = d[0]*10+d[1], d[2]*10+d[3]
	default:
		return 0, fmt.Errorf("%w %q", ErrUnknownZone, z)
	}
	if h > 15 || m > 59 {
		return 0, fmt.Errorf("%w %q", ErrUnknownZone, z)
	}
	return sign * (h*3600 + m*60), nil
}

func upper(b []byte) string {
	for _, c := range b {
		if c >= 'a' && c <= 'z' {
			u := make([]byte, len(b))
			for i, c := range b {
				if c >= 'a' && c <= 'z' {
					c -= 'a' - 'A'
				}
				u[i] = c
			}
			return string(u)
		}
	}
	return string(b)
}

func digits2(a, b byte) (int, bool) {
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return 0, false
	}
	return int(a-'0')*10 + int(b-'0'), true
}

// ParseEpoch parses %n, Unix seconds with milliseconds ("1763813853.113").
func ParseEpoch(b []byte) (micros, precision int64, err error) {
	var sec, frac int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		sec = sec*10 + int64(b[i]-'0')
		if sec > 1<<40 {
			return 0, 0, fmt.Errorf("epoch %q: out of range", clip(b))
		}
	}
	if i == 0 {
		return 0, 0, fmt.Errorf("epoch %q: not a number", clip(b))
	}
	precision = 1_000_000
	if i < len(b) && b[i] == '.' {
		scale := int64(1_000_000)
		n := 0
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			n++
			scale /= 10
			frac += int64(b[i]-'0') * scale
			if n >= 6 {
				break
			}
		}
		if n == 0 {
			return 0, 0, fmt.Errorf("epoch %q: bad fraction", clip(b))
		}
		precision = pow10[6-n]
	}
	if i != len(b) {
		return 0, 0, fmt.Errorf("epoch %q: trailing bytes", clip(b))
	}
	return sec*1_000_000 + frac, precision, nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
