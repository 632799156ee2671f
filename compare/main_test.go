package compare

import (
	"os"
	"testing"

	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
