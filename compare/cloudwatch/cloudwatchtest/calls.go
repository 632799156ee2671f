package cloudwatchtest

import (
	"net/http"
	"testing"
)

// calls tells the calls a client makes from the requests it sends. The
// SDK sends one Amz-Sdk-Invocation-Id per call, the same on every
// attempt of it, and it may send an attempt again after the server has
// answered: on loopback under load the SDK's HTTP transport can tear
// its own connection down while the answer is being read (smithy-go's
// request body reports io.EOF from WriteTo once closed, which net/http
// takes for a failed write), and the retry then asks the same again. A
// test that counts calls counts the answered ones; Requests still
// counts every attempt.
type calls struct {
	answered map[string]bool
}

// count is how many calls were answered.
func (c *calls) count() int { return len(c.answered) }

// again reports whether r repeats a call already answered.
func (c *calls) again(t testing.TB, r *http.Request) bool {
	id := r.Header.Get("Amz-Sdk-Invocation-Id")
	if id == "" {
		t.Errorf("%s %s carries no Amz-Sdk-Invocation-Id: retries can no longer be told from calls", r.Method, r.URL)
		return false
	}
	return c.answered[id]
}

// answer records that r's call was answered.
func (c *calls) answer(r *http.Request) {
	id := r.Header.Get("Amz-Sdk-Invocation-Id")
	if c.answered == nil {
		c.answered = map[string]bool{}
	}
	c.answered[id] = true
}
