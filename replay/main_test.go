package replay

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.M(m)) }
