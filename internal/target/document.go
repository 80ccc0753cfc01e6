package target

// This file holds the http target's document: the JSON body of its PUT,
// which honuad encodes and a target agent (internal/targetagent) decodes.
// docs/targets.md is its contract.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// httpDocument is the body of an http target's PUT.
type httpDocument struct {
	Manifest Manifest          `json:"manifest"`
	Files    map[string]string `json:"files"`
	// FilesEncoding is "base64" when the files are base64, absent when
	// they are text.
	FilesEncoding string `json:"filesEncoding,omitempty"`
}

// encodeDocument returns the JSON document for b.
func encodeDocument(b *Bundle) ([]byte, error) {
	doc := httpDocument{Manifest: b.Manifest, Files: make(map[string]string, len(b.Files))}
	text := true
	for _, data := range b.Files {
		text = text && utf8.Valid(data)
	}
	if !text {
		doc.FilesEncoding = "base64"
	}
	for name, data := range b.Files {
		if text {
			doc.Files[name] = string(data)
		} else {
			doc.Files[name] = base64.StdEncoding.EncodeToString(data)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrBadDocument is matched (errors.Is) by DecodeDocument's errors: the
// request is at fault, not the server.
var ErrBadDocument = errors.New("bad bundle document")

// DecodeDocument is the receiving side of an http target: it decodes the
// JSON document of a PUT into the bundle it carries and checks it against
// the request's fencing token and deployment id headers (their values,
// as sent). The document must be one JSON object with the manifest and at
// least one file; "filesEncoding" is absent or "base64"; the headers must
// name the manifest's token and id; and the bundle must pass Validate (no
// path that leaves the bundle or writes under .honua/). Unknown fields are
// ignored, so that a newer honuad may add some. Every error matches
// ErrBadDocument.
func DecodeDocument(data []byte, tokenHeader, deploymentIDHeader string) (*Bundle, error) {
	bad := func(format string, args ...any) (*Bundle, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadDocument, fmt.Sprintf(format, args...))
	}
	token, err := strconv.ParseUint(tokenHeader, 10, 64)
	if err != nil {
		return bad("header %s: %q is not a fencing token (a decimal number)", FencingTokenHeader, tokenHeader)
	}
	if deploymentIDHeader == "" {
		return bad("header %s is missing", DeploymentIDHeader)
	}
	var doc httpDocument
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return bad("body is not a bundle document: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad("body holds more than one JSON value")
	}
	m := doc.Manifest
	if m.FencingToken != token {
		return bad("header %s is %d but the manifest's fencingToken is %d", FencingTokenHeader, token, m.FencingToken)
	}
	if m.DeploymentID != deploymentIDHeader {
		return bad("header %s is %q but the manifest's deploymentId is %q", DeploymentIDHeader, deploymentIDHeader, m.DeploymentID)
	}
	b := &Bundle{Manifest: m, Files: make(map[string][]byte, len(doc.Files))}
	switch doc.FilesEncoding {
	case "":
		for name, text := range doc.Files {
			b.Files[name] = []byte(text)
		}
	case "base64":
		for name, enc := range doc.Files {
			data, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				return bad("file %q: not standard base64: %v", name, err)
			}
			b.Files[name] = data
		}
	default:
		return bad("filesEncoding %q is not base64 (or absent, for text)", doc.FilesEncoding)
	}
	if err := b.Validate(); err != nil {
		return bad("%v", err)
	}
	return b, nil
}
