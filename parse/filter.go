package parse

import (
	"strings"
	"time"
)

// newFilter makes the filter of the options and records it in the header.
func newFilter(opt *Options, hdr *Header) *filter {
	f := &filter{db: newNameFilter(opt.Databases), user: newNameFilter(opt.Users), app: newNameFilter(opt.Applications)}
	if !opt.Begin.IsZero() {
		f.begin = opt.Begin.UnixMicro()
		hdr.Filters = append(hdr.Filters, "begin="+opt.Begin.UTC().Format(time.RFC3339Nano))
	}
	if !opt.End.IsZero() {
		f.end = opt.End.UnixMicro()
		hdr.Filters = append(hdr.Filters, "end="+opt.End.UTC().Format(time.RFC3339Nano))
	}
	for _, kv := range [][2]any{{"database", opt.Databases}, {"user", opt.Users}, {"application", opt.Applications}} {
		for _, v := range kv[1].([]string) {
			hdr.Filters = append(hdr.Filters, kv[0].(string)+"="+v)
		}
	}
	return f
}

// filter holds the --begin/--end/--database/--user/--application choices.
type filter struct {
	begin, end int64
	db, user   nameFilter
	app        nameFilter
}

// nameFilter keeps names in include (when any) and drops names in exclude.
type nameFilter struct {
	include, exclude map[string]bool
}

func newNameFilter(values []string) nameFilter {
	var f nameFilter
	for _, v := range values {
		if rest, ok := strings.CutPrefix(v, "!"); ok {
			if f.exclude == nil {
				f.exclude = map[string]bool{}
			}
			f.exclude[rest] = true
			continue
		}
		if f.include == nil {
			f.include = map[string]bool{}
		}
		f.include[v] = true
	}
	return f
}

func (f nameFilter) keep(name string) bool {
	if f.exclude[name] {
		return false
	}
	return f.include == nil || f.include[name]
}

func (f *filter) session(s *session) bool {
	return f.db.keep(s.db) && f.user.keep(s.user) && f.app.keep(s.app)
}

func (f *filter) windowed() bool { return f.begin != 0 || f.end != 0 }

func (f *filter) time(t int64) bool {
	return (f.begin == 0 || t >= f.begin) && (f.end == 0 || t <= f.end)
}
