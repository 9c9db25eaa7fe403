package rampart

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestHSTSValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h     HSTS
		field string // "" when valid
		want  string
	}{
		{"default", DefaultHSTS(), "", ""},
		{"zero value", HSTS{}, "", ""},
		{"on, a year", HSTS{Enabled: true, MaxAge: 31536000}, "", ""},
		{"on, max-age 0 withdraws", HSTS{Enabled: true}, "", ""},
		{"two years", HSTS{Enabled: true, MaxAge: MaxHSTSMaxAge, IncludeSubDomains: true, Preload: true}, "", ""},
		{"preload, a year", HSTS{Enabled: true, MaxAge: 31536000, IncludeSubDomains: true, Preload: true}, "", ""},
		{"negative", HSTS{Enabled: true, MaxAge: -1}, "hsts.max_age", "between 0 and 63072000"},
		{"over two years", HSTS{Enabled: true, MaxAge: MaxHSTSMaxAge + 1}, "hsts.max_age", "between 0 and 63072000"},
		{"checked when off", HSTS{MaxAge: -5}, "hsts.max_age", "between 0"},
		{"preload, short", HSTS{Enabled: true, MaxAge: 86400, IncludeSubDomains: true, Preload: true}, "hsts.preload", "preload requires a max_age of at least 31536000"},
		{"preload, no subdomains", HSTS{Enabled: true, MaxAge: 31536000, Preload: true}, "hsts.preload", "preload requires include_subdomains"},
		{"preload, neither", HSTS{Enabled: true, MaxAge: 60, Preload: true}, "hsts.preload", "and include_subdomains"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if ErrorCode(err) != EINVALID {
				t.Errorf("code %q", ErrorCode(err))
			}
			msg := FieldMessages(err)[tc.field]
			if !strings.Contains(msg, tc.want) {
				t.Errorf("field %s: %q (all: %v), want it to say %q", tc.field, msg, FieldMessages(err), tc.want)
			}
		})
	}
}

func TestHSTSServiceValidate(t *testing.T) {
	s := &Service{Name: "blog", Upstreams: []string{"http://10.0.0.1:80"}, State: StateActive, RateLimit: DefaultRateLimit(), Cache: DefaultCache(), HSTS: HSTS{Enabled: true, MaxAge: 60, Preload: true}}
	if _, ok := FieldMessages(s.Validate())["hsts.preload"]; !ok {
		t.Errorf("service with a bad HSTS accepted: %v", s.Validate())
	}
}

func TestHSTSHeader(t *testing.T) {
	for _, tc := range []struct {
		h    HSTS
		want string
	}{
		{HSTS{MaxAge: 100}, ""},
		{HSTS{Enabled: true, MaxAge: 100}, "max-age=100"},
		{HSTS{Enabled: true, MaxAge: 31536000, IncludeSubDomains: true}, "max-age=31536000; includeSubDomains"},
		{HSTS{Enabled: true, MaxAge: 63072000, IncludeSubDomains: true, Preload: true}, "max-age=63072000; includeSubDomains; preload"},
	} {
		if got := tc.h.Header(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.h, got, tc.want)
		}
	}
}

func TestHSTSJSON(t *testing.T) {
	b, _ := json.Marshal(DefaultHSTS())
	if string(b) != `{"enabled":false,"max_age":31536000,"include_subdomains":false,"preload":false}` {
		t.Errorf("JSON = %s", b)
	}
	var h HSTS
	if err := json.Unmarshal([]byte(`{"enabled":true,"max_age":0,"include_subdomains":true}`), &h); err != nil || h != (HSTS{Enabled: true, IncludeSubDomains: true}) {
		t.Errorf("explicit 0: %+v %v", h, err)
	}
	if err := json.Unmarshal([]byte(`{"max_age":"a year"}`), &h); err == nil {
		t.Error("text max_age accepted")
	}
}

func TestParseHSTSMaxAge(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "31536000": 31536000, "1y": 31536000, "2y": 63072000, "180d": 180 * 86400,
		"26w": 26 * 7 * 86400, "8760h": 31536000, "90m": 5400, " 1y ": 31536000,
	} {
		if got, err := ParseHSTSMaxAge(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"": "not a duration", "soon": "not a duration", "y": "not a duration", "3y": "between 0 and 63072000",
		"-1": "between 0", "63072001": "between 0", "1.5s": "whole number of seconds", "-1d": "between 0",
		"99999999999999999y": "not a duration",
	} {
		if _, err := ParseHSTSMaxAge(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", in, err, want)
		}
	}
}
