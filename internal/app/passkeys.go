package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// Passkeys (WebAuthn) are a second factor here, beside the emailed or app
// code, never a replacement for the password: the password step keeps the
// throttles, the device budgets and the rule that no answer says whether
// an account exists, all in one place (Login). A passkey login is a login
// begun by StartLogin and finished by FinishPasskeyLogin, which goes
// through the same verifyFactor as a code: the same throttles, attempt
// count and audit.
//
// A passkey belongs to a host name (the relying party ID): one made at
// http://localhost:7070 works only there, one made at https://<admin.domain>
// only there. The dashboard tells the app where it was opened (PasskeySite),
// and the app accepts only the names in Options.PasskeyHosts. An IP address
// cannot be a relying party ID: passkeys need the dashboard opened by name.
//
// What a ceremony must remember between its two requests (the random
// challenge, chiefly) stays in this process's memory (ceremonies), for
// PasskeyCeremonyTTL: it is worth nothing after the few seconds the browser
// takes, a restart only means clicking again, and it keeps the login
// challenges' table as it is. Several serve processes behind one balancer
// would need it in the store instead.

// PasskeySite is where the dashboard was opened, as the browser sees it.
type PasskeySite struct {
	Host   string // host name without port: the relying party ID
	Origin string // scheme://host[:port]
}

// factorRefusal is a wrong second factor with an answer of its own, for
// verifyFactor to give instead of "that code is not right".
type factorRefusal struct {
	reason string // for the log and the audit
	answer error  // for the person
}

func (r *factorRefusal) Error() string { return r.reason }

func refuse(reason string, answer error) error { return &factorRefusal{reason: reason, answer: answer} }

// passkeyHosts returns the allowed relying party IDs.
func (a *Accounts) passkeyHosts() []string {
	if len(a.opts.PasskeyHosts) > 0 {
		return a.opts.PasskeyHosts
	}
	hosts := []string{"localhost"}
	if d := strings.TrimSuffix(strings.ToLower(a.opts.AdminDomain), "."); d != "" {
		hosts = append(hosts, d)
	}
	return hosts
}

// adminURL is where people should open the dashboard, for messages.
func (a *Accounts) adminURL() string {
	if d := strings.TrimSuffix(a.opts.AdminDomain, "."); d != "" {
		return "https://" + d
	}
	return "https://<admin.domain>"
}

// relyingParty checks site and returns the WebAuthn relying party for it.
func (a *Accounts) relyingParty(site PasskeySite) (*webauthn.WebAuthn, string, error) {
	host := strings.TrimSuffix(strings.ToLower(site.Host), ".")
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return nil, "", rampart.Errorf(rampart.EINVALID, "passkeys need the dashboard opened by its name, not %s: use http://localhost:<port> on this machine, or %s", host, a.adminURL())
	}
	allowed := false
	for _, h := range a.passkeyHosts() {
		allowed = allowed || strings.EqualFold(h, host)
	}
	if !allowed {
		return nil, "", rampart.Errorf(rampart.EINVALID, "passkeys do not work at %s: open the dashboard at %s, or at http://localhost:<port> on this machine", host, a.adminURL())
	}
	u, err := url.Parse(site.Origin)
	if err != nil || !strings.EqualFold(u.Hostname(), host) {
		return nil, "", rampart.Errorf(rampart.EINVALID, "this page's address (%q) does not match its host name %q: reload it", site.Origin, host)
	}
	local := host == "localhost" || strings.HasSuffix(host, ".localhost")
	if u.Scheme != "https" && (u.Scheme != "http" || !local) {
		return nil, "", rampart.Errorf(rampart.EINVALID, "passkeys need HTTPS (or http://localhost): open https://%s", host)
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: host, RPDisplayName: "rampart", RPOrigins: []string{u.Scheme + "://" + u.Host}})
	if err != nil {
		return nil, "", fmt.Errorf("passkeys at %s: %w", host, err)
	}
	return wa, host, nil
}

// passkeyUser is a user as go-webauthn sees them: the passkeys usable at
// one host name.
type passkeyUser struct {
	handle []byte
	email  string
	keys   []*rampart.Passkey
}

func (p *passkeyUser) WebAuthnID() []byte          { return p.handle }
func (p *passkeyUser) WebAuthnName() string        { return p.email }
func (p *passkeyUser) WebAuthnDisplayName() string { return p.email }
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential {
	creds := make([]webauthn.Credential, len(p.keys))
	for i, k := range p.keys {
		transports := make([]protocol.AuthenticatorTransport, len(k.Transports))
		for j, t := range k.Transports {
			transports[j] = protocol.AuthenticatorTransport(t)
		}
		creds[i] = webauthn.Credential{
			ID: k.CredentialID, PublicKey: k.PublicKey, Transport: transports,
			Flags:         webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(k.Flags)),
			Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount},
		}
	}
	return creds
}

// passkeyUserAt loads u's passkeys for host and their user handle (made
// now if u has none yet).
func (a *Accounts) passkeyUserAt(ctx context.Context, u *rampart.User, host string) (*passkeyUser, []*rampart.Passkey, error) {
	all, err := a.store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	handle, err := a.store.PasskeyHandle(ctx, u.ID, fresh)
	if err != nil {
		return nil, nil, err
	}
	pu := &passkeyUser{handle: handle, email: u.Email}
	for _, k := range all {
		if strings.EqualFold(k.RPID, host) {
			pu.keys = append(pu.keys, k)
		}
	}
	return pu, all, nil
}

// checkNewPasskey checks what registering one more passkey named name
// needs: a second factor on, room, a free name.
func checkNewPasskey(u *rampart.User, all []*rampart.Passkey, name string) error {
	if u.MFA == rampart.MFANone {
		return rampart.Errorf(rampart.EINVALID, "passkeys are a second factor: turn two-factor authentication on first (Configure), then add a passkey")
	}
	if err := rampart.ValidatePasskeyName(name); err != nil {
		return err
	}
	if len(all) >= rampart.MaxPasskeys {
		return rampart.Errorf(rampart.EINVALID, "you have %d passkeys, the most rampart keeps: remove one you no longer use first", len(all))
	}
	for _, k := range all {
		if strings.EqualFold(k.Name, name) {
			return rampart.Errorf(rampart.ECONFLICT, "you already have a passkey named %q: choose another name", k.Name)
		}
	}
	return nil
}

// BeginPasskeyRegistration starts registering a passkey named name for
// actor at site. It returns the options for the browser's
// navigator.credentials.create() as JSON.
func (a *Accounts) BeginPasskeyRegistration(ctx context.Context, actor Actor, site PasskeySite, name string) ([]byte, error) {
	u, err := a.self(ctx, actor)
	if err != nil {
		return nil, err
	}
	wa, host, err := a.relyingParty(site)
	if err != nil {
		return nil, err
	}
	pu, all, err := a.passkeyUserAt(ctx, u, host)
	if err != nil {
		return nil, err
	}
	if err := checkNewPasskey(u, all, rampart.NormalizePasskeyName(name)); err != nil {
		return nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(pu.keys))
	for _, c := range pu.WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := wa.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementDiscouraged,
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	a.ceremonies.put(registerKey(u.ID), ceremony{session: *session, site: site}, a.now())
	return json.Marshal(creation)
}

// FinishPasskeyRegistration checks the browser's answer to the options of
// BeginPasskeyRegistration and keeps the new passkey. When the user has no
// recovery codes yet it makes a set and returns them: shown once.
func (a *Accounts) FinishPasskeyRegistration(ctx context.Context, actor Actor, site PasskeySite, name string, response []byte) (*rampart.Passkey, []string, error) {
	u, err := a.self(ctx, actor)
	if err != nil {
		return nil, nil, err
	}
	name = rampart.NormalizePasskeyName(name)
	cer, ok := a.ceremonies.take(registerKey(u.ID), a.now())
	if !ok || cer.site != site {
		return nil, nil, rampart.Errorf(rampart.EINVALID, "this passkey request expired: click “Add passkey” again")
	}
	wa, host, err := a.relyingParty(site)
	if err != nil {
		return nil, nil, err
	}
	pu, all, err := a.passkeyUserAt(ctx, u, host)
	if err != nil {
		return nil, nil, err
	}
	if err := checkNewPasskey(u, all, name); err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		a.log.Info("passkey registration: unreadable answer", "user", u.Email, "err", err)
		return nil, nil, rampart.Errorf(rampart.EINVALID, "the browser's answer could not be read: try again, or with another browser")
	}
	cred, err := wa.CreateCredential(pu, cer.session, parsed)
	if err != nil {
		a.log.Info("passkey registration refused", "user", u.Email, "err", err)
		return nil, nil, rampart.Errorf(rampart.EINVALID, "the passkey could not be verified: try again")
	}
	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	p := &rampart.Passkey{UserID: u.ID, CredentialID: cred.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		Transports: transports, AAGUID: cred.Authenticator.AAGUID, Flags: uint8(cred.Flags.ProtocolValue()), RPID: host, Name: name,
		CreatedAt: a.now().UTC()}
	var codes []string
	err = a.store.InTx(ctx, func(st store.Store) error {
		if err := st.CreatePasskey(ctx, p); err != nil {
			return err
		}
		if unused, _, err := st.CountRecoveryCodes(ctx, u.ID); err != nil {
			return err
		} else if unused == 0 {
			if codes, err = a.replaceRecoveryCodes(ctx, st, u.ID); err != nil {
				return err
			}
		}
		return a.audit(ctx, st, actor, "passkey.add", nil, fmt.Sprintf("name=%q host=%s", name, host))
	})
	if err != nil {
		return nil, nil, err
	}
	a.notify(ctx, u, "A passkey was added to your rampart account",
		fmt.Sprintf("A passkey named %q was added to your rampart account (for %s). Logins can now use it as the second step after the password. If this was not you, remove it from Account → Security and change your password now.", name, host))
	return p, codes, nil
}

// ListPasskeys returns actor's passkeys, oldest first.
func (a *Accounts) ListPasskeys(ctx context.Context, actor Actor) ([]*rampart.Passkey, error) {
	u, err := a.self(ctx, actor)
	if err != nil {
		return nil, err
	}
	return a.store.ListPasskeys(ctx, u.ID)
}

// RemovePasskey deletes one of actor's own passkeys.
func (a *Accounts) RemovePasskey(ctx context.Context, actor Actor, id int64) (*rampart.Passkey, error) {
	u, err := a.self(ctx, actor)
	if err != nil {
		return nil, err
	}
	p, err := a.store.PasskeyByID(ctx, id)
	if err == nil && p.UserID != u.ID {
		// Someone else's is as good as none: the answer does not tell.
		err = rampart.Errorf(rampart.ENOTFOUND, "passkey %d not found", id)
	}
	if err != nil {
		return nil, err
	}
	err = a.store.InTx(ctx, func(st store.Store) error {
		if err := st.DeletePasskey(ctx, p.ID); err != nil {
			return err
		}
		return a.audit(ctx, st, actor, "passkey.remove", nil, fmt.Sprintf("name=%q host=%s", p.Name, p.RPID))
	})
	if err != nil {
		return nil, err
	}
	a.notify(ctx, u, "A passkey was removed from your rampart account",
		fmt.Sprintf("The passkey named %q was removed from your rampart account: it no longer logs you in. If this was not you, change your password now.", p.Name))
	return p, nil
}

// PasskeysForLogin says, for the code page of a login begun by
// StartLogin, how many of the account's passkeys work at site and how
// many it has in all. It counts no attempt.
func (a *Accounts) PasskeysForLogin(ctx context.Context, challenge string, site PasskeySite) (usable, total int, err error) {
	_, u, err := a.liveChallenge(ctx, challenge)
	if err != nil {
		return 0, 0, err
	}
	all, err := a.store.ListPasskeys(ctx, u.ID)
	if err != nil || len(all) == 0 {
		return 0, 0, err
	}
	_, host, err := a.relyingParty(site)
	if err != nil {
		return 0, len(all), err
	}
	for _, k := range all {
		if strings.EqualFold(k.RPID, host) {
			usable++
		}
	}
	return usable, len(all), nil
}

// BeginPasskeyLogin starts the passkey step of a login begun by
// StartLogin. It returns the options for navigator.credentials.get() as
// JSON.
func (a *Accounts) BeginPasskeyLogin(ctx context.Context, challenge string, site PasskeySite) ([]byte, error) {
	c, u, err := a.liveChallenge(ctx, challenge)
	if err != nil {
		return nil, err
	}
	wa, host, err := a.relyingParty(site)
	if err != nil {
		return nil, err
	}
	pu, _, err := a.passkeyUserAt(ctx, u, host)
	if err != nil {
		return nil, err
	}
	if len(pu.keys) == 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "none of your passkeys works at %s: type the code instead", host)
	}
	assertion, session, err := wa.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin passkey login: %w", err)
	}
	a.ceremonies.put(loginKey(c.ID), ceremony{session: *session, site: site}, a.now())
	return json.Marshal(assertion)
}

// FinishPasskeyLogin checks the browser's answer to BeginPasskeyLogin's
// options and returns the user the login is for: like FinishLogin, with a
// passkey in place of the code.
func (a *Accounts) FinishPasskeyLogin(ctx context.Context, challenge string, site PasskeySite, response []byte, ip string) (*rampart.User, error) {
	u, how, err := a.verifyFactor(ctx, challenge, ip, 0, func(c *rampart.LoginChallenge, u *rampart.User) (string, error) {
		return "passkey", a.checkPasskey(ctx, c, u, site, response)
	})
	if err != nil {
		return nil, err
	}
	err = a.store.InTx(ctx, func(st store.Store) error {
		return a.audit(ctx, st, UserActor(u, ip), "login.success", nil, "second factor: "+how)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

var errPasskeyRefused = rampart.Errorf(rampart.EUNAUTHORIZED, "that passkey was not accepted: try again, or type the code instead")

// checkPasskey checks a passkey assertion for challenge c and records
// the passkey's use.
func (a *Accounts) checkPasskey(ctx context.Context, c *rampart.LoginChallenge, u *rampart.User, site PasskeySite, response []byte) error {
	cer, ok := a.ceremonies.take(loginKey(c.ID), a.now())
	if !ok || cer.site != site {
		return refuse("no passkey request for this login", rampart.Errorf(rampart.EUNAUTHORIZED, "this passkey request expired: click “Use a passkey” again"))
	}
	wa, host, err := a.relyingParty(site)
	if err != nil {
		return refuse(err.Error(), err)
	}
	pu, _, err := a.passkeyUserAt(ctx, u, host)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return refuse("unreadable passkey answer: "+err.Error(), errPasskeyRefused)
	}
	cred, err := wa.ValidateLogin(pu, cer.session, parsed)
	if err != nil {
		return refuse("passkey refused: "+err.Error(), errPasskeyRefused)
	}
	var used *rampart.Passkey
	for _, k := range pu.keys {
		if bytes.Equal(k.CredentialID, cred.ID) {
			used = k
		}
	}
	if used == nil {
		return refuse("passkey not found after validation", errPasskeyRefused)
	}
	if cred.Authenticator.CloneWarning {
		// The counter went backwards: two copies of the key may exist.
		return refuse(fmt.Sprintf("passkey %q signature counter went backwards (stored %d)", used.Name, used.SignCount),
			rampart.Errorf(rampart.EUNAUTHORIZED, "the passkey %q may have been copied (its counter went backwards), so it was refused: type the code instead, then remove that passkey and add it again", used.Name))
	}
	return a.store.UsePasskey(ctx, used.ID, cred.Authenticator.SignCount, uint8(cred.Flags.ProtocolValue()), a.now().UTC())
}

func registerKey(userID int64) string   { return "register:" + strconv.FormatInt(userID, 10) }
func loginKey(challengeID int64) string { return "login:" + strconv.FormatInt(challengeID, 10) }

// ceremonies are passkey ceremonies between their begin and finish, in
// memory (see the top of this file). The zero value is ready. A newer
// ceremony of the same key replaces the older; each is taken once.
type ceremonies struct {
	mu sync.Mutex
	m  map[string]ceremony
}

type ceremony struct {
	session webauthn.SessionData
	site    PasskeySite
	expires time.Time
}

func (cs *ceremonies) put(key string, c ceremony, now time.Time) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil {
		cs.m = map[string]ceremony{}
	}
	for k, old := range cs.m {
		if !now.Before(old.expires) {
			delete(cs.m, k)
		}
	}
	c.expires = now.Add(rampart.PasskeyCeremonyTTL)
	cs.m[key] = c
}

func (cs *ceremonies) take(key string, now time.Time) (ceremony, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, ok := cs.m[key]
	delete(cs.m, key)
	if !ok || !now.Before(c.expires) {
		return ceremony{}, false
	}
	return c, true
}

// CheckPasskeySite says whether passkeys can be made and used at site,
// and if not, why, in words for the page.
func (a *Accounts) CheckPasskeySite(site PasskeySite) error {
	_, _, err := a.relyingParty(site)
	return err
}
