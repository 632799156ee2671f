package drivers

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

// TestMain starts the shared test server, and fails the package's tests
// when one of them leaves a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.M(m)) }
