package relay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// checkHost says why host is neither an IP address (IPv6 bare, without
// brackets; a zone such as %eth0 allowed) nor a DNS name, or nil. It checks
// syntax only: whether a name resolves is for the dial to find out, since
// names change and a tunnel's local service may not resolve yet at start.
//
// A DNS name is dot-separated labels of 1-63 letters, digits, hyphens and
// underscores, not starting or ending with a hyphen, 253 bytes at most, with
// an optional final dot. Underscores are not allowed in host names (RFC
// 1123) but are in DNS names, Go's resolver accepts them, and container
// platforms name services with them (Docker Compose's my_db), so a name
// that would resolve is not refused. A name whose last label is all digits
// (999.1.1.1, 10.1) is not one: it can only be a mistyped IPv4 address.
func checkHost(host string) error {
	if host == "" {
		return errors.New("empty")
	}
	if strings.ContainsAny(host, ":%") {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("not an IPv6 address: %v", err)
		}
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	name := strings.TrimSuffix(host, ".")
	if len(name) > 253 {
		return errors.New("longer than 253 bytes")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return errors.New("an empty label (two dots, or a dot at the start)")
		case len(l) > 63:
			return fmt.Errorf("label %q is longer than 63 bytes", l)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Errorf("label %q starts or ends with a hyphen", l)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%q is not a letter, digit, hyphen or underscore", r)
			}
		}
	}
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return errors.New("not an IP address, and a DNS name cannot end in a number")
	}
	return nil
}

// hostSetting checks a setting that is a bare host (public_bind,
// public_host) and returns it as net.JoinHostPort wants it: an IPv6 address
// given in brackets loses them.
func hostSetting(key, v string) (string, error) {
	host := v
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if !strings.Contains(host, ":") {
			return "", configErr(key, "%q: only IPv6 addresses go in brackets", v)
		}
	}
	if err := checkHost(host); err != nil {
		return "", configErr(key, "%q is not an IP address or a DNS name: %v", v, err)
	}
	return host, nil
}

// checkLocal checks a tunnel's local address: host:port with a host as
// checkHost wants it (or empty: this host) and a numeric port 1-65535.
func checkLocal(local string) error {
	host, port, err := net.SplitHostPort(local)
	if err != nil {
		return fmt.Errorf("%q is not host:port (IPv6 in brackets: [::1]:5432): %v", local, err)
	}
	if port == "" {
		return fmt.Errorf("local address %q has no port", local)
	}
	n, err := strconv.Atoi(port)
	switch {
	case err != nil:
		return fmt.Errorf("local port %q is not a number 1-65535", port)
	case n < 1 || n > 65535:
		return fmt.Errorf("local port %d is not 1-65535", n)
	}
	if host != "" {
		if err := checkHost(host); err != nil {
			return fmt.Errorf("local host %q is not an IP address or a DNS name: %v", host, err)
		}
	}
	return nil
}
