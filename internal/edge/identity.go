package edge

import "net/http"

// identityHeaders are request headers that tell an application who the
// client is or how it connected, besides the X-Forwarded- family. The edge
// vouches for none of their values, and an application that believes one
// the client wrote can be made to log, allow or rate-limit the wrong
// address, or to think a plain connection was TLS. Stored in lower case.
var identityHeaders = [...]string{
	"forwarded",
	"x-real-ip",
	"cf-connecting-ip",
	"true-client-ip",
	"x-client-ip",
	"x-cluster-client-ip",
	"fastly-client-ip",
	"client-ip",
	"x-originating-ip",
	"x-original-forwarded-for",
	"front-end-https",
	"x-url-scheme",
}

// forwardedPrefix starts the header family that httputil only partly
// removes (For, Host and Proto): Port, Scheme, Ssl, Server, Prefix and the
// rest are all claims about the client's connection.
const forwardedPrefix = "x-forwarded-"

// dropIdentity removes from h every header in which the client claims an
// identity or a scheme, whatever its case and with '_' for '-': CGI and
// PHP turn X_Real_IP into the same HTTP_X_REAL_IP variable as X-Real-IP.
// It walks h once rather than deleting each name, so that it also finds
// the spellings net/http leaves uncanonicalized, and allocates nothing.
func dropIdentity(h http.Header) {
	for k := range h {
		if isIdentityHeader(k) {
			delete(h, k)
		}
	}
}

func isIdentityHeader(k string) bool {
	if len(k) > len(forwardedPrefix) && headerEqual(k[:len(forwardedPrefix)], forwardedPrefix) {
		return true
	}
	for _, name := range identityHeaders {
		if headerEqual(k, name) {
			return true
		}
	}
	return false
}

// headerEqual reports whether the header name k equals name, which is in
// lower case, ignoring case and treating '_' as '-'.
func headerEqual(k, name string) bool {
	if len(k) != len(name) {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}
