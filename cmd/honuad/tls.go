package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/internal/certs"
)

// The files honuad tls writes, in --dir.
const (
	caCertFile = "honua-ca.pem"
	caKeyFile  = "honua-ca-key.pem"
)

var (
	// fileNameRE is what a node's or client's name must look like: it is
	// part of a file name.
	fileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// dnsNameRE is a DNS name a certificate may carry, a wildcard first
	// label allowed.
	dnsNameRE = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

func tlsCommand() *cli.Command {
	onUsageError := func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	return &cli.Command{
		Name:  "tls",
		Usage: "create a CA and the certificates of nodes and clients",
		Subcommands: []*cli.Command{{
			Name:  "ca",
			Usage: "manage the certificate authority",
			Subcommands: []*cli.Command{{
				Name:  "create",
				Usage: "write a new CA: " + caCertFile + " and " + caKeyFile,
				Description: "Give " + caCertFile + " to every node and client. " + caKeyFile + " signs certificates:\n" +
					"keep it secret, and off the nodes.",
				OnUsageError: onUsageError,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Value: ".", Usage: "directory to write the files to (created if missing)"},
					&cli.IntFlag{Name: "days", Value: 1825, Usage: "days the CA is valid"},
					&cli.StringFlag{Name: "name", Value: "Honua GitOps CA", Usage: "the CA's common name"},
					&cli.BoolFlag{Name: "force", Usage: "overwrite existing files"},
				},
				Action: createCA,
			}},
		}, {
			Name:  "cert",
			Usage: "manage node and client certificates",
			Subcommands: []*cli.Command{{
				Name:  "create",
				Usage: "write a node's certificate (--server --node NODE) or a client's (--client --name NAME), signed by the CA",
				Description: "A server certificate, server-NODE.pem and server-NODE-key.pem, carries the DNS names\n" +
					certs.ServerName + " and localhost, the IP 127.0.0.1 and those given with --dns and --ip; nodes\n" +
					"serve and dial each other with it. A client certificate, client-NAME.pem and\n" +
					"client-NAME-key.pem, is for honuactl and other API clients and cannot join raft.",
				OnUsageError: onUsageError,
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "server", Usage: "make a node's certificate"},
					&cli.StringFlag{Name: "node", Usage: "the node's id (with --server)"},
					&cli.BoolFlag{Name: "client", Usage: "make a client's certificate"},
					&cli.StringFlag{Name: "name", Usage: "the client's name (with --client)"},
					&cli.StringSliceFlag{Name: "dns", Usage: "a DNS name clients reach the node by (repeatable)"},
					&cli.StringSliceFlag{Name: "ip", Usage: "an IP address clients reach the node at (repeatable)"},
					&cli.IntFlag{Name: "days", Value: 365, Usage: "days the certificate is valid"},
					&cli.StringFlag{Name: "ca", Usage: "the CA certificate", DefaultText: "DIR/" + caCertFile},
					&cli.StringFlag{Name: "ca-key", Usage: "the CA key", DefaultText: "DIR/" + caKeyFile},
					&cli.StringFlag{Name: "dir", Value: ".", Usage: "directory to write the files to (created if missing)"},
					&cli.BoolFlag{Name: "force", Usage: "overwrite existing files"},
				},
				Action: createCert,
			}},
		}},
	}
}

func createCA(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("tls ca create takes no arguments, got %q", c.Args().Slice())}
	}
	days, err := days(c)
	if err != nil {
		return err
	}
	if c.String("name") == "" {
		return usageError{errors.New("--name is empty: the CA needs a name")}
	}
	certPEM, keyPEM, err := certs.CreateCA(c.String("name"), days)
	if err != nil {
		return err
	}
	dir := c.String("dir")
	if err := writeFiles(dir, c.Bool("force"), []outFile{
		{caCertFile, certPEM, 0o644}, {caKeyFile, keyPEM, 0o600},
	}); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Wrote %s: give it to every node and client.\n", filepath.Join(dir, caCertFile))
	fmt.Fprintf(c.App.Writer, "Wrote %s: it signs certificates; keep it secret, and off the nodes.\n", filepath.Join(dir, caKeyFile))
	return nil
}

func createCert(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("tls cert create takes no arguments, got %q", c.Args().Slice())}
	}
	opts, prefix, err := certOptions(c)
	if err != nil {
		return err
	}
	dir := c.String("dir")
	caPath, caKeyPath := c.String("ca"), c.String("ca-key")
	if caPath == "" {
		caPath = filepath.Join(dir, caCertFile)
	}
	if caKeyPath == "" {
		caKeyPath = filepath.Join(dir, caKeyFile)
	}
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return fmt.Errorf("--ca: %w", err)
	}
	caKeyPEM, err := os.ReadFile(caKeyPath)
	if err != nil {
		return fmt.Errorf("--ca-key: %w", err)
	}
	certPEM, keyPEM, err := certs.CreateCert(caPEM, caKeyPEM, opts)
	if errors.Is(err, certs.ErrOutlivesCA) {
		return usageError{fmt.Errorf("--days %d: %w", c.Int("days"), err)}
	}
	if err != nil {
		return fmt.Errorf("%w (--ca %s, --ca-key %s)", err, caPath, caKeyPath)
	}
	name := prefix + "-" + opts.Name
	if err := writeFiles(dir, c.Bool("force"), []outFile{
		{name + ".pem", certPEM, 0o644}, {name + "-key.pem", keyPEM, 0o600},
	}); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Wrote %s and %s, valid until %s.\n", filepath.Join(dir, name+".pem"),
		filepath.Join(dir, name+"-key.pem"), time.Now().Add(opts.Validity).UTC().Format(time.DateOnly))
	return nil
}

// certOptions reads tls cert create's flags: the certificate to make, and
// the prefix of its files (server or client).
func certOptions(c *cli.Context) (certs.CertOptions, string, error) {
	var o certs.CertOptions
	var err error
	if o.Validity, err = days(c); err != nil {
		return o, "", err
	}
	prefix := "server"
	switch server, client := c.Bool("server"), c.Bool("client"); {
	case server == client:
		return o, "", usageError{errors.New("choose --server or --client")}
	case server:
		if c.IsSet("name") {
			return o, "", usageError{errors.New("--name names a client; a server is named with --node")}
		}
		o.Server, o.Name = true, c.String("node")
		if o.Name == "" {
			return o, "", usageError{errors.New("--server needs --node: the node's id")}
		}
		if !fileNameRE.MatchString(o.Name) {
			return o, "", usageError{fmt.Errorf("--node %q: use letters, digits, '.', '_' and '-' (it names the files)", o.Name)}
		}
	default:
		if c.IsSet("node") {
			return o, "", usageError{errors.New("--node names a server; a client is named with --name")}
		}
		o.Client, o.Name, prefix = true, c.String("name"), "client"
		if o.Name == "" {
			return o, "", usageError{errors.New("--client needs --name: the client's name")}
		}
		if !fileNameRE.MatchString(o.Name) {
			return o, "", usageError{fmt.Errorf("--name %q: use letters, digits, '.', '_' and '-' (it names the files)", o.Name)}
		}
	}
	for _, d := range c.StringSlice("dns") {
		if !dnsNameRE.MatchString(d) {
			return o, "", usageError{fmt.Errorf("--dns %q is not a DNS name", d)}
		}
		o.DNS = append(o.DNS, d)
	}
	for _, s := range c.StringSlice("ip") {
		ip := net.ParseIP(s)
		if ip == nil {
			return o, "", usageError{fmt.Errorf("--ip %q is not an IP address", s)}
		}
		o.IPs = append(o.IPs, ip)
	}
	return o, prefix, nil
}

func days(c *cli.Context) (time.Duration, error) {
	d := c.Int("days")
	if d <= 0 || d > 100*365 {
		return 0, usageError{fmt.Errorf("--days %d: give a number of days from 1 to 36500", d)}
	}
	return time.Duration(d) * 24 * time.Hour, nil
}

// outFile is a file honuad tls writes.
type outFile struct {
	name string
	data []byte
	mode fs.FileMode
}

// writeFiles writes files into dir, creating it if missing, each whole or
// not at all: to a temporary file, then linked to its name (which fails
// when the name exists) or, with force, renamed over it. Without force,
// an existing file refuses them all before any is written, and files
// already written are removed when a later one fails.
func writeFiles(dir string, force bool, files []outFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if !force {
		for _, f := range files {
			p := filepath.Join(dir, f.name)
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s exists; remove it, or give --force to overwrite it", p)
			}
		}
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeFile(p, f.data, f.mode, force); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return err
		}
		if !force {
			written = append(written, p)
		}
	}
	return syncDir(dir)
}

// writeFile writes data to path with mode, atomically: a reader sees the
// old file or the whole new one.
func writeFile(path string, data []byte, mode fs.FileMode, force bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if force {
		return os.Rename(tmp.Name(), path)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists; remove it, or give --force to overwrite it", path)
		}
		return err
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
