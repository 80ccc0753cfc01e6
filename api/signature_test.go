package api

import (
	"strings"
	"testing"
)

func TestValidNotificationSignature(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"id":"production-3.ApprovalRequired.hook"}`)
	// echo -n '{"id":"production-3.ApprovalRequired.hook"}' | openssl dgst -sha256 -hmac s3cret
	const hexSig = "b878dcb0def9035a7c561c054df426b4f7fea27a2bf18a2201291352cfc6d89f"
	for _, tt := range []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   bool
	}{
		{"its signature", secret, body, "sha256=" + hexSig, true},
		{"another body", secret, []byte(`{"id":"x"}`), "sha256=" + hexSig, false},
		{"another secret", []byte("other"), body, "sha256=" + hexSig, false},
		{"no prefix", secret, body, hexSig, false},
		{"empty header", secret, body, "", false},
		{"upper-case hex", secret, body, "sha256=" + strings.ToUpper(hexSig), false},
	} {
		if got := ValidNotificationSignature(tt.secret, tt.body, tt.header); got != tt.want {
			t.Errorf("%s: ValidNotificationSignature = %v; want %v", tt.name, got, tt.want)
		}
	}
}
