// Command stamped prints its build line; the buildinfo test builds it with -ldflags -X
// to prove that the symbol names builders are given are the ones the linker sets.
package main

import (
	"fmt"

	"github.com/fanout-dev/fanout/pkg/buildinfo"
)

func main() { fmt.Println(buildinfo.Get().Line("stamped")) }
