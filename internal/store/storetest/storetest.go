// Package storetest is the conformance suite of store.Store. Every
// implementation (SQLite now, PostgreSQL later) runs the same Run from its
// own tests, so the rest of rampart can rely on one behaviour: the same error
// codes and messages, the same orderings, the same transaction semantics.
//
// The suite checks only what the store.Store contract promises, plus the few
// choices the contract leaves open that callers would notice if two
// implementations made them differently. Those are listed here and are part
// of the contract for implementers:
//
//   - Lists are never nil (an empty list encodes as [] in JSON). ListUsers
//     is ordered by email, ListTokens oldest first.
//   - Times come back in UTC, within TimePrecision of what was written.
//   - A method that names a missing row by ID (update, touch, delete)
//     returns ENOTFOUND, as do lookups; a row that refers to a user who does
//     not exist (token, session, service owner) is refused with ENOTFOUND.
//   - TouchToken and TouchSession never move a time backwards.
//   - IDs are never reused, not even after a delete: audit events refer to
//     services by ID.
//   - Messages a person reads: `service "blog" not found` and
//     `a service named "blog" already exists`; a clashing user email is
//     named in its ECONFLICT message.
package storetest

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// TimePrecision is the coarsest resolution a store may keep times at:
// PostgreSQL's timestamptz keeps microseconds. SQLite keeps nanoseconds and
// checks that in its own tests.
const TimePrecision = time.Microsecond

// Run runs the whole suite. open is called once per subtest and must return
// a new, empty Store; it must also close that Store when t ends (t.Cleanup).
// Subtests do not run in parallel, so open may reuse one server.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users/RoundTrip", testUserRoundTrip},
		{"Users/Conflict", testUserConflict},
		{"Users/NotFound", testUserNotFound},
		{"Users/ListAndCount", testUserListAndCount},
		{"Users/Update", testUserUpdate},
		{"Users/Disable", testUserDisable},
		{"Users/Delete", testUserDelete},
		{"Users/AccountLinks", testAccountLinks},

		{"Services/Runtime", testServiceRuntime},
		{"Backups", testBackups},

		{"Tokens/RoundTrip", testTokenRoundTrip},
		{"Tokens/Touch", testTokenTouch},
		{"Tokens/Delete", testTokenDelete},
		{"Tokens/Refused", testTokenRefused},
		{"Tokens/ByID", testTokenByID},

		{"Sessions/RoundTrip", testSessionRoundTrip},
		{"Sessions/Touch", testSessionTouch},
		{"Sessions/Delete", testSessionDelete},
		{"Sessions/Refused", testSessionRefused},
		{"Sessions/DeleteExpired", testSessionDeleteExpired},
		{"Sessions/DeleteUser", testDeleteUserSessions},

		{"MFA/User", testUserMFA},
		{"MFA/Challenges", testLoginChallenges},
		{"MFA/RecoveryCodes", testRecoveryCodes},

		{"Services/RoundTrip", testServiceRoundTrip},
		{"Services/Conflict", testServiceConflict},
		{"Services/NotFound", testServiceNotFound},
		{"Services/UnknownOwner", testServiceUnknownOwner},
		{"Services/List", testServiceList},
		{"Services/Update", testServiceUpdate},
		{"Services/TerminationProtection", testServiceTerminationProtection},
		{"Services/Delete", testServiceDelete},
		{"Services/RetiredName", testServiceRetiredName},
		{"Services/Revision", testServicesRevision},
		{"Services/Conditions", testServiceConditions},
		{"Changes/Subscribe", testSubscribe},

		{"SSHKeys/RoundTrip", testSSHKeysRoundTrip},
		{"SSHKeys/Status", testSSHKeysStatus},

		{"Mail/Settings", testMailSettings},
		{"Mail/Violations", testMailViolations},
		{"Mail/Log", testMailLog},
		{"Mail/LogBounded", testMailLogBounded},
		{"Mail/DKIMKeys", testDKIMKeys},

		{"Passkeys/RoundTrip", testPasskeysRoundTrip},
		{"Passkeys/Handle", testPasskeyHandle},

		{"Domains/RoundTrip", testDomainRoundTrip},
		{"Domains/Conflict", testDomainConflict},
		{"Domains/ListUpdateDelete", testDomainListUpdateDelete},
		{"Domains/Version", testDomainVersion},
		{"Domains/Challenge", testDomainChallenge},
		{"Domains/Verify", testDomainVerify},

		{"Firewall/Rules", testFirewallRules},
		{"Firewall/Node", testFirewallNode},

		{"Audit/Add", testAuditAdd},
		{"Audit/Filters", testAuditFilters},
		{"Audit/Paging", testAuditPaging},
		{"Audit/Limits", testAuditLimits},

		{"InTx/Commit", testTxCommit},
		{"InTx/RollbackOnError", testTxRollbackOnError},
		{"InTx/RollbackOnPanic", testTxRollbackOnPanic},
		{"InTx/Nested", testTxNested},

		{"Concurrent/Writers", testConcurrentWriters},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// wantCode fails t unless err carries the rampart error code code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := rampart.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// wantMessage fails t unless err's person-facing message contains want.
func wantMessage(t *testing.T, err error, want string) {
	t.Helper()
	if msg := rampart.ErrorMessage(err); !strings.Contains(msg, want) {
		t.Errorf("error message = %q, want it to contain %q", msg, want)
	}
}

// sameTime reports an error unless got is in UTC and within TimePrecision
// of want.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s = %v: location %v, want UTC", what, got, got.Location())
	}
	if d := got.Sub(want).Abs(); d > TimePrecision {
		t.Errorf("%s = %v, want %v (off by %v, more than %v)", what, got, want, d, TimePrecision)
	}
}

// sameTimePtr is sameTime for optional times: nil must stay nil.
func sameTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil:
		t.Errorf("%s = nil, want %v", what, *want)
	case want == nil:
		t.Errorf("%s = %v, want nil", what, *got)
	default:
		sameTime(t, what, *got, *want)
	}
}

// recent reports an error unless tm is a store-set timestamp of this run.
func recent(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Errorf("%s = %v: location %v, want UTC", what, tm, tm.Location())
	}
	if d := time.Since(tm); d < -time.Minute || d > time.Minute {
		t.Errorf("%s = %v, want about now", what, tm)
	}
}

// mustUser creates a member with the given email.
func mustUser(t *testing.T, s store.Store, email string) *rampart.User {
	t.Helper()
	u := &rampart.User{Email: email, Role: rampart.RoleMember, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

// mustService creates an active service with one upstream.
func mustService(t *testing.T, s store.Store, name string, owner int64) *rampart.Service {
	t.Helper()
	svc := &rampart.Service{Name: name, OwnerID: owner, Upstreams: []string{"http://127.0.0.1:8080"}, State: rampart.StateActive}
	if err := s.CreateService(t.Context(), svc); err != nil {
		t.Fatalf("CreateService(%q): %v", name, err)
	}
	return svc
}

// hash returns the SHA-256 of seed, as the callers of the store hash
// token secrets and cookie values.
func hash(seed string) []byte {
	h := sha256.Sum256([]byte(seed))
	return h[:]
}
