// Package view owns the rendering of the dashboard's richest parts as pure
// functions of the API's types (package api): a deployment's plan as a
// field-level diff and its validation report (Plan), the chart of an
// environment's last deployments (Chart), a deployment's transition
// timeline (Timeline), the risk badge (Risk) and short durations
// (Duration). The dashboard's server (internal/ui) places their output in
// its pages; CSS holds the styles of the classes they use.
//
// Guarantees: every function is deterministic (the clock comes in as an
// argument), never panics on any input the API can decode, and builds its
// HTML with html/template from embedded templates, so that every string
// taken from a deployment — plan paths, field names, values, reasons,
// messages, ids, all controlled by whoever can push to the configuration
// repository — is escaped for the context it lands in. Class names are
// chosen from fixed sets, never taken from the input. The output carries
// no style attribute, no script and no link, so it fits the dashboard's
// Content-Security-Policy (no inline styles or scripts).
//
// Failure modes: a template that fails to execute (a bug, not an input)
// renders a short escaped error in place of the part, so a page still
// shows the rest.
package view
