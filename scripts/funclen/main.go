// Command funclen lists the functions of the project's non-test Go files
// that are longer than a limit, and the files longer than another, so
// that both limits can be checked the same way every time:
//
//	go run ./scripts/funclen              # functions over 120 lines, files over 600
//	go run ./scripts/funclen -func 80 -file 400
//
// It exits 1 when something is over a limit.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	maxFunc := flag.Int("func", 120, "longest function allowed, in lines")
	maxFile := flag.Int("file", 600, "longest file allowed, in lines")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	var over []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		if n := fset.File(f.Pos()).LineCount(); n > *maxFile {
			over = append(over, fmt.Sprintf("%s: file of %d lines", path, n))
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			if n > *maxFunc {
				over = append(over, fmt.Sprintf("%s:%d: func %s of %d lines", path, fset.Position(fn.Pos()).Line, fn.Name.Name, n))
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "funclen:", err)
		os.Exit(2)
	}
	sort.Strings(over)
	for _, o := range over {
		fmt.Println(o)
	}
	if len(over) > 0 {
		os.Exit(1)
	}
}
