package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// TestTransferCard: an admin hands a member's service to another member
// from the Overview's Owner card; members have no card and cannot post
// one; a disabled account is not offered, and a refusal is shown without
// a change.
func TestTransferCard(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "shop")
	if _, err := e.app.Accounts.Create(context.Background(), app.OperatorActor(), rampart.UserInput{Email: "dave@example.com", Password: testPassword, Role: rampart.RoleMember}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Accounts.Disable(context.Background(), app.UserActor(e.users[adminEmail], ""), "dave@example.com"); err != nil {
		t.Fatal(err)
	}

	// A member: no card, and a post is refused with nothing changed.
	m := e.browser()
	mcsrf := m.login(memberEmail)
	res := m.get("/services/shop")
	wantStatus(t, res, http.StatusOK)
	if strings.Contains(res.Body, `id="transfer"`) {
		t.Error("a member's Overview has the Owner card")
	}
	wantRedirect(t, m.post("/services/shop/transfer", url.Values{"owner": {otherEmail}, "csrf_token": {mcsrf}}), "/services/shop")
	wantContains(t, m.get("/services/shop"), "only an admin can hand a service to another account")
	if got := e.stored("shop").Owner; got != memberEmail {
		t.Fatalf("a member's post moved the service to %s", got)
	}
	o := e.browser()
	ocsrf := o.login(otherEmail)
	wantStatus(t, o.post("/services/shop/transfer", url.Values{"owner": {otherEmail}, "csrf_token": {ocsrf}}), http.StatusNotFound)

	// The admin: the card offers the enabled accounts but the owner.
	a := e.browser()
	csrf := a.login(adminEmail)
	res = a.get("/services/shop")
	wantContains(t, res, `id="transfer"`, `data-field="transfer-owner">`+memberEmail, `<option value="`+otherEmail+`">`, `<option value="`+adminEmail+`">`)
	for _, no := range []string{`<option value="` + memberEmail + `">`, `<option value="dave@example.com">`} {
		if strings.Contains(res.Body, no) {
			t.Errorf("the Owner card offers %s", no)
		}
	}
	// Without the CSRF token: refused.
	wantStatus(t, a.post("/services/shop/transfer", url.Values{"owner": {otherEmail}}), http.StatusForbidden)
	// A disabled account, posted anyway: the app's message, no change.
	wantRedirect(t, a.post("/services/shop/transfer", url.Values{"owner": {"dave@example.com"}, "csrf_token": {csrf}}), "/services/shop")
	wantContains(t, a.get("/services/shop"), "dave@example.com is disabled")
	if got := e.stored("shop").Owner; got != memberEmail {
		t.Fatalf("a refused transfer moved the service to %s", got)
	}

	wantRedirect(t, a.post("/services/shop/transfer", url.Values{"owner": {otherEmail}, "csrf_token": {csrf}}), "/services/shop")
	wantContains(t, a.get("/services/shop"), "shop belongs to "+otherEmail+" now", `data-field="owner">`+otherEmail)
	if got := e.stored("shop").Owner; got != otherEmail {
		t.Errorf("stored owner after the transfer: %s", got)
	}
	wantStatus(t, m.get("/services/shop"), http.StatusNotFound)
	wantContains(t, o.get("/services/shop"), `data-field="owner">`+otherEmail)
}
