package drivers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// python3 is Debian's Python, which has Debian's Django and psycopg; the
// python3 on PATH may be another one without them.
const python3 = "/usr/bin/python3"

// pgJDBCJar is where Debian's libpostgresql-jdbc-java puts the driver.
const pgJDBCJar = "/usr/share/java/postgresql.jar"

// need is one thing a scenario runs that must be installed.
type need struct {
	what    string
	install string // the Debian or npm package(s) that bring it
	check   func() error
}

func checkNeeds(scenario string, needs []need) error {
	var errs []error
	for _, n := range needs {
		if err := n.check(); err != nil {
			errs = append(errs, fmt.Errorf("scenario %s needs %s: %v; install %s (apt-get install -y %s; .ci/run installs it)",
				scenario, n.what, err, n.install, n.install))
		}
	}
	return errors.Join(errs...)
}

func python3Modules(what, packages string, modules ...string) need {
	return need{what: what + " for " + python3, install: packages, check: func() error {
		code := "import " + strings.Join(modules, ", ")
		out, err := exec.Command(python3, "-c", code).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s -c %q: %v: %s", python3, code, err, lastLines(out, 3))
		}
		return nil
	}}
}

func commandNeed(name, packages string) need {
	return need{what: name, install: packages, check: func() error {
		_, err := exec.LookPath(name)
		return err
	}}
}

func javaNeeds() []need {
	return []need{
		commandNeed("javac", "default-jdk-headless"),
		commandNeed("java", "default-jdk-headless"),
		{what: "pgJDBC", install: "libpostgresql-jdbc-java", check: func() error {
			_, err := os.Stat(pgJDBCJar)
			return err
		}},
	}
}

func nodeNeeds() []need {
	return []need{commandNeed("node", "nodejs"), commandNeed("npm", "npm")}
}

// testdata returns the directory of a driver program.
func testdata(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", name)
}

// npmCI installs a node program's locked dependencies when node_modules is
// missing. It installs into a private copy and renames it into place, so
// two test processes doing it at once do not trip over each other.
func npmCI(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(dir, ".npm-ci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{"package.json", "package-lock.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return fmt.Errorf("npm ci in %s: %w", dir, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), data, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s (the npm registry must be reachable, or run .ci/run first): %v\n%s", dir, err, lastLines(out, 10))
	}
	if err := os.Rename(filepath.Join(tmp, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "node_modules")); statErr == nil {
			return nil // another process got there first
		}
		return fmt.Errorf("npm ci in %s: %w", dir, err)
	}
	return nil
}

// compileJava compiles the .java files of dir once per content into the
// user's cache directory and returns the class directory.
func compileJava(ctx context.Context, dir string) (string, error) {
	srcs, err := filepath.Glob(filepath.Join(dir, "*.java"))
	if err != nil || len(srcs) == 0 {
		return "", fmt.Errorf("no Java sources in %s", dir)
	}
	h := sha256.New()
	for _, s := range srcs {
		data, err := os.ReadFile(s)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(s), len(data))
		h.Write(data)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	out := filepath.Join(cache, "pgrehearse", "javac-"+filepath.Base(dir)+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".javac-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	args := append([]string{"-nowarn", "-cp", pgJDBCJar, "-d", tmp}, srcs...)
	if b, err := exec.CommandContext(ctx, "javac", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("javac %s: %v\n%s", dir, err, lastLines(b, 20))
	}
	if err := os.Rename(tmp, out); err != nil {
		if _, statErr := os.Stat(out); statErr != nil {
			return "", err
		}
	}
	return out, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
