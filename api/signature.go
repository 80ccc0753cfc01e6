package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// NotificationSignatureHeader is the header in which a webhook channel
// with a secret signs each notification it delivers.
const NotificationSignatureHeader = "X-Honua-Signature-256"

// ValidNotificationSignature reports whether header, the value of
// X-Honua-Signature-256, is "sha256=" and the hex HMAC-SHA256 of body
// under secret, comparing in constant time: how a receiver of a webhook
// channel checks a delivery came from the cluster (docs/notifications.md).
// Give it the raw body, before any decoding.
func ValidNotificationSignature(secret, body []byte, header string) bool {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(header), []byte(want))
}
