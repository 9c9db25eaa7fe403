package rampart

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCacheValidateAndJSON(t *testing.T) {
	if err := DefaultCache().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Cache{
		{TTL: Duration(0)}, {TTL: Duration(999 * time.Millisecond)}, {TTL: Duration(time.Hour + 1)},
		{TTL: Duration(time.Second), StaleIfError: Duration(25 * time.Hour)},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	b, _ := json.Marshal(DefaultCache())
	if string(b) != `{"enabled":true,"ttl":"3s","stale_if_error":"1m0s"}` {
		t.Errorf("JSON = %s", b)
	}
	var c Cache
	if err := json.Unmarshal([]byte(`{"enabled":true,"ttl":"1m30s","stale_if_error":5}`), &c); err != nil || c.TTL != Duration(90*time.Second) || c.StaleIfError != Duration(5*time.Second) {
		t.Errorf("unmarshal: %+v %v", c, err)
	}
	if err := json.Unmarshal([]byte(`{"ttl":"soon"}`), &c); err == nil || !strings.Contains(err.Error(), "not a duration") {
		t.Errorf("bad duration: %v", err)
	}
}
