package plan

// Document is the plan as recorded on a deployment: the Plan with what it
// was computed between.
type Document struct {
	// BaseCommit is the deployed commit the plan was computed against;
	// empty for a first deployment.
	BaseCommit string `json:"baseCommit,omitempty"`
	Commit     string `json:"commit"`
	// Note says what was unusual about the planning, if anything.
	Note string `json:"note,omitempty"`
	*Plan
}
