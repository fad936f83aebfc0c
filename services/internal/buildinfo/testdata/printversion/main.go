// Command printversion prints what package buildinfo reports, for its test.
package main

import (
	"fmt"

	"github.com/vidstream/vidstream/services/internal/buildinfo"
)

func main() { fmt.Print(buildinfo.Version(), " ", buildinfo.Commit()) }
