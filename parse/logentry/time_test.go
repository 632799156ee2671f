package logentry

import (
	"testing"
	"time"
)

func TestTimeParser(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		loc  *time.Location
		want string // RFC 3339 in UTC
		prec int64
	}{
		{"2026-11-22 12:17:33.113 UTC", nil, "2026-11-22T12:17:33.113Z", 1000},
		{"2026-11-22 12:17:33 UTC", nil, "2026-11-22T12:17:33Z", 1_000_000},
		{"2026-11-22 07:18:54.173 EST", nil, "2026-11-22T12:18:54.173Z", 1000},
		{"2026-07-01 08:00:00.5 EDT", nil, "2026-07-01T12:00:00.5Z", 100_000},
		{"2026-11-22 13:17:33.113 CET", nil, "2026-11-22T12:17:33.113Z", 1000},
		{"2026-07-22 14:17:33.113 CEST", nil, "2026-07-22T12:17:33.113Z", 1000},
		{"2026-11-22 21:17:33.113 JST", nil, "2026-11-22T12:17:33.113Z", 1000},
		{"2026-11-22 15:17:33.113 +03", nil, "2026-11-22T12:17:33.113Z", 1000},
		{"2026-11-22 17:47:33.113 +0530", nil, "2026-11-22T12:17:33.113Z", 1000},
		{"2026-11-22 09:17:33.113 -03", nil, "2026-11-22T12:17:33.113Z", 1000},
		{"2026-11-22 12:17:33.123456 UTC", nil, "2026-11-22T12:17:33.123456Z", 1},
		// With a location, its own abbreviations win.
		{"2026-11-22 07:18:54.173 EST", ny, "2026-11-22T12:18:54.173Z", 1000},
		{"2026-07-22 14:17:33.113 CEST", berlin, "2026-07-22T12:17:33.113Z", 1000},
		// Last second of a leap-second-free minute, and midnight rollover.
		{"2026-12-31 23:59:59.999 UTC", nil, "2026-12-31T23:59:59.999Z", 1000},
	}
	for _, tc := range tests {
		p := TimeParser{Location: tc.loc}
		us, prec, err := p.Parse([]byte(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		got := time.UnixMicro(us).UTC().Format(time.RFC3339Nano)
		if got != tc.want || prec != tc.prec {
			t.Errorf("%q = %s (precision %d), want %s (%d)", tc.in, got, prec, tc.want, tc.prec)
		}
		// The cached minute must give the same answer the second time.
		us2, _, _ := p.Parse([]byte(tc.in))
		if us2 != us {
			t.Errorf("%q: cached parse %d != %d", tc.in, us2, us)
		}
	}
}

func TestTimeParserCacheSwitchesZone(t *testing.T) {
	var p TimeParser
	a, _, err := p.Parse([]byte("2026-11-22 12:00:00.000 UTC"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := p.Parse([]byte("2026-11-22 12:00:00.000 CET"))
	if err != nil {
		t.Fatal(err)
	}
	if a-b != 3600*1_000_000 {
		t.Fatalf("same wall time in UTC and CET differ by %d µs, want one hour", a-b)
	}
}

func TestTimeParserErrors(t *testing.T) {
	for _, in := range []string{
		"", "2026-11-22", "2026-11-22 12:17:33", "2026-11-22 12:17:33.113",
		"2026-13-22 12:17:33 UTC", "2026-11-22 12:17:33 XYZT", "2026-11-22 12:17:33.x UTC",
		"2026-11-22 25:17:33 UTC", "2026-11-22T12:17:33 UTC", "2026-11-22 12:17:33 +99",
		"2026-11-22 12:17:33 VERYLONGZONE",
	} {
		var p TimeParser
		if _, _, err := p.Parse([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestParseEpoch(t *testing.T) {
	us, prec, err := ParseEpoch([]byte("1763813853.113"))
	if err != nil || us != 1763813853113000 || prec != 1000 {
		t.Fatalf("got %d %d %v", us, prec, err)
	}
	for _, in := range []string{"", "x", "12.", "12.3x", "99999999999999999999"} {
		if _, _, err := ParseEpoch([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func FuzzTimeParser(f *testing.F) {
	for _, s := range []string{"2026-11-22 12:17:33.113 UTC", "2026-11-22 07:18:54 EST", "2026-11-22 15:47:33.113 +0330", "2026-11-22 15:47:33.113456789 -03:30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p TimeParser
		us, prec, err := p.Parse([]byte(s))
		if err == nil && (prec <= 0 || us == 0 && s[:4] != "1970") {
			t.Fatalf("%q: implausible result %d %d", s, us, prec)
		}
		ParseEpoch([]byte(s))
	})
}
