package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// outcomes are the answers to a set of approvals.
type outcomes struct {
	times      []time.Duration // of the 2xx answers
	duplicates int             // 2xx answers that said the identity had approved already
	errors     map[string]int  // by API error code, or "transport"
	examples   map[string]string
	// last is an acknowledged answer, the last one a client got: how big
	// the answers had grown.
	last *api.ApproveResult
}

func (o *outcomes) record(took time.Duration, res *api.ApproveResult, err error) {
	if err == nil {
		o.times = append(o.times, took)
		o.last = res
		if res.Duplicate {
			o.duplicates++
		}
		return
	}
	code := "transport"
	var ae *api.Error
	if errors.As(err, &ae) {
		code = fmt.Sprintf("%d %s", ae.StatusCode, ae.Code)
	}
	if o.errors == nil {
		o.errors, o.examples = map[string]int{}, map[string]string{}
	}
	o.errors[code]++
	if _, ok := o.examples[code]; !ok {
		o.examples[code] = err.Error()
	}
}

func (o *outcomes) merge(p outcomes) {
	o.times = append(o.times, p.times...)
	o.duplicates += p.duplicates
	if p.last != nil {
		o.last = p.last
	}
	for code, n := range p.errors {
		if o.errors == nil {
			o.errors, o.examples = map[string]int{}, map[string]string{}
		}
		o.errors[code] += n
		if _, ok := o.examples[code]; !ok {
			o.examples[code] = p.examples[code]
		}
	}
}

func (o outcomes) failed() int {
	n := 0
	for _, c := range o.errors {
		n += c
	}
	return n
}

// describe summarizes outcomes in a line.
func (o outcomes) describe() string {
	s := fmt.Sprintf("%d acknowledged", len(o.times))
	if len(o.times) > 0 {
		s += fmt.Sprintf(" (%d duplicates): p50 %s, p90 %s, p99 %s, max %s", o.duplicates,
			ms(percentile(o.times, 50)), ms(percentile(o.times, 90)), ms(percentile(o.times, 99)), ms(percentile(o.times, 100)))
	}
	if f := o.failed(); f > 0 {
		s += fmt.Sprintf("; %d errors %v", f, o.errors)
		for code, ex := range o.examples {
			s += fmt.Sprintf("\n      e.g. %s: %s", code, ex)
		}
	}
	if o.last != nil && o.last.Deployment != nil {
		// The server writes the answer as indented JSON.
		b, _ := json.MarshalIndent(o.last, "", "  ")
		s += fmt.Sprintf("\n      a last answer: deployment %s with %d approvals, %.1f KiB", o.last.Deployment.ID,
			len(o.last.Deployment.Approvals), float64(len(b))/1024)
	}
	return s
}
