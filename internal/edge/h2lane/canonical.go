package h2lane

import "net/textproto"

// commonCanonical maps the lowercase request field names clients send
// most to their canonical form, which saves an allocation per field.
var commonCanonical = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Authorization", "Cache-Control", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Type", "Cookie", "Date", "Dnt", "Etag", "Expect", "Forwarded", "From", "Host",
		"If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Last-Modified", "Origin", "Pragma", "Priority", "Range", "Referer", "Sec-Ch-Ua",
		"Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Sec-Fetch-User", "Te", "Trailer", "Upgrade-Insecure-Requests",
		"User-Agent", "Via", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Real-Ip", "X-Request-Id", "Traceparent", "Tracestate",
	} {
		m[textproto.CanonicalMIMEHeaderKey(k)] = textproto.CanonicalMIMEHeaderKey(k)
	}
	lower := make(map[string]string, len(m))
	for k := range m {
		lower[toLowerASCII(k)] = k
	}
	return lower
}()

func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// canonical is the canonical key of a (lowercase, valid) field name.
func canonical(name string) string {
	if k, ok := commonCanonical[name]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}
