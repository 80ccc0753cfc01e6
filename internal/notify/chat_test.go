package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// chatReceiver stands in for Slack or Teams: it decodes each body strictly
// into a T (unknown keys refused), sends it on got, and answers status.
func chatReceiver[T any](t *testing.T, status int, got chan<- T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q; want application/json", ct)
		}
		body, _ := io.ReadAll(r.Body)
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Errorf("receiver: decode %s: %v", body, err)
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		got <- v
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The payloads as Slack documents them, written here apart from the
// package's own types so that a change of shape fails the test.
type (
	gotSlack struct {
		Text        string `json:"text"`
		Attachments []struct {
			Color    string `json:"color"`
			Fallback string `json:"fallback"`
			Blocks   []struct {
				Type string `json:"type"`
				Text *struct {
					Type, Text string
				} `json:"text"`
				Fields []struct {
					Type, Text string
				} `json:"fields"`
				Elements []struct {
					Type string `json:"type"`
					Text struct{ Type, Text string }
					URL  string `json:"url"`
				} `json:"elements"`
			} `json:"blocks"`
		} `json:"attachments"`
	}
	gotTeams struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Schema  string `json:"$schema"`
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type   string `json:"type"`
					Text   string `json:"text"`
					Size   string `json:"size"`
					Weight string `json:"weight"`
					Color  string `json:"color"`
					Wrap   bool   `json:"wrap"`
					Facts  []struct {
						Title string `json:"title"`
						Value string `json:"value"`
					} `json:"facts"`
				} `json:"body"`
				Actions []struct {
					Type  string `json:"type"`
					Title string `json:"title"`
					URL   string `json:"url"`
				} `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
)

func TestSlackPayload(t *testing.T) {
	got := make(chan gotSlack, 1)
	srv := chatReceiver[gotSlack](t, http.StatusOK, got)
	s, err := NewSlack(SlackConfig{URL: srv.URL + "/services/T000/B000/XXXX"})
	if err != nil {
		t.Fatal(err)
	}
	for event, wantColour := range events {
		m := testMessage(event)
		m.Subject = "Fix <!channel> & <https://evil|click>"
		m.Reason = strings.Repeat("ü", MaxReason) // 2 bytes each: cut
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("%s: Send: %v", event, err)
		}
		p := <-got
		if len(p.Attachments) != 1 {
			t.Fatalf("%s: %d attachments; want 1", event, len(p.Attachments))
		}
		a := p.Attachments[0]
		if a.Color != wantColour {
			t.Errorf("%s: colour %s; want %s", event, a.Color, wantColour)
		}
		if !strings.Contains(p.Text, event) || !strings.Contains(p.Text, "production") || !strings.Contains(p.Text, "d-42") || a.Fallback != p.Text {
			t.Errorf("%s: fallback text %q / %q lacks the event, environment or deployment", event, p.Text, a.Fallback)
		}
		types := []string{}
		for _, b := range a.Blocks {
			types = append(types, b.Type)
		}
		if strings.Join(types, ",") != "header,section,section,actions" {
			t.Fatalf("%s: blocks %v; want header, section (fields), section (reason), actions", event, types)
		}
		if h := a.Blocks[0].Text; h == nil || h.Type != "plain_text" || h.Text != event+" - production" {
			t.Errorf("%s: header %+v", event, h)
		}
		fields := map[string]string{}
		for _, f := range a.Blocks[1].Fields {
			if f.Type != "mrkdwn" || len(f.Text) > 2000 {
				t.Errorf("%s: field %q of type %s, %d bytes", event, f.Text, f.Type, len(f.Text))
			}
			name, value, _ := strings.Cut(f.Text, "\n")
			fields[name] = value
		}
		want := map[string]string{
			"*Deployment*": "d-42", "*Environment*": "production",
			"*Commit*": "9fceb02 Fix &lt;!channel&gt; &amp; &lt;https://evil|click&gt;",
			"*State*":  "AwaitingApproval", "*Risk*": "high", "*Plan*": "3 added, 1 modified, 2 removed, breaking",
			"*Actor*": "alice",
		}
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("%s: field %s = %q; want %q", event, k, fields[k], v)
			}
		}
		if len(fields) != len(want) {
			t.Errorf("%s: fields %v; want %v", event, fields, want)
		}
		reason := a.Blocks[2].Text
		if reason == nil || !strings.HasPrefix(reason.Text, "*Reason*\nüü") || len(reason.Text) > 3000 ||
			strings.Count(reason.Text, "ü") > MaxReason/2 {
			t.Errorf("%s: reason block not cut to %d bytes", event, MaxReason)
		}
		btn := a.Blocks[3].Elements
		if len(btn) != 1 || btn[0].Type != "button" || btn[0].URL != m.URL || btn[0].Text.Type != "plain_text" {
			t.Errorf("%s: actions %+v; want one button to %s", event, btn, m.URL)
		}
	}

	// No link, no actor, no reason: no button and no empty fields.
	m := testMessage("DeploymentStarted")
	m.URL, m.Actor, m.Reason = "", "", ""
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	a := (<-got).Attachments[0]
	if len(a.Blocks) != 2 || a.Blocks[0].Type != "header" || a.Blocks[1].Type != "section" || len(a.Blocks[1].Fields) != 6 {
		t.Errorf("without url, actor and reason: blocks %+v; want header and six fields", a.Blocks)
	}

	// An unknown event is grey.
	if err := s.Send(context.Background(), testMessage("SomethingNew")); err != nil {
		t.Fatal(err)
	}
	if c := (<-got).Attachments[0].Color; c != "#8c959f" {
		t.Errorf("unknown event: colour %s; want #8c959f", c)
	}
}

func TestTeamsPayload(t *testing.T) {
	got := make(chan gotTeams, 1)
	srv := chatReceiver[gotTeams](t, http.StatusAccepted, got)
	s, err := NewTeams(TeamsConfig{URL: srv.URL + "/workflows/abc/triggers/manual/paths/invoke?sig=XXXX"})
	if err != nil {
		t.Fatal(err)
	}
	wantColor := map[string]string{"#1f6feb": "Accent", "#d29922": "Warning", "#2da44e": "Good", "#cf222e": "Attention"}
	for event, c := range events {
		m := testMessage(event)
		m.Reason = strings.Repeat("r", 3*MaxReason)
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("%s: Send: %v", event, err)
		}
		p := <-got
		if p.Type != "message" || len(p.Attachments) != 1 || p.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
			t.Fatalf("%s: envelope %+v", event, p)
		}
		card := p.Attachments[0].Content
		if card.Type != "AdaptiveCard" || card.Version != "1.4" || card.Schema != "http://adaptivecards.io/schemas/adaptive-card.json" {
			t.Errorf("%s: card type %q version %q schema %q", event, card.Type, card.Version, card.Schema)
		}
		if len(card.Body) != 2 || card.Body[0].Type != "TextBlock" || card.Body[1].Type != "FactSet" {
			t.Fatalf("%s: body %+v; want a TextBlock and a FactSet", event, card.Body)
		}
		title := card.Body[0]
		if title.Text != event+" - production" || !title.Wrap || title.Weight != "Bolder" || title.Color != wantColor[c] {
			t.Errorf("%s: title %+v; want colour %s", event, title, wantColor[c])
		}
		facts := map[string]string{}
		for _, f := range card.Body[1].Facts {
			facts[f.Title] = f.Value
		}
		for k, v := range map[string]string{"Deployment": "d-42", "Environment": "production",
			"Commit": "9fceb02 Raise the tile cache to 2 GiB", "State": "AwaitingApproval", "Risk": "high",
			"Plan": "3 added, 1 modified, 2 removed, breaking", "Actor": "alice"} {
			if facts[k] != v {
				t.Errorf("%s: fact %s = %q; want %q", event, k, facts[k], v)
			}
		}
		if r := facts["Reason"]; len(r) > MaxReason || !strings.HasPrefix(r, "rrr") {
			t.Errorf("%s: reason fact is %d bytes; want at most %d", event, len(r), MaxReason)
		}
		if len(card.Actions) != 1 || card.Actions[0].Type != "Action.OpenUrl" || card.Actions[0].URL != m.URL {
			t.Errorf("%s: actions %+v; want one Action.OpenUrl to %s", event, card.Actions, m.URL)
		}
	}
	m := testMessage("Approved")
	m.URL = ""
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if a := (<-got).Attachments[0].Content.Actions; len(a) != 0 {
		t.Errorf("without url: actions %+v; want none", a)
	}
}

// TestHTTPStatuses: every HTTP sender succeeds on 2xx, fails permanently on
// a 4xx other than 408 and 429 and retryably otherwise, and its error
// never shows the secret URL.
func TestHTTPStatuses(t *testing.T) {
	const token = "T0KEN-in-the-url"
	senders := map[string]func(url string) (Sender, error){
		"webhook": func(u string) (Sender, error) { return NewWebhook(WebhookConfig{URL: u, Secret: []byte("s")}) },
		"slack":   func(u string) (Sender, error) { return NewSlack(SlackConfig{URL: u}) },
		"teams":   func(u string) (Sender, error) { return NewTeams(TeamsConfig{URL: u}) },
	}
	statuses := []struct {
		code          int
		ok, permanent bool
	}{
		{200, true, false}, {202, true, false}, {204, true, false},
		{400, false, true}, {403, false, true}, {404, false, true},
		{408, false, false}, {429, false, false}, {500, false, false}, {503, false, false},
	}
	for name, newSender := range senders {
		for _, st := range statuses {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(st.code)
				_, _ = io.WriteString(w, "no_service\nfor "+r.URL.String())
			}))
			url := srv.URL + "/services/" + token + "?token=" + token
			s, err := newSender(url)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), testMessage("Approved"))
			srv.Close()
			if st.ok {
				if err != nil {
					t.Errorf("%s, status %d: %v; want success", name, st.code, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s, status %d: success; want an error", name, st.code)
				continue
			}
			if IsPermanent(err) != st.permanent {
				t.Errorf("%s, status %d: IsPermanent(%v) = %v; want %v", name, st.code, err, IsPermanent(err), st.permanent)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("%s, status %d: error %q shows the url's token", name, st.code, err)
			}
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), strconv.Itoa(st.code)) {
				t.Errorf("%s, status %d: error %q does not name the channel and the status", name, st.code, err)
			}
		}
	}

	// A receiver that is down: retryable, and still no token.
	for name, newSender := range senders {
		s, err := newSender("http://127.0.0.1:1/services/" + token)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), testMessage("Approved"))
		if err == nil || IsPermanent(err) || strings.Contains(err.Error(), token) {
			t.Errorf("%s, receiver down: %v; want a retryable error without the token", name, err)
		}
	}

	// A URL that does not parse: the error does not quote it.
	for name, newSender := range senders {
		if _, err := newSender("https://hooks.example.com/%zz" + token); err == nil || strings.Contains(err.Error(), token) {
			t.Errorf("%s, bad url: %v; want an error without the url", name, err)
		}
	}
}
