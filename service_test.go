package rampart

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestValidateServiceName(t *testing.T) {
	for _, tc := range []struct {
		name, wantErr string
	}{
		{"blog", ""},
		{"a", ""},
		{"my-app-2", ""},
		{strings.Repeat("a", 63), ""},
		{"", "required"},
		{strings.Repeat("a", 64), "at most 63"},
		{"-blog", "hyphen"},
		{"blog-", "hyphen"},
		{"Blog", `use "blog"`},
		{"xn--bcher-kva", "3rd and 4th"},
		{"my_app", `character "_"`},
		{"my.app", `character "."`},
		{"blög", "character"},
		{"My Blog!", `use "my-blog"`},
		{"my blog!", `e.g. "my-blog"`},
		{"my_app", `e.g. "my-app"`},
		{"!!!", "use only a-z, 0-9 and '-'"},
	} {
		err := ValidateServiceName(tc.name)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: unexpected error %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want one containing %q", tc.name, err, tc.wantErr)
		case err != nil && ErrorCode(err) != EINVALID:
			t.Errorf("%q: code %q", tc.name, ErrorCode(err))
		}
	}
}

func TestValidateUpstream(t *testing.T) {
	for _, tc := range []struct {
		url, wantErr string
	}{
		{"http://127.0.0.1:8080", ""},
		{"https://app.internal", ""},
		{"http://[::1]:3000/base", ""},
		{"http://my_app:80", ""},
		{"", "empty"},
		{"127.0.0.1:8080", "http://"},
		{"ftp://host", "http://"},
		{"http://", "no host"},
		{"http:foo", "no host"},
		{"http://user:pw@host", "credentials"},
		{"http://host/?q=1", "query"},
		{"http://host/#frag", "fragment"},
		{"http://host:0", "port"},
		{"http://host:65536", "port"},
		{"http://host:", "empty port"},
		{"http://-bad-.com", "neither an IP"},
		{"http://a b", "not a valid URL"},
		{"http://" + strings.Repeat("a", 2050), "2048"},
	} {
		err := ValidateUpstream(tc.url)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: unexpected error %v", tc.url, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want one containing %q", tc.url, err, tc.wantErr)
		}
	}
	if err := ValidateUpstreams([]string{"http://a", "http://a"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate upstreams: %v", err)
	}
	if err := ValidateUpstreams(nil); err == nil {
		t.Error("no upstreams accepted")
	}
}

func TestErrorHelpers(t *testing.T) {
	if ErrorCode(nil) != "" || ErrorMessage(nil) != "" {
		t.Error("nil error")
	}
	e := Errorf(ECONFLICT, "x %d", 1)
	if ErrorCode(e) != ECONFLICT || ErrorMessage(e) != "x 1" {
		t.Error("rampart error")
	}
	other := strings.NewReader("").UnreadByte() // any non-rampart error
	if ErrorCode(other) != EINTERNAL || strings.Contains(ErrorMessage(other), "UnreadByte") {
		t.Errorf("foreign error leaks: %q", ErrorMessage(other))
	}
}

func FuzzValidateServiceName(f *testing.F) {
	for _, s := range []string{"blog", "-x", "xn--a", "A", strings.Repeat("z", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateServiceName(name) != nil {
			return
		}
		// Whatever passes must be a lower-case DNS label.
		if len(name) == 0 || len(name) > 63 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || name[0] == '-' || name[len(name)-1] == '-' {
			t.Errorf("accepted %q", name)
		}
	})
}

// suggested finds the names an error message offers as the thing to type
// instead: the quoted text after "use" or "e.g.". The name at fault is quoted
// with %q too, so it can hold neither `use "` nor `e.g. "`.
var suggested = regexp.MustCompile(`(?:use|e\.g\.) ("(?:[^"\\]|\\.)*")`)

func FuzzServiceNameSuggestion(f *testing.F) {
	for _, s := range []string{"My Blog!", "Blog", "my_app", "XN--ab", "ab--cd", "-Blog-", "!!!", "Ünïcode Blog", strings.Repeat("A", 70), "a" + strings.Repeat("_", 62) + "B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateServiceName(name)
		if err == nil {
			return
		}
		for _, m := range suggested.FindAllStringSubmatch(ErrorMessage(err), -1) {
			s, uerr := strconv.Unquote(m[1])
			if uerr != nil {
				t.Fatalf("%q: suggestion %s does not unquote: %v", name, m[1], uerr)
			}
			if verr := ValidateServiceName(s); verr != nil {
				t.Errorf("%q: the error %q suggests %q, which is invalid: %v", name, ErrorMessage(err), s, verr)
			}
		}
	})
}

func FuzzValidateUpstream(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080", "https://[::1]:1/x", "http://a b", "http://h:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if ValidateUpstream(raw) != nil {
			return
		}
		if l := strings.ToLower(raw); !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
			t.Errorf("accepted %q", raw)
		}
	})
}

func TestValidateEmailAndPassword(t *testing.T) {
	for _, ok := range []string{"a@example.com", "first.last+tag@sub.example.org"} {
		if err := ValidateEmail(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "no-at", "Name <a@example.com>", "a@", strings.Repeat("a", 250) + "@x.com"} {
		if err := ValidateEmail(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if ValidatePassword("short") == nil || ValidatePassword(strings.Repeat("x", 1025)) == nil || ValidatePassword("long enough pw") != nil {
		t.Error("password rules")
	}
}
