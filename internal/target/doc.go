// Package target owns where a bundle goes (docs/domain.md#targets): the directory,
// http and exec targets, fencing on the target side (docs/domain.md#fencing), and the reload and
// health checks that follow an apply.
//
// A Bundle is an environment's files plus its Manifest; every target adds the
// manifest itself as .honua/deployment.json. New builds a Target from a
// Config; Apply sends a bundle, Current says what a target serves.
//
// # Directory targets
//
// For a path /srv/honua/production the target keeps its own area beside the
// path, in the same file system, so every switch is a rename(2):
//
//	/srv/honua/.production.honua/
//	    lock                      while an apply switches: its file, flock(2)ed, naming its token
//	    next-<token>-<nonce>      an apply's new symlink, staged for its switch
//	    state.json                highest fencing token accepted, bundles in switch order
//	    bundles/<id>-<token>/     one complete bundle per apply (Manifest.BundleID)
//	    preexisting-<time>/       what the path held before honua managed it
//	/srv/honua/production -> .production.honua/bundles/<id>-<token>
//
// A bundle is written into a temporary directory under bundles/, every file
// and directory fsynced, then renamed to its final name, so a directory with
// a final name is always complete. The path is a symlink, replaced
// atomically by renaming a new symlink over it. A reader that opens
// <path>/metadata.json always gets a whole file of one bundle, and a reader
// that resolves <path> once reads one complete bundle from there, as long
// as it finishes before Keep more bundles have been switched in (older
// ones are removed after each switch; the one served is always kept).
//
// The first time, when the path is a real directory, it is moved aside into
// .<base>.honua/preexisting-<time> (atomically, with renameat2
// RENAME_EXCHANGE on Linux; elsewhere the path is missing between two
// renames, once) and kept there until an operator removes it; an empty
// directory is simply replaced. A path that is a regular file is refused.
//
// Fencing: state.json records the highest token accepted. Under the lock,
// Apply refuses a lower token with an error matching ErrFenced; an equal
// token is accepted (a retry). The token is recorded before the switch, so
// a deposed leader can never switch in after a newer one was accepted.
//
// The lock: an Apply writes its bundle first, then takes the lock for the
// fencing check, the state file and the switch, across processes: it
// writes its token into a file of its own, flocks it and links it to
// lock, which fails while another apply's is there; a lock file nobody
// flocks (its holder released it or died) is removed by the next apply.
// An Apply waits for the lock at most DefaultLockWait (or until its
// context ends). Then, when the holder's token is lower than its own, it
// breaks the lock: it renames its own file over lock.
// This keeps a process frozen while it holds the lock (a leader paused by
// SIGSTOP, then deposed) from stalling the environment. Fencing keeps it
// safe: before each write, the holder checks that the lock file is still
// the one it locked, and stops with an error matching ErrFenced when a
// newer token broke it. The symlink an apply switches in is first staged
// as next-<token>-<nonce>, then the lock is checked, then the staged name
// is renamed over the path; an apply that broke the lock removes the
// staged names of lower tokens before it switches. So an apply frozen
// between its check and its rename either switched before the newer one
// (the path only moves forwards) or finds its staged name gone and is
// fenced: the path never goes back to an older bundle. An Apply whose
// token is not higher than the holder's gives up after the wait with a retryable error
// naming the holder's token, or a holder that wrote none.
//
// # Http targets
//
// The bundle is PUT as one JSON document:
//
//	{"manifest": {...Manifest...},
//	 "files": {"metadata.json": "<file text>", ...},
//	 "filesEncoding": "base64"}
//
// Files are JSON strings holding the file's text. When any file is not
// valid UTF-8, every file is instead encoded in standard base64 (with
// padding) and "filesEncoding" is "base64"; the field is absent otherwise.
// The request carries X-Honua-Fencing-Token, X-Honua-Deployment-Id and
// X-Honua-Commit and, with a TokenFile, "Authorization: Bearer <token>"
// (the file is read again for each request); with CAFile, CertFile and
// KeyFile an https target checks the server's certificate against that CA
// and presents a client certificate. DecodeDocument is the receiving
// side, which honuad target-agent (internal/targetagent) runs;
// docs/targets.md is the contract.
// 5xx answers and connection errors are retried with exponential backoff
// (200ms doubling, at most 5s) until the context ends, but 507 (no room
// for the bundle: waiting rarely makes room) is not; a 4xx answer is
// never retried, and 409 or 412 means the server refused the fencing token
// (a JSON body {"highestFencingToken": N, ...} with N above the bundle's
// token, as a target agent answers, sets the FencedError's Highest).
// Redirects are never followed, so the bundle and its token reach the
// configured URL and no other: a 3xx answer with a Location is an error
// matching ErrRedirected that names it, and is not retried (the URL is
// wrong until someone changes it).
//
// An http target's server may also say what it holds, for drift checks
// (Digest): the target sends a GET of its URL with
// "Accept: application/vnd.honua.digest+json", and a server that answers
// 200 with
//
//	{"manifest": {...Manifest...}, "files": {"metadata.json": "<sha256 hex>", ...}}
//
// is compared with the bundle deployed. 404, 405, 406 or 501 means the
// server cannot tell (ErrNoDigest); any other answer is an error.
//
// # Digests
//
// A directory target's Digest is the served manifest and the SHA-256 of
// every file under the path but .honua/ (at most MaxDigestFiles files and
// MaxDigestBytes bytes). Exec targets have no Digest: they cannot tell
// what the command did with a bundle.
//
// # Reload and health checks
//
// Reload POSTs a reload URL once and wants a 2xx answer; WaitHealthy GETs
// each health check URL until it answers 2xx or the timeout ends. Neither
// follows a redirect: a reload must reach the server the bundle went to,
// and a redirect answered by another server says nothing about it. A
// redirected reload fails at once, naming the Location; a redirected
// health check is not healthy, like any answer that is not 2xx, and its
// error names the Location.
//
// # Exec targets
//
// The command runs with the bundle written to a temporary directory, which
// is removed when the command exits. Its environment is honuad's plus
// HONUA_BUNDLE_DIR, HONUA_DEPLOYMENT_ID, HONUA_ENVIRONMENT, HONUA_COMMIT,
// HONUA_FENCING_TOKEN and HONUA_KIND. It runs in its own process group,
// killed as a whole when the context ends. An exec target also has a
// LastOutput() string method returning the last 20 lines its last command
// printed (stdout and stderr together), at most their last 4 KiB, for the
// caller to record.
package target
