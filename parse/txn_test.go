package parse

import (
	"reflect"
	"testing"
)

func TestBlockAfter(t *testing.T) {
	for _, tc := range []struct {
		in   bool
		text string
		want bool
	}{
		{false, "BEGIN", true},
		{false, "  /* c */ begin isolation level repeatable read", true},
		{false, "START TRANSACTION", true},
		{false, "start_something()", false},
		{true, "COMMIT", false},
		{true, "end", false},
		{true, "ABORT", false},
		{true, "ROLLBACK", false},
		{true, "ROLLBACK TO SAVEPOINT sp_1", true},
		{true, "rollback to sp_1", true},
		{false, "COMMIT PREPARED 'x'", false},
		{true, "PREPARE TRANSACTION 'x'", false},
		{true, "SELECT 1", true},
		{false, "BEGIN; INSERT INTO t VALUES (1); COMMIT;", false},
		{false, "BEGIN; INSERT INTO t VALUES ('a;commit')", true},
		{false, "SELECT $$;commit;$$; BEGIN", true},
		{false, "SELECT $tag$;commit$tag$; begin -- ; commit\n", true},
		{false, "-- begin\nSELECT 1", false},
		{false, "DO $$BEGIN PERFORM 1; END$$", false},
	} {
		if got := blockAfter(tc.in, []byte(tc.text)); got != tc.want {
			t.Errorf("blockAfter(%v, %q) = %v, want %v", tc.in, tc.text, got, tc.want)
		}
	}
}

func TestContextParams(t *testing.T) {
	for _, tc := range []struct {
		ctx, text string
		want      []Param
	}{
		{"unnamed portal with parameters: $1 = '1', $2 = '0'", "SELECT $1::int / $2::int", []Param{{Value: "1"}, {Value: "0"}}},
		{"portal \"C_1\" with parameters: $1 = NULL", "SELECT $1", []Param{{Null: true}}},
		{"unnamed portal parameter $1 = 'not a number'", "SELECT $1::int + 1", []Param{{Value: "not a number"}}},
		// One value of two is not all of them.
		{"unnamed portal parameter $1 = 'x'", "SELECT $1::int + $2", nil},
		// log_parameter_max_length_on_error = 0 cuts every value.
		{"unnamed portal parameter $1 = '...'", "SELECT $1::int + 1", nil},
		{"PL/pgSQL function f() line 4 at RAISE\nunnamed portal with parameters: $1 = 'it''s'", "SELECT f($1)", []Param{{Value: "it's"}}},
		{"unnamed portal with parameters: $1 = '1'", "SELECT $1, $2", nil},
		{"", "SELECT $1", nil},
	} {
		if got := contextParams([]byte(tc.ctx), []byte(tc.text)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("contextParams(%q) = %+v, want %+v", tc.ctx, got, tc.want)
		}
	}
}

func TestErrorStep(t *testing.T) {
	for tag, want := range map[string]Step{"PARSE": StepParse, "BIND": StepBind, "idle": StepParse,
		"idle in transaction": StepParse, "SELECT": StepExecute, "": StepUnknown} {
		if got := errorStep([]byte(tag)); got != want {
			t.Errorf("errorStep(%q) = %v, want %v", tag, got, want)
		}
	}
}

func TestParseVXID(t *testing.T) {
	for in, want := range map[string]VXID{"7/178": {7, 178}, "7/0": {7, 0}, "": {}, "x/1": {}, "3/": {}, "12/4294967295": {12, 4294967295}} {
		if got := ParseVXID([]byte(in)); got != want {
			t.Errorf("ParseVXID(%q) = %v, want %v", in, got, want)
		}
	}
	if (VXID{7, 0}).String() != "" || (VXID{7, 1}).String() != "7/1" {
		t.Error("VXID.String")
	}
}

func TestMaxPlaceholder(t *testing.T) {
	for text, want := range map[string]int{"SELECT 1": 0, "SELECT $1": 1, "SELECT $2, $10": 10, "SELECT $$x$$": 0, "$3$1": 3} {
		if got := maxPlaceholder([]byte(text)); got != want {
			t.Errorf("maxPlaceholder(%q) = %d, want %d", text, got, want)
		}
	}
}
