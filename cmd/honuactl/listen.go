package main

// `honuactl notifications listen`: a webhook receiver for honuad's
// notifications, to see them arrive while trying routes (make run starts
// one). It checks the signature as any receiver should, prints one line
// per delivery, and marks a delivery id it has already seen.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
)

// maxNotificationBody bounds a delivery's body.
const maxNotificationBody = 1 << 20

// maxSeenDeliveries bounds the delivery ids the receiver remembers.
const maxSeenDeliveries = 10000

func (a *app) listenCommand() *cli.Command {
	return &cli.Command{Name: "listen", Usage: "receive notifications of a webhook channel and print them, checking their signature",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen-addr", Value: "127.0.0.1:7500", Usage: "address to receive on"},
			&cli.StringFlag{Name: "secret-file", Usage: "file holding the channel's secret: deliveries without its signature are refused (401)"},
		},
		Action: a.listen}
}

// notificationBody is what the receiver prints of a webhook delivery.
type notificationBody struct {
	ID           string `json:"id"`
	Event        string `json:"event"`
	DeploymentID string `json:"deploymentId"`
	Environment  string `json:"environment"`
	Commit       string `json:"commit"`
	State        string `json:"state"`
	Actor        string `json:"actor"`
	Reason       string `json:"reason"`
}

func (a *app) listen(c *cli.Context) error {
	var secret []byte
	if f := c.String("secret-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return usagef("--secret-file: %v", err)
		}
		if secret = []byte(strings.TrimSpace(string(b))); len(secret) == 0 {
			return usagef("--secret-file %s holds no secret", f)
		}
	}
	ln, err := net.Listen("tcp", c.String("listen-addr"))
	if err != nil {
		return err
	}
	r := &receiver{out: a.s.stdout, secret: secret, seen: map[string]bool{}, now: a.s.now}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	fmt.Fprintf(a.s.stdout, "listening on http://%s/ for notifications (Ctrl-C stops)\n", ln.Addr())
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-c.Context.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	err = srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// receiver answers each delivery and prints it.
type receiver struct {
	out    io.Writer
	secret []byte
	now    func() time.Time
	mu     sync.Mutex
	seen   map[string]bool
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST notifications here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxNotificationBody))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if r.secret != nil {
		if !api.ValidNotificationSignature(r.secret, body, req.Header.Get(api.NotificationSignatureHeader)) {
			r.print("refused a delivery without a valid signature from %s", req.RemoteAddr)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
	}
	var n notificationBody
	if err := json.Unmarshal(body, &n); err != nil {
		http.Error(w, "not a notification: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := req.Header.Get("X-Honua-Delivery")
	r.mu.Lock()
	dup := r.seen[id]
	if !dup && len(r.seen) < maxSeenDeliveries {
		r.seen[id] = true
	}
	r.mu.Unlock()
	line := fmt.Sprintf("%s %s %s (%s, %s)", req.Header.Get("X-Honua-Event"), n.DeploymentID, n.Environment, n.State, shortSHA(n.Commit))
	if n.Actor != "" {
		line += " by " + n.Actor
	}
	if n.Reason != "" {
		line += ": " + oneLine(n.Reason)
	}
	line += " [delivery " + id + "]"
	if dup {
		line += " (again: a duplicate of a delivery already received)"
	}
	r.print("%s", line)
	w.WriteHeader(http.StatusNoContent)
}

// print writes one escaped line with the time.
func (r *receiver) print(format string, args ...any) {
	now := time.Now
	if r.now != nil {
		now = r.now
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, "%s %s\n", now().Format("15:04:05"), escapeCell(fmt.Sprintf(format, args...)))
}
