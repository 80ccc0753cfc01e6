// Package docs holds the user documentation of Honua GitOps, as Markdown
// files, and the tests that keep it true: docs_test.go checks every flag,
// environment variable, configuration key, command line, API endpoint,
// role, error code and link the pages name against the code.
package docs
