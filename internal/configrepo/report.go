package configrepo

// Report is the validation result recorded on a deployment. It is recorded
// in the replicated log, so it is bounded: at most MaxReportProblems
// problems, each cut to a length that names it.
type Report struct {
	Valid    bool            `json:"valid"`
	Problems []ReportProblem `json:"problems"`
	// Omitted counts the problems left out of Problems.
	Omitted int `json:"omitted,omitempty"`
}

// ReportProblem is one Problem as recorded.
type ReportProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	// Text is the whole problem as one line: file:line:column: path: message.
	Text string `json:"text"`
}

// NewReport records problems; no problems is a valid report. It keeps the
// first MaxReportProblems and counts the others in Omitted; a file, path or
// message longer than 1 KiB is cut, and says so with "…".
func NewReport(problems []Problem) Report {
	kept := problems[:min(len(problems), MaxReportProblems)]
	r := Report{Valid: len(problems) == 0, Problems: make([]ReportProblem, len(kept)), Omitted: len(problems) - len(kept)}
	for i, p := range kept {
		p.File, p.Path, p.Message = truncate(p.File, maxProblemText), truncate(p.Path, maxProblemText), truncate(p.Message, maxProblemText)
		r.Problems[i] = ReportProblem{File: p.File, Line: p.Line, Column: p.Column, Path: p.Path,
			Message: p.Message, Text: p.Error()}
	}
	return r
}
