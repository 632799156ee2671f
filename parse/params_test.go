package parse

import (
	"reflect"
	"testing"
)

func TestParseParams(t *testing.T) {
	tests := []struct {
		in        string
		want      []Param
		truncated bool
		bad       bool
	}{
		{in: "parameters: $1 = '3137', $2 = '23884'", want: []Param{{Value: "3137"}, {Value: "23884"}}},
		{in: "parameters: $1 = NULL", want: []Param{{Null: true}}},
		{in: "parameters: $1 = 'it''s', $2 = ''''", want: []Param{{Value: "it's"}, {Value: "'"}}},
		{in: "parameters: $1 = ''", want: []Param{{Value: ""}}},
		{in: "parameters: $1 = 'a, $2 = ''b''', $2 = NULL", want: []Param{{Value: "a, $2 = 'b'"}, {Null: true}}},
		{in: "parameters: $1 = 'line1\nline2\n\n\tx'", want: []Param{{Value: "line1\nline2\n\n\tx"}}},
		{in: "parameters: $1 = 'abcdef...'", want: []Param{{Value: "abcdef..."}}, truncated: true},
		{in: "parameters: $1 = '{\"a\": \"b\\n\"}'", want: []Param{{Value: "{\"a\": \"b\\n\"}"}}},
		{in: "parameters: $1 = 'x'", want: []Param{{Value: "x"}}},
		{in: "parameters: $2 = 'x'", bad: true},
		{in: "parameters: $1 = 'x', $3 = 'y'", bad: true},
		{in: "parameters: $1 = 'unterminated", bad: true},
		{in: "parameters: $1 = 'x'junk", bad: true},
		{in: "parameters: $1 = 42", bad: true},
		{in: "parameters: ", bad: true},
		{in: "something else", bad: true},
	}
	for _, tc := range tests {
		got, trunc, err := ParseParams([]byte(tc.in))
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) || trunc != tc.truncated {
			t.Errorf("%q = %+v truncated=%v, want %+v %v", tc.in, got, trunc, tc.want, tc.truncated)
		}
	}
}

func FuzzParseParams(f *testing.F) {
	f.Add([]byte("parameters: $1 = '3137', $2 = NULL, $3 = 'it''s'"))
	f.Add([]byte("parameters: $1 = 'a\nb'"))
	f.Fuzz(func(t *testing.T, b []byte) {
		params, _, err := ParseParams(b)
		if err != nil {
			return
		}
		// Re-encoding what was parsed must parse back to the same values.
		enc := []byte("parameters: ")
		for i, p := range params {
			if i > 0 {
				enc = append(enc, ", "...)
			}
			enc = append(enc, '$')
			enc = append(enc, []byte(itoa(i+1))...)
			enc = append(enc, " = "...)
			if p.Null {
				enc = append(enc, "NULL"...)
				continue
			}
			enc = append(enc, '\'')
			for _, c := range []byte(p.Value) {
				if c == '\'' {
					enc = append(enc, '\'')
				}
				enc = append(enc, c)
			}
			enc = append(enc, '\'')
		}
		again, _, err := ParseParams(enc)
		if err != nil || !reflect.DeepEqual(again, params) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
