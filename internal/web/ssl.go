package web

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/config"
)

// acmeCAName names the ACME CA at directory for the dashboard.
func acmeCAName(directory string) string {
	switch directory {
	case "", config.LetsEncryptProduction:
		return "Let's Encrypt"
	case config.LetsEncryptStaging:
		return "Let's Encrypt's staging CA (test certificates browsers do not trust)"
	}
	if u, err := url.Parse(directory); err == nil && u.Host != "" {
		return "the ACME CA at " + u.Host
	}
	return "the configured ACME CA"
}

// sslIssuers is the Security tab's SSL/TLS row: which issuer certifies
// which of the service's custom domains. Internal names (*.localhost,
// *.test, …) are certified by rampart's internal CA, which no public CA
// can stand in for, so the row must not promise Let's Encrypt for them.
func sslIssuers(acmeCA string, domains []*rampart.Domain) []string {
	var public, internal, uploaded []string
	for _, d := range domains {
		switch {
		case d.TLSMode == rampart.TLSCustom:
			uploaded = append(uploaded, d.Name)
		case d.TLSMode != rampart.TLSManaged:
		case rampart.IsInternalName(d.Name):
			internal = append(internal, d.Name)
		default:
			public = append(public, d.Name)
		}
	}
	if len(public)+len(internal)+len(uploaded) == 0 {
		return []string{"Custom domains get certificates from " + acmeCA + ", issued as soon as DNS shows the name is this service's and renewed well before they expire. Internal names (under .localhost, .test, .internal, …) get one from rampart's internal CA."}
	}
	var out []string
	if len(public) > 0 {
		out = append(out, "From "+acmeCA+" for "+someNames(public)+": issued as soon as DNS shows the name is this service's, renewed well before they expire.")
	}
	if len(internal) > 0 {
		out = append(out, "From rampart's internal CA for "+someNames(internal)+": internal names, which no public CA certifies; browsers trust them once the CA (/ca.pem) is installed.")
	}
	if len(uploaded) > 0 {
		out = append(out, "Your uploaded certificate for "+someNames(uploaded)+".")
	}
	return out
}

// someNames lists up to three names, and counts the rest.
func someNames(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:3], ", ") + " and " + strconv.Itoa(len(names)-3) + " more"
}
