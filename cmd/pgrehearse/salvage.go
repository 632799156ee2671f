package main

import (
	"context"
	"fmt"

	"github.com/pgrehearse/pgrehearse/internal/objstore"
)

// runSalvage completes the unfinished multipart upload a killed replay
// left at an s3:// results URL, so that what it uploaded is read like a
// results file cut off by a crash.
func runSalvage(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "salvage", "s3://BUCKET/KEY")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || !objstore.IsURL(fs.Arg(0)) {
		fs.Usage()
		return usagef("salvage: name one s3://bucket/key a replay wrote to and was killed (SIGKILL) before it finished")
	}
	url := fs.Arg(0)
	if _, err := objstore.Parse(url); err != nil {
		return usagef("salvage: %v", err)
	}
	if _, err := objstore.Stat(ctx, url); err == nil {
		return usagef("salvage: %s exists already: the replay that wrote it finished (or was stopped with SIGTERM or Ctrl-C) and completed it", url)
	}
	s, err := objstore.Salvage(ctx, url)
	if err != nil {
		return fmt.Errorf("salvage: %w", err)
	}
	fmt.Fprintf(env.stderr, "%s: %d parts, %.1f MiB from upload %s; it ends without its summary, so compare counts what it holds and marks the replay interrupted\n",
		url, s.Parts, float64(s.Bytes)/(1<<20), s.UploadID)
	return nil
}
