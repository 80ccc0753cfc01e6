package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/honua-io/honua-gitops/api"
)

// Every action is the API's own call, made with the session's token: the
// API checks the role and groups, forwards it to the leader, and its
// refusal (403 for a viewer, 409 when the deployment moved on...) is shown
// with its status on the page the form was on. A success answers 303 to
// that page with a flash message.

func (s *Server) handleApprove(w http.ResponseWriter, r *http.Request, ss *session) {
	comment, problem := textField(r, "comment", "", "comment")
	if problem != "" {
		s.renderDeployment(w, r, ss, http.StatusBadRequest, problem)
		return
	}
	res, err := ss.client.Approve(r.Context(), r.PathValue("id"), comment)
	if err != nil {
		s.actionFailed(w, r, ss, err, s.renderDeployment)
		return
	}
	done := "approved"
	if res.Duplicate {
		done = "duplicate"
	}
	s.done(w, r, "/ui/deployments/"+url.PathEscape(r.PathValue("id")), done)
}

func (s *Server) handleReject(w http.ResponseWriter, r *http.Request, ss *session) {
	reason, problem := textField(r, "reason", "A rejection needs a reason.", "reason")
	if problem != "" {
		s.renderDeployment(w, r, ss, http.StatusBadRequest, problem)
		return
	}
	if _, err := ss.client.Reject(r.Context(), r.PathValue("id"), reason); err != nil {
		s.actionFailed(w, r, ss, err, s.renderDeployment)
		return
	}
	s.done(w, r, "/ui/deployments/"+url.PathEscape(r.PathValue("id")), "rejected")
}

func (s *Server) handleRollback(w http.ResponseWriter, r *http.Request, ss *session) {
	env, to := r.PathValue("env"), strings.TrimSpace(r.PostForm.Get("to"))
	if to == "" {
		s.renderError(w, r, ss, http.StatusBadRequest, "Choose the deployment to roll back to on the environment's page.")
		return
	}
	d, err := ss.client.Rollback(r.Context(), env, to)
	if err != nil {
		s.actionFailed(w, r, ss, err, func(w http.ResponseWriter, r *http.Request, ss *session, status int, msg string) {
			s.renderRollback(w, r, ss, status, msg, to)
		})
		return
	}
	s.done(w, r, "/ui/deployments/"+url.PathEscape(d.ID), "rolledback")
}

func (s *Server) handleSync(w http.ResponseWriter, r *http.Request, ss *session) {
	env := r.PathValue("env")
	if _, err := ss.client.Sync(r.Context(), env); err != nil {
		s.actionFailed(w, r, ss, err, s.renderEnvironment)
		return
	}
	s.done(w, r, "/ui/environments/"+url.PathEscape(env), "synced")
}

func (s *Server) handleSuspend(w http.ResponseWriter, r *http.Request, ss *session) {
	env := r.PathValue("env")
	reason, problem := textField(r, "reason", "Suspending needs a reason.", "reason")
	if problem != "" {
		s.renderEnvironment(w, r, ss, http.StatusBadRequest, problem)
		return
	}
	if _, err := ss.client.Suspend(r.Context(), env, reason); err != nil {
		s.actionFailed(w, r, ss, err, s.renderEnvironment)
		return
	}
	s.done(w, r, "/ui/environments/"+url.PathEscape(env), "suspended")
}

func (s *Server) handleResume(w http.ResponseWriter, r *http.Request, ss *session) {
	env := r.PathValue("env")
	if _, err := ss.client.Resume(r.Context(), env); err != nil {
		s.actionFailed(w, r, ss, err, s.renderEnvironment)
		return
	}
	s.done(w, r, "/ui/environments/"+url.PathEscape(env), "resumed")
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request, ss *session) {
	reason, problem := textField(r, "reason", "Cancelling needs a reason.", "reason")
	if problem != "" {
		s.renderDeployment(w, r, ss, http.StatusBadRequest, problem)
		return
	}
	if _, err := ss.client.Cancel(r.Context(), r.PathValue("id"), reason); err != nil {
		s.actionFailed(w, r, ss, err, s.renderDeployment)
		return
	}
	s.done(w, r, "/ui/deployments/"+url.PathEscape(r.PathValue("id")), "cancelled")
}

// textField returns a form's text field, trimmed, and what is wrong with
// it: empty when required is set (required is then the message), or over
// maxText bytes. what names the field in the message.
func textField(r *http.Request, field, required, what string) (string, string) {
	v := strings.TrimSpace(r.PostForm.Get(field))
	switch {
	case v == "" && required != "":
		return "", required
	case len(v) > maxText:
		return "", fmt.Sprintf("The %s is over %d bytes.", what, maxText)
	}
	return v, ""
}

// done sends the browser to the page an action leaves it on, with the
// action's flash message.
func (s *Server) done(w http.ResponseWriter, r *http.Request, path, flash string) {
	http.Redirect(w, r, path+"?done="+flash, http.StatusSeeOther)
}

// actionFailed shows the page of the action with the API's refusal, or
// with its status alone when the page itself cannot be read.
func (s *Server) actionFailed(w http.ResponseWriter, r *http.Request, ss *session, err error,
	page func(http.ResponseWriter, *http.Request, *session, int, string)) {
	var ae *api.Error
	if !errors.As(err, &ae) {
		s.renderAPIError(w, r, ss, err)
		return
	}
	page(w, r, ss, ae.StatusCode, ae.Message)
}
