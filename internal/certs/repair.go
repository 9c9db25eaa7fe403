package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/caddyserver/certmagic"
)

// inspect looks at the stored certificate, key and metadata of d before
// certmagic loads them. If they are there but unusable (truncated by a full
// disk, edited by hand, a bad restore), they are moved to
// <Dir>/quarantine/<time>-<name> so that the certificate is obtained anew
// and the evidence is kept; the returned path says where. Files that are
// simply missing are left to certmagic, which obtains a new certificate.
// A file that cannot be read at all is an error: moving it would not fix
// its permissions.
func (m *Manager) inspect(ctx context.Context, d *domain) (string, error) {
	ik := d.cm.Issuers[0].IssuerKey()
	load := func(key string) ([]byte, bool, error) {
		b, err := m.storage.Load(ctx, key)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading %s: %w (check the owner and permissions of %s)", m.storage.Filename(key), err, m.cfg.Dir)
		}
		return b, true, nil
	}
	certPEM, ok, err := load(certmagic.StorageKeys.SiteCert(ik, d.name))
	if !ok || err != nil {
		return "", err
	}
	keyPEM, ok, err := load(certmagic.StorageKeys.SitePrivateKey(ik, d.name))
	if !ok || err != nil {
		return "", err
	}
	meta, ok, err := load(certmagic.StorageKeys.SiteMeta(ik, d.name))
	if !ok || err != nil {
		return "", err
	}
	var problem error
	if err := checkChain(certPEM); err != nil {
		problem = err
	} else if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		problem = err
	} else if !json.Valid(meta) {
		problem = errors.New("the metadata file is not valid JSON")
	}
	if problem == nil {
		return "", nil
	}
	src := m.storage.Filename(certmagic.StorageKeys.CertsSitePrefix(ik, d.name))
	dst := unique(filepath.Join(m.cfg.Dir, "quarantine", stamp()+"-"+certmagic.StorageKeys.Safe(d.name)))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", fmt.Errorf("the stored certificate for %s is corrupt (%v) and cannot be moved aside: %w", d.name, problem, err)
	}
	if err := os.Rename(src, dst); err != nil {
		return "", fmt.Errorf("the stored certificate for %s is corrupt (%v) and cannot be moved aside: %w", d.name, problem, err)
	}
	m.log.Warn("a stored certificate was corrupt; moved it to quarantine and obtaining a new one",
		"domain", d.name, "problem", problem.Error(), "moved_to", dst)
	return dst, nil
}

// checkChain parses every certificate in a PEM chain. certmagic (like
// tls.X509KeyPair) only parses the leaf, so a truncated file whose leaf
// survived would otherwise be served with a broken intermediate.
func checkChain(certPEM []byte) error {
	rest := certPEM
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		n++
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("block %d of the certificate file is a %q, not a certificate", n, b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d in the file: %v", n, err)
		}
	}
	if n == 0 {
		return errors.New("the certificate file holds no PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return fmt.Errorf("the certificate file has unreadable data after certificate %d", n)
	}
	return nil
}

// Reset is `rampart ssl reset`: it moves certificate storage aside and
// issues again. With name "", the whole storage (certificates, the ACME
// account, OCSP staples) moves to <Dir>/storage.old-<time> and every
// managed and internal domain is issued anew, under a new ACME account;
// with a name, only that name's certificates move (to the same kind of
// directory) and only it is issued anew. The internal CA's root is kept,
// so browsers that trust it keep trusting the new leaves.
//
// Reset cancels attempts in flight for the affected names, returns once
// the files are moved and the new attempts are scheduled, and reports
// where the files went ("" if there was nothing to move). Handshakes for
// the affected names fail until their new certificates arrive, usually a
// few seconds; uploaded certificates are not affected.
func (m *Manager) Reset(ctx context.Context, name string) (string, error) {
	if name != "" {
		n, err := normalize(name)
		if err != nil {
			return "", fmt.Errorf("reset %q: %w", name, err)
		}
		name = n
	}
	affects := func(d *domain) bool { return name == "" || d.name == name }

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", errors.New("certs: manager is closed")
	}
	m.paused++
	var waits []chan struct{}
	for _, d := range m.domains {
		if affects(d) && d.running {
			d.cancel()
			waits = append(waits, d.done)
		}
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.paused--
		m.mu.Unlock()
		m.poke()
	}()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}

	moved := ""
	if name == "" {
		if _, err := os.Stat(m.dir); err == nil {
			moved = unique(m.dir + ".old-" + stamp())
			if err := os.Rename(m.dir, moved); err != nil {
				return "", fmt.Errorf("reset: moving %s aside: %w", m.dir, err)
			}
		}
	} else {
		for _, ik := range []string{m.acme.Issuers[0].IssuerKey(), m.ca.IssuerKey()} {
			rel := certmagic.StorageKeys.CertsSitePrefix(ik, name)
			src := m.storage.Filename(rel)
			if _, err := os.Stat(src); err != nil {
				continue
			}
			if moved == "" {
				moved = unique(m.dir + ".old-" + stamp())
			}
			dst := filepath.Join(moved, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return "", fmt.Errorf("reset %q: %w", name, err)
			}
			if err := os.Rename(src, dst); err != nil {
				return "", fmt.Errorf("reset: moving %s aside: %w", src, err)
			}
		}
	}

	now := time.Now()
	var changed []string
	m.mu.Lock()
	for _, d := range m.domains {
		if !affects(d) || (d.mode != ModeManaged && d.mode != ModeInternal) {
			continue
		}
		if s := d.served.Swap(nil); s != nil {
			m.cache.Remove([]string{s.hash})
		}
		d.failures = 0
		d.next = now
		d.st = Status{Name: d.name, Mode: d.mode, State: StateIssuing, Updated: now}
		d.expect()
		changed = append(changed, d.name)
	}
	m.mu.Unlock()
	m.log.Info("certificate storage moved aside; obtaining certificates again",
		"domain", name, "moved_to", moved, "domains", len(changed))
	m.notify(changed...)
	return moved, nil
}

func stamp() string { return time.Now().UTC().Format("20060102T150405Z") }

// unique returns path, or path-2, path-3… if it exists.
func unique(path string) string {
	p := path
	for i := 2; ; i++ {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p
		}
		p = path + "-" + strconv.Itoa(i)
	}
}
