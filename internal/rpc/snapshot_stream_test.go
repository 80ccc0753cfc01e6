package rpc

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

// streamingBackupCluster writes a backup's header line, waits until the
// test has read it, then fails or writes the rest.
type streamingBackupCluster struct {
	fakeCluster
	read chan struct{} // closed by the test once it got the first line
	fail bool
}

func (c *streamingBackupCluster) SaveBackup(w io.Writer) error {
	if _, err := io.WriteString(w, "header\n"); err != nil {
		return err
	}
	select {
	case <-c.read:
	case <-time.After(30 * time.Second):
		return errors.New("the client never got the first line: the backup was not streamed")
	}
	if c.fail {
		return errors.New("disk read error")
	}
	_, err := io.WriteString(w, "the rest\n")
	return err
}

// TestSnapshotSaveStreams: GET /v1/snapshot sends the backup as it is
// written, not once it is whole (a client reads its first line while the
// rest is still being written), and a backup that fails half-way cuts the
// answer so the client cannot take it for a whole one.
func TestSnapshotSaveStreams(t *testing.T) {
	for _, fail := range []bool{false, true} {
		c := &streamingBackupCluster{fakeCluster: fakeCluster{leader: "node1"}, read: make(chan struct{}), fail: fail}
		ts := serveWithTimeouts(NewServer(Config{Cluster: c, Store: newTestFSM(t).f}), 30*time.Second, 30*time.Second)
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Get(ts.URL + "/v1/snapshot")
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		line, err := br.ReadString('\n')
		close(c.read)
		if err != nil || line != "header\n" || resp.StatusCode != http.StatusOK {
			t.Fatalf("first line of the backup = %d %q, %v", resp.StatusCode, line, err)
		}
		rest, err := io.ReadAll(br)
		resp.Body.Close()
		ts.Close()
		switch {
		case !fail && (err != nil || string(rest) != "the rest\n"):
			t.Errorf("rest of the backup = %q, %v; want the rest", rest, err)
		case fail && err == nil:
			t.Errorf("a backup that failed half-way read as whole: %q", rest)
		}
	}
}
