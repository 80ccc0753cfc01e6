package target

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// healthInterval is how long WaitHealthy waits between two GETs of a URL
// that did not answer 2xx.
const healthInterval = 250 * time.Millisecond

// healthAttemptMax bounds one health check GET, so a server that hangs is
// asked again.
const healthAttemptMax = 5 * time.Second

// checkClient makes the reload and health check requests. It follows no
// redirect: a reload must reach the server the bundle went to, and a
// health check answered by another server (a login page, another node)
// says nothing about it.
var checkClient = &http.Client{CheckRedirect: noRedirect}

// Reload POSTs to a server's reload URL after an apply and expects a 2xx
// answer, within ctx (Reload sets no timeout of its own). The error names
// the URL and the status and start of the body, or the connection error.
func Reload(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, http.NoBody)
	if err != nil {
		return fmt.Errorf("reload %s: %w", redact(url), err)
	}
	resp, err := checkClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload %s: %w", redact(url), unwrapURLError(err))
	}
	detail := readDetail(resp)
	if err := redirected(resp); err != nil {
		return fmt.Errorf("reload %s: %w", redact(url), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("reload %s: %s", redact(url), detail)
	}
	return nil
}

// WaitHealthy GETs every URL, each every 250ms until it answers 2xx once,
// all within timeout (0 or less: until ctx ends). The error names every
// URL that never answered 2xx and the last status or error it gave.
func WaitHealthy(ctx context.Context, urls []string, timeout time.Duration) error {
	if len(urls) == 0 {
		return nil
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() { errs[i] = waitHealthy(ctx, u, timeout) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitHealthy polls one URL until it answers 2xx or ctx ends.
func waitHealthy(ctx context.Context, url string, timeout time.Duration) error {
	last := "no answer yet"
	for attempt := 1; ; attempt++ {
		ok, answer, err := healthGet(ctx, url)
		if err != nil {
			return fmt.Errorf("health check %s: %w", redact(url), err)
		}
		if ok {
			return nil
		}
		if answer != "" {
			last = answer
		}
		t := time.NewTimer(healthInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			within := ""
			if timeout > 0 {
				within = " within " + timeout.String()
			}
			return fmt.Errorf("health check %s: not healthy%s after %d attempts (last: %s): %w",
				redact(url), within, attempt, last, ctx.Err())
		case <-t.C:
		}
	}
}

// healthGet makes one GET; it reports a 2xx answer, or describes what came
// instead ("" when the attempt was cut short by ctx ending). An error is a
// URL that no retry can fix.
func healthGet(ctx context.Context, url string) (bool, string, error) {
	actx, cancel := context.WithTimeout(ctx, healthAttemptMax)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, url, nil)
	if err != nil {
		return false, "", err
	}
	resp, err := checkClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, "", nil
		}
		return false, unwrapURLError(err).Error(), nil
	}
	detail := readDetail(resp)
	if err := redirected(resp); err != nil {
		return false, err.Error(), nil
	}
	return resp.StatusCode >= 200 && resp.StatusCode <= 299, detail, nil
}
