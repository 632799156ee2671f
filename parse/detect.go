package parse

import (
	"bytes"
	"fmt"
	"time"

	"github.com/pgrehearse/pgrehearse/parse/csvlog"
	"github.com/pgrehearse/pgrehearse/parse/jsonlog"
	"github.com/pgrehearse/pgrehearse/parse/stderrlog"
)

// detectFormat tells the format from the first bytes of a decompressed log.
func detectFormat(sample []byte) (Format, error) {
	if len(bytes.TrimSpace(sample)) == 0 {
		return "", fmt.Errorf("%w: the log is empty", ErrUnrecognized)
	}
	switch {
	case jsonlog.Looks(sample):
		return FormatJSON, nil
	case csvlog.Looks(sample):
		return FormatCSV, nil
	}
	if _, err := stderrlog.DetectPrefix(sampleLines(sample)); err == nil {
		return FormatStderr, nil
	} else if lang := nonEnglish(sample); lang != "" {
		return "", errNonEnglish(lang)
	} else {
		return "", fmt.Errorf("%w: not a csvlog or jsonlog log, and as a stderr log: %v (if it is csvlog or jsonlog, its first lines are damaged: pass --format)", ErrUnrecognized, err)
	}
}

// nonEnglishWords are the translations of "statement:" and "ERROR:" in the
// PostgreSQL message catalogs most often met. A log in another language
// looks like a log with no statements, which is how pgreplay fails on it.
var nonEnglishWords = []struct{ word, lang string }{
	{"ANWEISUNG:", "German"}, {"FEHLER:", "German"},
	{"INSTRUCTION :", "French"}, {"ERREUR:", "French"}, {"ERREUR :", "French"},
	{"SENTENCIA:", "Spanish"}, {"sentencia:", "Spanish"},
	{"ISTRUZIONE:", "Italian"}, {"ERRORE:", "Italian"}, {"istruzione:", "Italian"},
	{"SENTENÇA:", "Portuguese"}, {"ERRO:", "Portuguese"}, {"comando:", "Portuguese"},
	{"ОПЕРАТОР:", "Russian"}, {"ОШИБКА:", "Russian"},
	{"文:", "Japanese"}, {"エラー:", "Japanese"},
	{"语句:", "Chinese"}, {"错误:", "Chinese"},
	{"문장:", "Korean"}, {"오류:", "Korean"},
	{"Anweisung:", "German"}, {"instruction :", "French"},
	{"POLECENIE:", "Polish"}, {"BŁĄD:", "Polish"},
	{"KOMUT:", "Turkish"}, {"HATA:", "Turkish"},
	{"PŘÍKAZ:", "Czech"}, {"CHYBA:", "Czech"},
	{"UTASÍTÁS:", "Hungarian"}, {"HIBA:", "Hungarian"},
	{"SATS:", "Swedish"}, {"FEL:", "Swedish"},
}

func errNonEnglish(lang string) error {
	return fmt.Errorf("%w: this log was written with lc_messages in %s; pgrehearse reads English messages only: set lc_messages = 'C' (or 'en_US.UTF-8') on the server and capture again", ErrUnrecognized, lang)
}

func nonEnglish(sample []byte) string {
	for _, w := range nonEnglishWords {
		if bytes.Contains(sample, []byte(w.word)) {
			return w.lang
		}
	}
	return ""
}

// formatHint says what a file looks like when --format names another
// format than detection finds; empty when they agree or detection finds
// nothing.
func formatHint(sample []byte, format Format, prefix string) string {
	seen, err := detectFormat(sample)
	if err != nil || seen == format {
		return ""
	}
	what := string(seen)
	if seen == FormatStderr {
		if p, err := stderrlog.DetectPrefix(sampleLines(sample)); err == nil {
			what = fmt.Sprintf("stderr (log_line_prefix %q)", p)
		}
	}
	return fmt.Sprintf("--format %s was given, but the file looks like %s: leave --format out, or pass --format %s", format, what, seen)
}

// prefixHint says which log_line_prefix the lines show when
// --log-line-prefix names another one.
func prefixHint(sample []byte, prefix string) string {
	seen, err := stderrlog.DetectPrefix(sampleLines(sample))
	if err != nil || seen == prefix {
		return ""
	}
	// Two spellings of one prefix may both match; only a prefix that
	// fails where the detected one succeeds is worth a word.
	lines := sampleLines(sample)
	if stderrlog.CountStarts(prefix, lines) >= stderrlog.CountStarts(seen, lines) {
		return ""
	}
	return fmt.Sprintf("--log-line-prefix %q was given, but the lines start like %q: leave --log-line-prefix out, or pass that one", prefix, seen)
}

func hintSuffix(hint string) string {
	if hint == "" {
		return ""
	}
	return "; " + hint
}

// maxUnreadableShare is the share of a file's entries that may be
// unreadable (lines that match neither the detected format nor its
// log_line_prefix) before the parse fails: beyond it the file mixes two
// formats or two prefixes, or is not the log the options describe, and a
// workload of the part that could be read would rehearse the wrong load.
const maxUnreadableShare = 0.10

// unreadable returns an error naming the first file with more than
// maxUnreadableShare of its entries unreadable.
func unreadable(inputs []*input) error {
	for _, in := range inputs {
		fs := in.fsum
		total := fs.Entries + fs.Unreadable
		if total == 0 || float64(fs.Unreadable) <= maxUnreadableShare*float64(total) {
			continue
		}
		what := string(in.format)
		if in.prefix != "" {
			what += fmt.Sprintf(" with log_line_prefix %q", in.prefix)
		}
		next := "if it joins two logs, split it and parse each part (with its own --format or --log-line-prefix), or give the part you want"
		if in.hint != "" {
			next = in.hint
		}
		return fmt.Errorf("%w: %s: %d of %d entries (%.1f %%) match no format: read as %s; %s", ErrUnrecognized,
			in.path, fs.Unreadable, total, 100*float64(fs.Unreadable)/float64(total), what, next)
	}
	return nil
}

// noStatements explains a parse that kept no statement.
func noStatements(sum *Summary, inputs []*input, f *filter, first, last int64) error {
	hint := ""
	for _, in := range inputs {
		if in.hint != "" {
			hint = hintSuffix(in.path + ": " + in.hint)
			break
		}
	}
	if sum.Entries == 0 {
		return fmt.Errorf("%w: no log entries were read: is this a PostgreSQL log?%s", ErrUnrecognized, hint)
	}
	other := sum.Skipped["other_message"] + sum.Skipped["unknown_severity"]
	if other > 0 && other*2 >= sum.Entries {
		return fmt.Errorf("%w: %d entries were read but none is a statement, and most messages are not recognised: the log was probably written with a non-English lc_messages; set lc_messages = 'C' on the server and capture again", ErrUnrecognized, sum.Entries)
	}
	if sum.Skipped["filtered"] > 0 && f.windowed() {
		return fmt.Errorf("%w: no statement in the window %s: the log's entries run from %s to %s; give --begin and --end inside that, or leave them out",
			ErrUnrecognized, windowText(f), stamp(first), stamp(last))
	}
	if sum.Skipped["filtered"] > 0 {
		return fmt.Errorf("%w: %d log entries were read, and --database, --user and --application left no session: check their names (the log's entries run from %s to %s)",
			ErrUnrecognized, sum.Entries, stamp(first), stamp(last))
	}
	return fmt.Errorf("%w: %d log entries (%s to %s) were read but none is a statement: capture with log_statement = 'all' (or log_min_duration_statement = 0), and log_connections = on, log_disconnections = on%s",
		ErrUnrecognized, sum.Entries, stamp(first), stamp(last), hint)
}

func windowText(f *filter) string {
	switch {
	case f.begin != 0 && f.end != 0:
		return "--begin " + stamp(f.begin) + " --end " + stamp(f.end)
	case f.begin != 0:
		return "--begin " + stamp(f.begin)
	}
	return "--end " + stamp(f.end)
}

func stamp(us int64) string {
	if us == 0 {
		return "?"
	}
	return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
