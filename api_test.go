package rampart

import "testing"

func TestStatusMapping(t *testing.T) {
	for code, status := range map[string]int{
		EINVALID: 400, EUNAUTHORIZED: 401, EFORBIDDEN: 403, ENOTFOUND: 404,
		ECONFLICT: 409, ETOOMANY: 429, EINTERNAL: 500, EUNAVAILABLE: 503, "what": 500,
		CodeMethodNotAllowed: 405, CodeRequestTooLarge: 413, CodeUnsupportedMediaType: 415,
	} {
		if got := StatusForCode(code); got != status {
			t.Errorf("StatusForCode(%q) = %d, want %d", code, got, status)
		}
		if code != "what" && CodeForStatus(status) != code {
			t.Errorf("CodeForStatus(%d) = %q, want %q", status, CodeForStatus(status), code)
		}
	}
	if StatusForCode(ETERMPROTECTED) != 409 || CodeForStatus(409) != ECONFLICT {
		t.Errorf("termination_protected answers %d and 409 reads back as %q; want 409 and conflict", StatusForCode(ETERMPROTECTED), CodeForStatus(409))
	}
	if CodeForStatus(418) != EINVALID || CodeForStatus(502) != EINTERNAL {
		t.Error("CodeForStatus of unmapped statuses")
	}
}
