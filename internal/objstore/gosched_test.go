package objstore_test

import "time"

func runtimeGosched() { time.Sleep(10 * time.Millisecond) }
