package configrepo

// Report is the validation result recorded on a deployment.
type Report struct {
	Valid    bool            `json:"valid"`
	Problems []ReportProblem `json:"problems"`
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

// NewReport records problems; no problems is a valid report.
func NewReport(problems []Problem) Report {
	r := Report{Valid: len(problems) == 0, Problems: make([]ReportProblem, len(problems))}
	for i, p := range problems {
		r.Problems[i] = ReportProblem{File: p.File, Line: p.Line, Column: p.Column, Path: p.Path,
			Message: p.Message, Text: p.Error()}
	}
	return r
}
