package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// decodeAll decodes every YAML document of a manifest strictly: an unknown
// or misspelt field is an error, as kubectl apply --validate=strict makes
// it. Only the kinds this directory ships are known.
func decodeAll(raw []byte) ([]*batchv1.Job, error) {
	var jobs []*batchv1.Job
	for i, doc := range splitDocuments(raw) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		switch tm.APIVersion + " " + tm.Kind {
		case "batch/v1 Job":
			var j batchv1.Job
			if err := yaml.UnmarshalStrict(doc, &j); err != nil {
				return nil, fmt.Errorf("document %d (Job): %w", i+1, err)
			}
			jobs = append(jobs, &j)
		default:
			return nil, fmt.Errorf("document %d: %s %s is not a kind this test knows", i+1, tm.APIVersion, tm.Kind)
		}
	}
	return jobs, nil
}

// splitDocuments splits a YAML stream at its "---" lines, dropping
// documents that are only comments.
func splitDocuments(raw []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(raw), -1) {
		body := false
		for _, l := range strings.Split(d, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
				body = true
			}
		}
		if body {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// shardArg matches --shard=$(JOB_COMPLETION_INDEX)/N (or the two-word
// form's value).
var shardArg = regexp.MustCompile(`^\$\(JOB_COMPLETION_INDEX\)/(\d+)$`)

// checkShards checks what makes N pods replay N disjoint shards of one
// workload together: an Indexed Job whose completions and parallelism are
// the --shard denominator, one --start-at from a literal START_AT shared
// by every pod, and a results file per index.
func checkShards(j *batchv1.Job) error {
	s := j.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		return fmt.Errorf("completionMode must be Indexed, so each pod gets JOB_COMPLETION_INDEX")
	}
	if s.Completions == nil || s.Parallelism == nil {
		return fmt.Errorf("completions and parallelism must both be set")
	}
	if *s.Completions != *s.Parallelism {
		return fmt.Errorf("completions %d != parallelism %d: shards would not run together", *s.Completions, *s.Parallelism)
	}
	if s.BackoffLimit == nil || *s.BackoffLimit != 0 {
		return fmt.Errorf("backoffLimit must be 0: a shard retried replays its sessions twice")
	}
	if s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		return fmt.Errorf("restartPolicy must be Never")
	}
	if len(s.Template.Spec.Containers) == 0 {
		return fmt.Errorf("no container")
	}
	for _, c := range s.Template.Spec.Containers {
		if err := checkContainer(c, int(*s.Completions)); err != nil {
			return fmt.Errorf("container %s: %w", c.Name, err)
		}
	}
	return nil
}

func checkContainer(c corev1.Container, n int) error {
	args := c.Args
	if len(args) == 0 || args[0] != "replay" {
		return fmt.Errorf("args must start with replay, got %q", args)
	}
	var shards []int
	var startAt, output string
	for i := 1; i < len(args); i++ {
		name, val, eq := strings.Cut(args[i], "=")
		if !eq && i+1 < len(args) && (name == "--shard" || name == "--start-at" || name == "-o" || name == "--output") {
			i++
			val = args[i]
		}
		switch name {
		case "--shard":
			m := shardArg.FindStringSubmatch(val)
			if m == nil {
				return fmt.Errorf("--shard %q: want $(JOB_COMPLETION_INDEX)/N", val)
			}
			d, _ := strconv.Atoi(m[1])
			shards = append(shards, d)
		case "--start-at":
			startAt = val
		case "-o", "--output":
			output = val
		}
	}
	if len(shards) == 0 {
		return fmt.Errorf("no --shard argument")
	}
	for _, d := range shards {
		if d != n {
			return fmt.Errorf("--shard denominator %d != completions %d: sessions would be lost or replayed twice", d, n)
		}
	}
	if startAt != "$(START_AT)" {
		return fmt.Errorf("--start-at %q: want $(START_AT), the one time every pod shares", startAt)
	}
	var at *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "START_AT" {
			at = &c.Env[i]
		}
	}
	if at == nil || at.ValueFrom != nil {
		return fmt.Errorf("START_AT must be a literal value in the template, the same for every pod")
	}
	if _, err := time.Parse(time.RFC3339, at.Value); err != nil {
		return fmt.Errorf("START_AT %q: %v", at.Value, err)
	}
	if !strings.Contains(output, "$(JOB_COMPLETION_INDEX)") {
		return fmt.Errorf("results %q: want one file per index ($(JOB_COMPLETION_INDEX) in -o)", output)
	}
	if c.Image != placeholderImage {
		return fmt.Errorf("image %q: want the placeholder %s the README tells how to set", c.Image, placeholderImage)
	}
	return nil
}

const placeholderImage = "registry.example.com/pgrehearse:VERSION"

func manifests(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes: %v", err)
	}
	return paths
}

func TestManifestsDecodeStrictly(t *testing.T) {
	for _, p := range manifests(t) {
		t.Run(p, func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			jobs, err := decodeAll(raw)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if len(jobs) == 0 {
				t.Fatalf("%s: no Job", p)
			}
			for _, j := range jobs {
				if err := checkShards(j); err != nil {
					t.Errorf("%s: Job %s: %v", p, j.Name, err)
				}
				sec := j.Spec.Template.Spec.SecurityContext
				if sec == nil || sec.RunAsUser == nil || *sec.RunAsUser != 65532 {
					t.Errorf("%s: the pod must run as the image's user 65532", p)
				}
			}
		})
	}
}

// TestReadmeTellsTheImage checks that the README says how to build, push
// and set the image the manifests name.
func TestReadmeTellsTheImage(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"docker build", "docker push", placeholderImage} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("README does not mention %q", want)
		}
	}
}

// TestChecksCatchMistakes mutates a good manifest the ways people get it
// wrong and expects each to be refused.
func TestChecksCatchMistakes(t *testing.T) {
	raw, err := os.ReadFile("replay-shards.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := string(raw)
	cases := []struct{ name, old, new, want string }{
		{"completions differ from the shard count", "completions: 4", "completions: 3", "completions 3 != parallelism 4"},
		{"shard denominator differs", "--shard=$(JOB_COMPLETION_INDEX)/4", "--shard=$(JOB_COMPLETION_INDEX)/5", "denominator 5 != completions 4"},
		{"not indexed", "completionMode: Indexed", "completionMode: NonIndexed", "Indexed"},
		{"misspelt field", "backoffLimit: 0", "backofLimit: 0", "unknown field"},
		{"one results file for all", "/data/results/shard-$(JOB_COMPLETION_INDEX).jsonl", "/data/results/shard.jsonl", "one file per index"},
		{"start time per pod", "--start-at=$(START_AT)", "--start-at=$(NOW)", "want $(START_AT)"},
		{"another kind", "kind: Job", "kind: CronJob", "not a kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.old) {
				t.Fatalf("the manifest no longer has %q", c.old)
			}
			jobs, err := decodeAll([]byte(strings.Replace(good, c.old, c.new, 1)))
			if err == nil {
				for _, j := range jobs {
					if err = checkShards(j); err != nil {
						break
					}
				}
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}
