// Package figures lets each bench command hand its headline figures to
// `make bench-all`, which runs every bench quietly and prints one table.
//
// A bench given -figures FILE appends one JSON object per figure to FILE;
// the bench-all command reads them back in the order written.
package figures

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Figure is one measured figure, its goal, and the reference measured in
// the same run that it is compared against.
type Figure struct {
	// Bench names the command that measured it ("api", "failover", …).
	Bench string `json:"bench"`
	// Name says what was measured, as in the goals table.
	Name string `json:"name"`
	// Measured is the figure as it should be printed ("3,120/s, p99 18 ms").
	Measured string `json:"measured"`
	// Goal is the goal as printed ("≥ 3,000/s, p99 ≤ 25 ms"); empty for a
	// figure without one.
	Goal string `json:"goal,omitempty"`
	// Met says whether Measured meets Goal.
	Met bool `json:"met"`
	// Reference names what Ratio compares against, measured in the same run
	// ("disk StoreLog p50 1.1 ms"); empty when there is none.
	Reference string `json:"reference,omitempty"`
	// Ratio is the figure divided by its reference (0 when there is none).
	Ratio float64 `json:"ratio,omitempty"`
}

var path = flag.String("figures", "", "append the headline figures as JSON lines to this file (used by make bench-all)")

// Record appends f to the file named by -figures, when one was given. A
// bench calls it once per headline figure, after printing its own table.
func Record(f Figure) error {
	if *path == "" {
		return nil
	}
	out, err := os.OpenFile(*path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("figures: %w", err)
	}
	b, err := json.Marshal(f)
	if err != nil {
		out.Close()
		return fmt.Errorf("figures: %w", err)
	}
	_, werr := out.Write(append(b, '\n'))
	return errors.Join(werr, out.Close())
}

// Read returns the figures in r, in the order they were recorded.
func Read(r io.Reader) ([]Figure, error) {
	var all []Figure
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var f Figure
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return nil, fmt.Errorf("figures line %d: %w", n, err)
		}
		all = append(all, f)
	}
	return all, sc.Err()
}
