package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readmeCommands returns the pgrehearse command lines of the README's
// shell examples, continuation lines joined, each split into words as a
// shell would (quotes removed, pipes and && ending a command).
func readmeCommands(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmds [][]string
	in := false
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
			continue
		case strings.HasPrefix(line, "```"):
			in = false
			continue
		case !in:
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		cur += strings.TrimSuffix(strings.TrimSpace(line), "\\") + " "
		if strings.HasSuffix(strings.TrimSpace(line), "\\") {
			continue
		}
		for _, part := range regexp.MustCompile(`\|\||&&|\|`).Split(cur, -1) {
			words := shellWords(part)
			for len(words) > 0 && words[0] != "pgrehearse" && !(len(words) > 1 && words[0] == "go" && words[1] == "run") {
				words = words[1:]
			}
			if len(words) > 2 && words[0] == "go" && words[2] == "./cmd/pgrehearse" {
				words = append([]string{"pgrehearse"}, words[3:]...)
			}
			if len(words) > 1 && words[0] == "pgrehearse" {
				cmds = append(cmds, words[1:])
			}
		}
		cur = ""
	}
	return cmds
}

// shellWords splits s at spaces outside quotes, removing the quotes.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	quote, inWord := byte(0), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// TestREADMECommands: every pgrehearse command line in the README names
// a command and flags this pgrehearse has, and parses.
func TestREADMECommands(t *testing.T) {
	cmds := readmeCommands(t)
	if len(cmds) < 15 {
		t.Fatalf("found %d command lines in the README: the scan is broken", len(cmds))
	}
	stopAfterFlags = true
	defer func() { stopAfterFlags = false }()
	// A flag the command does not have is caught.
	if err := dispatch(context.Background(), &environment{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}, []string{"replay", "--no-such-flag"}); errors.Is(err, errFlagsParsed) {
		t.Fatal("an unknown flag parsed")
	}
	t.Logf("%d command lines", len(cmds))
	for _, args := range cmds {
		var out, errs bytes.Buffer
		env := &environment{stdin: strings.NewReader(""), stdout: &out, stderr: &errs}
		if err := dispatch(context.Background(), env, args); !errors.Is(err, errFlagsParsed) {
			t.Errorf("pgrehearse %s: %v\n%s", strings.Join(args, " "), err, errs.String())
		}
	}
}

// TestREADMEExitCodes: the README's exit-code table is the one main uses.
func TestREADMEExitCodes(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "## Exit codes")
	if i < 0 {
		t.Fatal("the README has no exit-code table")
	}
	var got []int
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(text[i:min(len(text), i+2000)], -1) {
		n, _ := strconv.Atoi(m[1])
		got = append(got, n)
	}
	want := []int{exitOK, exitError, exitUsage, exitNoGo, exitInconclusive, exitInterrupted}
	if !slices.Equal(got, want) {
		t.Errorf("README exit codes %v, exitcodes.go %v", got, want)
	}
}
