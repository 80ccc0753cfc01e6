// Package docs holds the user documentation of Honua GitOps, as Markdown
// files, and the tests that keep it true: docs_test.go checks every flag,
// environment variable, configuration key, command line, API endpoint,
// role, error code and link the pages name against the code;
// domain_test.go checks domain.md's table of states against the FSM, its
// examples against the parsers, and the code's citations of domain.md;
// architecture_test.go checks the packages and names architecture.md gives.
package docs
