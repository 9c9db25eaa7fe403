package rampart

import (
	"strings"
	"testing"
	"time"
)

func TestRateLimitValidate(t *testing.T) {
	r := DefaultRateLimit()
	if err := r.Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	if r.Period() != time.Minute || (RateLimit{Per: PerSecond}).Period() != time.Second {
		t.Error("Period")
	}
	for _, tc := range []struct {
		r       RateLimit
		wantErr string
	}{
		{RateLimit{Requests: 0, Per: PerMinute}, "between 1 and"},
		{RateLimit{Requests: MaxRateLimitRequests + 1, Per: PerMinute}, "between 1 and"},
		{RateLimit{Requests: 5, Per: "hour"}, `"second" or "minute"`},
		{RateLimit{Requests: 5, Per: PerMinute, Allow: []string{"10.0.0.0/33"}}, "not a network"},
		{RateLimit{Requests: 5, Per: PerMinute, Allow: []string{"example.com"}}, "not an IP address"},
		{RateLimit{Requests: 5, Per: PerMinute, Allow: []string{"fe80::1%eth0"}}, "has a zone"},
		{RateLimit{Requests: 5, Per: PerMinute, Allow: []string{"10.0.0.1", "10.0.0.1/32"}}, "listed twice"},
		{RateLimit{Requests: 5, Per: PerMinute, Allow: make([]string, MaxAllowEntries+1)}, "at most"},
	} {
		err := tc.r.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || ErrorCode(err) != EINVALID {
			t.Errorf("%+v: %v, want %q", tc.r, err, tc.wantErr)
		}
	}
	ok := RateLimit{Requests: 5, Per: PerSecond, Allow: []string{" 192.0.2.9 ", "10.1.2.3/8", "2001:db8::7/64"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"192.0.2.9/32", "10.0.0.0/8", "2001:db8::/64"}; strings.Join(ok.Allow, " ") != strings.Join(want, " ") {
		t.Errorf("normalized allow = %v, want %v", ok.Allow, want)
	}
}

func FuzzParseAllowList(f *testing.F) {
	f.Add("10.0.0.0/8")
	f.Add("2001:db8::1")
	f.Add("::ffff:1.2.3.4/120")
	f.Fuzz(func(t *testing.T, entry string) {
		ps, err := ParseAllowList([]string{entry})
		if err != nil {
			return
		}
		p := ps[0]
		if !p.IsValid() || p != p.Masked() {
			t.Errorf("%q gave %v", entry, p)
		}
		// Normalizing is idempotent.
		again, err := ParseAllowList([]string{p.String()})
		if err != nil || again[0] != p {
			t.Errorf("%q → %v → %v, %v", entry, p, again, err)
		}
	})
}

// TestErrorFields: validation errors name the input at fault, which forms
// use to put the message next to the right field.
func TestErrorFields(t *testing.T) {
	for _, tc := range []struct {
		err   error
		field string
	}{
		{ValidateServiceName("Bad"), "name"},
		{ValidateUpstreams(nil), "upstreams"},
		{ValidateUpstream("ftp://x"), "upstreams"},
		{(&RateLimit{Requests: 0, Per: PerMinute}).Validate(), "rate_limit.requests"},
		{(&RateLimit{Requests: 1, Per: "hour"}).Validate(), "rate_limit.per"},
		{(&RateLimit{Requests: 1, Per: PerMinute, Allow: []string{"x"}}).Validate(), "rate_limit.allow"},
		{Cache{TTL: 0}.Validate(), "cache.ttl"},
		{Cache{TTL: Duration(time.Second), StaleIfError: -1}.Validate(), "cache.stale_if_error"},
		{Errorf(EINVALID, "no field"), ""},
	} {
		if got := ErrorField(tc.err); got != tc.field {
			t.Errorf("%v: field %q, want %q", tc.err, got, tc.field)
		}
	}
}

// TestValidateReportsEveryField: a service with several bad fields gets
// every field's message at once, each under its own field, and the joined
// message lists them all.
func TestValidateReportsEveryField(t *testing.T) {
	svc := Service{
		Name:      "blog",
		Upstreams: []string{"ftp://127.0.0.1", "http://127.0.0.1:8080", "gopher://x"},
		State:     StateActive,
		RateLimit: RateLimit{Enabled: true, Requests: 0, Per: PerMinute, Allow: []string{"10.0.0.1", "not-an-ip", "300.1.1.1"}},
		Cache:     Cache{TTL: 0, StaleIfError: -1},
	}
	err := svc.Validate()
	if ErrorCode(err) != EINVALID {
		t.Fatalf("code %q for %v", ErrorCode(err), err)
	}
	got := FieldMessages(err)
	want := map[string][]string{
		"upstreams":            {`"ftp://127.0.0.1" must start with http://`, `"gopher://x" must start`},
		"rate_limit.requests":  {"requests must be between"},
		"rate_limit.allow":     {`"not-an-ip"`, `"300.1.1.1"`},
		"cache.ttl":            {"ttl must be between"},
		"cache.stale_if_error": {"stale_if_error must be between"},
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want %d of them", got, len(want))
	}
	msg := ErrorMessage(err)
	for field, parts := range want {
		for _, p := range parts {
			if !strings.Contains(got[field], p) {
				t.Errorf("field %s: %q, want it to contain %q", field, got[field], p)
			}
			if !strings.Contains(msg, p) {
				t.Errorf("message %q lacks %q", msg, p)
			}
		}
	}
	if FieldMessages(nil) != nil || FieldMessages(Errorf(EINVALID, "x"))[""] != "x" {
		t.Error("FieldMessages of nil or of an error without a field")
	}
	if svc.RateLimit.Allow[0] != "10.0.0.1" {
		t.Errorf("a failed validation changed the allow-list: %v", svc.RateLimit.Allow)
	}
}
