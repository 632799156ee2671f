package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// stageOf ranks the pipeline's packages: a package may import its own
// stage and those before it, never one after.
func stageOf(path string) int {
	for i, stage := range []string{"parse", "replay", "compare", "reports", "cmd"} {
		if path == stage || strings.HasPrefix(path, stage+"/") {
			return i
		}
	}
	return -1
}

// TestImportsPointDown: parse ← replay ← compare ← reports, and only cmd
// imports them all; support packages under internal/ import no stage but
// parse (the tests' driver harness reads logs).
func TestImportsPointDown(t *testing.T) {
	const module = "github.com/pgrehearse/pgrehearse/"
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			dep, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			from, to := stageOf(rel), stageOf(dep)
			switch {
			case from >= 0 && to > from:
				t.Errorf("%s imports %s: a stage imports a later one", path, dep)
			case strings.HasPrefix(rel, "internal/") && to > 0:
				t.Errorf("%s imports %s: support packages import no stage after parse", path, dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked %d files: the walk is broken", checked)
	}
}
