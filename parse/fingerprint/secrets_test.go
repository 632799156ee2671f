package fingerprint

import (
	"strings"
	"testing"
)

func TestMaskPasswords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"CREATE ROLE app_user LOGIN PASSWORD 'app-password-not-a-secret';", "CREATE ROLE app_user LOGIN PASSWORD '***';"},
		{"alter user bob with encrypted password 'x''y' valid until 'infinity'", "alter user bob with encrypted password '***' valid until 'infinity'"},
		{"ALTER ROLE bob PASSWORD E'a\\'b' LOGIN", "ALTER ROLE bob PASSWORD '***' LOGIN"},
		{"ALTER ROLE bob PASSWORD $pw$se'cret$pw$", "ALTER ROLE bob PASSWORD '***'"},
		{"ALTER ROLE bob PASSWORD 'never closed", "ALTER ROLE bob PASSWORD '***'"},
		{"ALTER ROLE bob PASSWORD NULL", "ALTER ROLE bob PASSWORD NULL"},
		{"CREATE USER MAPPING FOR bob SERVER s OPTIONS (user 'bob', password 'pw')", "CREATE USER MAPPING FOR bob SERVER s OPTIONS (user 'bob', password '***')"},
		{"SELECT dblink_connect('host=x password=secret dbname=y')", "SELECT dblink_connect('host=x password=*** dbname=y')"},
		{"SELECT dblink('postgresql://app:s3cret@db/x', 'SELECT 1')", "SELECT dblink('postgresql://app:***@db/x', 'SELECT 1')"},
		{"UPDATE users SET password = 'hash' WHERE id = 1", "UPDATE users SET password = '***' WHERE id = 1"},
		{"SELECT password, password_changed FROM users WHERE password = $1", "SELECT password, password_changed FROM users WHERE password = $1"},
		{"SHOW password_encryption", "SHOW password_encryption"},
		{"SELECT 'no secret here'", "SELECT 'no secret here'"},
	}
	for _, tc := range tests {
		if got := MaskPasswords(tc.in); got != tc.want {
			t.Errorf("MaskPasswords(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{`invalid input syntax for type integer: "not a number"`, `invalid input syntax for type integer: "?"`},
		{`duplicate key value violates unique constraint "events_pkey"`, `duplicate key value violates unique constraint "events_pkey"`},
		{`relation "no_such_table" does not exist`, `relation "no_such_table" does not exist`},
		{`syntax error at or near "SELEC"`, `syntax error at or near "SELEC"`},
		{`syntax error at or near "'4111 1111'"`, `syntax error at or near "?"`},
		{`value for domain email violates check: 'a@b.c'`, `value for domain email violates check: '?'`},
		{`prepared statement "P_5" does not exist`, `prepared statement "P_5" does not exist`},
		{`invalid input value for enum mood: "it""s"`, `invalid input value for enum mood: "?"`},
		{`division by zero`, `division by zero`},
		{`unterminated "quote`, `unterminated "?"`},
	}
	for _, tc := range tests {
		if got := MaskMessage(tc.in); got != tc.want {
			t.Errorf("MaskMessage(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func FuzzMaskPasswords(f *testing.F) {
	f.Add("ALTER ROLE x PASSWORD 'y'")
	f.Add("password=$1 password $a$ b")
	f.Fuzz(func(t *testing.T, s string) {
		out := MaskPasswords(s)
		if !strings.Contains(strings.ToLower(s), "password") && !strings.Contains(s, "://") && out != s {
			t.Fatalf("changed a text without a password: %q -> %q", s, out)
		}
		MaskMessage(s)
	})
}

func TestRedact(t *testing.T) {
	for _, in := range []string{
		"SELECT * FROM users WHERE email = 'a@b.com' AND card = '4111111111111111'",
		"CREATE ROLE app_user LOGIN PASSWORD 'app-password-not-a-secret'",
		"SELECT 'never closed",
		"DO $x$ BEGIN RAISE NOTICE 'a@b.com'; END $x$",
	} {
		out := Redact(in)
		for _, secret := range []string{"a@b.com", "4111", "not-a-secret", "never closed"} {
			if strings.Contains(out, secret) {
				t.Errorf("Redact(%q) = %q shows %q", in, out, secret)
			}
		}
	}
	if got := Redact("SELECT $1::int FROM t WHERE a = $2"); got != Normalize("SELECT $1::int FROM t WHERE a = $2") {
		t.Errorf("Redact changed a statement without literals: %q", got)
	}
}
