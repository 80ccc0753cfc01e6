package gossipkey

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, Size)
	enc := base64.StdEncoding.EncodeToString(key)
	for _, c := range []struct {
		name    string
		in      string
		wantErr string // a part of the error; "" for none
	}{
		{"plain", enc, ""},
		{"surrounding whitespace", "\n  " + enc + "\r\n\t", ""},
		{"empty", "", "is empty"},
		{"only whitespace", " \n\t", "is empty"},
		{"not base64", "not*base64!" + enc[11:], "is not base64"},
		{"inner whitespace", enc[:10] + " " + enc[10:], "is not base64"},
		{"unpadded", strings.TrimRight(enc, "="), "is not base64"},
		{"16 bytes", base64.StdEncoding.EncodeToString(key[:16]), "16 bytes"},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(key, 1)), "33 bytes"},
		{"two keys", enc + "\n" + enc, "is not base64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse([]byte(c.in))
			if c.wantErr == "" {
				if err != nil || !bytes.Equal(got, key) {
					t.Fatalf("Parse(%q) = %x, %v; want the key", c.in, got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Parse(%q) error = %v; want one saying %q", c.in, err, c.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) error %v does not match ErrInvalid", c.in, err)
			}
			if trimmed := strings.TrimSpace(c.in); len(trimmed) > 8 && strings.Contains(err.Error(), trimmed[:8]) {
				t.Errorf("Parse error %q quotes the text it was given", err)
			}
		})
	}
}

func TestNewEncodeFingerprint(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New()
	if a == b {
		t.Fatalf("New() returned %q twice", a)
	}
	key, err := Parse([]byte(a))
	if err != nil {
		t.Fatalf("Parse(New()) = %v", err)
	}
	if Encode(key) != a {
		t.Errorf("Encode(Parse(%q)) = %q", a, Encode(key))
	}
	fp := Fingerprint(key)
	if len(fp) != 16 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Errorf("Fingerprint = %q; want 16 lowercase hex digits", fp)
	}
	// The SHA-256 of 32 zero bytes starts 66687aadf862bd77.
	if got := Fingerprint(make([]byte, Size)); got != "66687aadf862bd77" {
		t.Errorf("Fingerprint(zeros) = %q; want 66687aadf862bd77", got)
	}
	if Fingerprint(key) == Fingerprint(make([]byte, Size)) || strings.Contains(a, fp) {
		t.Errorf("Fingerprint(%q) = %q", a, fp)
	}
}
