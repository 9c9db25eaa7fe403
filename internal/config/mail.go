package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/internal/dnscheck"
)

// RelayOn reports whether the SMTP relay runs: mail.domain is set.
func (c *Config) RelayOn() bool { return c.Mail.Domain != "" }

func (c *Config) validateRelay() error {
	m := &c.Mail
	for _, r := range m.Resolvers {
		if _, err := dnscheck.ParseResolver(r); err != nil {
			return fmt.Errorf("mail.resolvers: %v", err)
		}
	}
	if m.Domain == "" {
		return nil
	}
	if err := validateDomain(m.Domain); err != nil {
		return fmt.Errorf("mail.domain: %v", err)
	}
	if len(m.Listen) == 0 {
		return errors.New("mail.listen: the relay needs an address, e.g. 127.0.0.1:587 (or leave mail.domain empty to turn the relay off)")
	}
	public := ""
	for _, l := range m.Listen {
		host, port, err := net.SplitHostPort(l)
		if err != nil {
			return fmt.Errorf("mail.listen: %q is not ip:port or interface:port (e.g. 127.0.0.1:587, docker0:587)", l)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("mail.listen: %q: port %q is not a number from 0 to 65535", l, port)
		}
		if host == "" {
			public = l
			continue
		}
		if a, err := netip.ParseAddr(host); err == nil && !a.IsLoopback() && !a.IsPrivate() {
			public = l
		}
	}
	if public != "" && len(m.IdentifyByAddress) > 0 {
		return fmt.Errorf("mail.identify_by_address: the relay listens on %s, which the internet may reach, so every service must log in (AUTH): leave mail.identify_by_address empty or listen on private addresses only", public)
	}
	if _, err := parseMailNetworks("mail.allowed_networks", m.AllowedNetworks, nil); err != nil {
		return err
	}
	if _, err := parseMailNetworks("mail.identify_by_address", m.IdentifyByAddress, nil); err != nil {
		return err
	}
	if len(m.AllowedNetworks) == 0 {
		return errors.New("mail.allowed_networks: empty would refuse every client: give the private networks your services send from, e.g. 127.0.0.0/8,docker0")
	}
	for _, n := range []struct {
		key string
		v   int
		min int
	}{
		{"mail.per_hour", m.PerHour, 1},
		{"mail.max_message_bytes", m.MaxMessageBytes, 1024},
		{"mail.max_recipients", m.MaxRecipients, 1},
		{"mail.bulk_recipients", m.BulkRecipients, 1},
		{"mail.same_body_limit", m.SameBodyLimit, 1},
		{"mail.violations_to_suspend", m.ViolationsToSuspend, 1},
		{"mail.mx_port", m.MXPort, 1},
	} {
		if n.v < n.min {
			return fmt.Errorf("%s: %d is less than %d", n.key, n.v, n.min)
		}
	}
	if m.MXPort > 65535 {
		return fmt.Errorf("mail.mx_port: %d is not a port", m.MXPort)
	}
	if m.Queue.Lifetime < 0 || (m.Queue.Lifetime > 0 && m.Queue.Lifetime < time.Minute) {
		return fmt.Errorf("mail.queue.lifetime: %s is too short to ride out a receiver's restart: use at least 1m (the default is 120h)", m.Queue.Lifetime)
	}
	return nil
}

// interfaceNets returns an interface's IPv4 and IPv6 networks, or
// ok=false when it does not exist. A variable for tests.
var interfaceNets = func(name string) (nets []netip.Prefix, ok bool) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, false
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, false
	}
	for _, a := range addrs {
		if ipn, isNet := a.(*net.IPNet); isNet {
			if p, err := netip.ParsePrefix(ipn.String()); err == nil {
				nets = append(nets, p)
			}
		}
	}
	return nets, true
}

// parseMailNetworks reads CIDRs, IPs and interface names. With resolve nil
// an interface name is only checked for shape; otherwise it is replaced by
// its networks (nothing when it does not exist: Docker may come later).
func parseMailNetworks(key string, list []string, resolve func(string) ([]netip.Prefix, bool)) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if !validInterfaceName(s) {
			return nil, fmt.Errorf("%s: %q is not a CIDR, an IP or a network interface name", key, s)
		}
		if resolve != nil {
			if nets, ok := resolve(s); ok {
				for _, n := range nets {
					out = append(out, n.Masked())
				}
			}
		}
	}
	return out, nil
}

func validInterfaceName(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.@", r)) {
			return false
		}
	}
	return true
}

// RelayNetworks returns mail.allowed_networks and mail.identify_by_address
// with interface names replaced by the interfaces' networks as they are now.
func (c *Config) RelayNetworks() (allowed, identify []netip.Prefix, err error) {
	if allowed, err = parseMailNetworks("mail.allowed_networks", c.Mail.AllowedNetworks, interfaceNets); err != nil {
		return nil, nil, err
	}
	identify, err = parseMailNetworks("mail.identify_by_address", c.Mail.IdentifyByAddress, interfaceNets)
	return allowed, identify, err
}

// RelayListen returns the relay's listen addresses with interface names
// replaced by the interface's first IPv4 address; skipped lists the
// entries whose interface does not exist (no Docker bridge on this host).
func (c *Config) RelayListen() (addrs, skipped []string) {
	for _, l := range c.Mail.Listen {
		host, port, err := net.SplitHostPort(l)
		if err != nil {
			continue // Validate refused it
		}
		if host == "" || host == "localhost" {
			addrs = append(addrs, l)
			continue
		}
		if _, err := netip.ParseAddr(host); err == nil {
			addrs = append(addrs, l)
			continue
		}
		nets, ok := interfaceNets(host)
		found := false
		for _, n := range nets {
			if ok && n.Addr().Is4() {
				addrs = append(addrs, net.JoinHostPort(n.Addr().String(), port))
				found = true
				break
			}
		}
		if !found {
			skipped = append(skipped, l)
		}
	}
	return addrs, skipped
}
