package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"os"
	texttemplate "text/template"
	"time"
)

//go:embed templates/*.tmpl
var defaultTemplates embed.FS

// funcs are the functions every email template may call.
var funcs = map[string]any{
	"short": shortCommit,
	"plan":  planText,
}

// Default templates, parsed once; a parse error is a bug caught by the
// package's tests.
var (
	defaultSubject = texttemplate.Must(texttemplate.New("subject.tmpl").Funcs(funcs).ParseFS(defaultTemplates, "templates/subject.tmpl"))
	defaultText    = texttemplate.Must(texttemplate.New("text.tmpl").Funcs(funcs).ParseFS(defaultTemplates, "templates/text.tmpl"))
	defaultHTML    = htmltemplate.Must(htmltemplate.New("html.tmpl").Funcs(funcs).ParseFS(defaultTemplates, "templates/html.tmpl"))
)

// LoadTemplates reads an operator's email templates from files: the
// subject and the text part as text/template, the HTML part as
// html/template, each with the functions the package documents. An empty
// file name keeps that part's default. Each template is also executed
// once on a sample message, so that a reference to a field Message does
// not have is refused here rather than at the first notification. An
// error names the file and, for a template error, the line.
func LoadTemplates(subjectFile, textFile, htmlFile string) (subject, text *texttemplate.Template, html *htmltemplate.Template, err error) {
	subject, text, html = defaultSubject, defaultText, defaultHTML
	if subjectFile != "" {
		if subject, err = loadText(subjectFile); err != nil {
			return nil, nil, nil, err
		}
	}
	if textFile != "" {
		if text, err = loadText(textFile); err != nil {
			return nil, nil, nil, err
		}
	}
	if htmlFile != "" {
		src, err := os.ReadFile(htmlFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("load template: %w", err)
		}
		// The template's name is the file's path, so that Go's own
		// error reads "template: <file>:<line>: …".
		if html, err = htmltemplate.New(htmlFile).Funcs(funcs).Parse(string(src)); err != nil {
			return nil, nil, nil, fmt.Errorf("load html template: %w", err)
		}
		if err := html.Execute(&bytes.Buffer{}, sampleMessage); err != nil {
			return nil, nil, nil, fmt.Errorf("load html template: %w", err)
		}
	}
	return subject, text, html, nil
}

// loadText reads and checks one text/template file.
func loadText(file string) (*texttemplate.Template, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load template: %w", err)
	}
	t, err := texttemplate.New(file).Funcs(funcs).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("load text template: %w", err)
	}
	if err := t.Execute(&bytes.Buffer{}, sampleMessage); err != nil {
		return nil, fmt.Errorf("load text template: %w", err)
	}
	return t, nil
}

// sampleMessage is what LoadTemplates checks a template against.
var sampleMessage = Message{
	ID: "sample", Event: "ApprovalRequired", DeploymentID: "d-1", Environment: "production",
	Commit: "0123456789abcdef0123456789abcdef01234567", Subject: "sample commit", State: "AwaitingApproval",
	Risk: "high", Plan: PlanSummary{Added: 1, Modified: 2, Removed: 3, Breaking: true},
	Actor: "alice", Reason: "sample reason", URL: "https://gitops.example.com/deployments/d-1",
	Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
}

// errTemplate marks a template that failed on a message: sending it again
// would fail again.
var errTemplate = errors.New("render template")

// render executes the email templates on m (already bounded) and returns
// the subject flattened to one line and the two bodies.
func render(subjectT, textT *texttemplate.Template, htmlT *htmltemplate.Template, m Message) (subject, text, html string, err error) {
	var b bytes.Buffer
	if err := subjectT.Execute(&b, m); err != nil {
		return "", "", "", permanent(fmt.Errorf("%w: subject: %w", errTemplate, err))
	}
	subject = oneLine(b.String())
	b.Reset()
	if err := textT.Execute(&b, m); err != nil {
		return "", "", "", permanent(fmt.Errorf("%w: text: %w", errTemplate, err))
	}
	text = b.String()
	b.Reset()
	if err := htmlT.Execute(&b, m); err != nil {
		return "", "", "", permanent(fmt.Errorf("%w: html: %w", errTemplate, err))
	}
	return subject, text, b.String(), nil
}
