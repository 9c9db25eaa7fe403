package api

import (
	"net/http"

	"github.com/rampart-dev/rampart/internal/app"
)

// route is one endpoint. The table below is the only list of endpoints:
// New registers it with the mux, and the tests check it against the
// OpenAPI document in both directions.
type route struct {
	Method string
	// Path is a net/http pattern and, with the same {wildcards}, the key
	// of the endpoint in the OpenAPI document's "paths".
	Path string
	// Public routes answer without a bearer token; handle then gets the
	// zero Actor.
	Public bool
	handle func(s *server, w http.ResponseWriter, r *http.Request, actor app.Actor) error
}

var routeTable = []route{
	{http.MethodGet, "/api/v1/openapi.json", true, (*server).openAPI},
	{http.MethodGet, "/api/v1/me", false, (*server).me},
	{http.MethodPost, "/api/v1/login", true, (*server).login},
	{http.MethodPost, "/api/v1/login/code", true, (*server).loginCode},
	{http.MethodPost, "/api/v1/login/resend", true, (*server).loginResend},
	{http.MethodPost, "/api/v1/me/confirm", false, (*server).confirm},
	{http.MethodPost, "/api/v1/me/password", false, (*server).changePassword},
	{http.MethodGet, "/api/v1/users", false, (*server).listUsers},
	{http.MethodPost, "/api/v1/users", false, (*server).inviteUser},
	{http.MethodPatch, "/api/v1/users/{email}", false, (*server).updateUser},
	{http.MethodDelete, "/api/v1/users/{email}", false, (*server).deleteUser},
	{http.MethodPost, "/api/v1/users/{email}/reset-mfa", false, (*server).resetMFA},
	{http.MethodPost, "/api/v1/users/{email}/reset-password", false, (*server).resetPassword},
	{http.MethodGet, "/api/v1/tokens", false, (*server).listTokens},
	{http.MethodPost, "/api/v1/tokens", false, (*server).createToken},
	{http.MethodDelete, "/api/v1/tokens/{id}", false, (*server).revokeToken},
	{http.MethodGet, "/api/v1/services", false, (*server).listServices},
	{http.MethodPost, "/api/v1/services", false, (*server).createService},
	{http.MethodGet, "/api/v1/services/{name}", false, (*server).getService},
	{http.MethodPatch, "/api/v1/services/{name}", false, (*server).updateService},
	{http.MethodDelete, "/api/v1/services/{name}", false, (*server).deleteService},
	{http.MethodPost, "/api/v1/services/{name}/cache/purge", false, (*server).purgeCache},
	{http.MethodPut, "/api/v1/services/{name}/termination-protection", false, (*server).setTerminationProtection},
	{http.MethodPost, "/api/v1/services/{name}/start", false, (*server).serviceAction},
	{http.MethodPost, "/api/v1/services/{name}/stop", false, (*server).serviceAction},
	{http.MethodPost, "/api/v1/services/{name}/kill", false, (*server).serviceAction},
	{http.MethodPost, "/api/v1/services/{name}/restart", false, (*server).serviceAction},
	{http.MethodPost, "/api/v1/services/{name}/reset", false, (*server).serviceAction},
	{http.MethodPut, "/api/v1/services/{name}/version", false, (*server).setVersion},
	{http.MethodPost, "/api/v1/services/{name}/restore", false, (*server).restoreService},
	{http.MethodPost, "/api/v1/services/{name}/purge", false, (*server).purgeService},
	{http.MethodPost, "/api/v1/services/{name}/transfer", false, (*server).transferService},
	{http.MethodGet, "/api/v1/services/{name}/backups", false, (*server).listBackups},
	{http.MethodPost, "/api/v1/services/{name}/backups", false, (*server).createBackup},
	{http.MethodGet, "/api/v1/services/{name}/backups/{id}", false, (*server).downloadBackup},
	{http.MethodGet, "/api/v1/services/{name}/mail", false, (*server).getMail},
	{http.MethodPost, "/api/v1/services/{name}/mail/credentials", false, (*server).mailCredentials},
	{http.MethodPost, "/api/v1/services/{name}/mail/suspend", false, (*server).suspendMail},
	{http.MethodPost, "/api/v1/services/{name}/mail/resume", false, (*server).resumeMail},
	{http.MethodPut, "/api/v1/services/{name}/mail/quota", false, (*server).setMailQuota},
	{http.MethodGet, "/api/v1/services/{name}/mail/messages", false, (*server).listMailMessages},
	{http.MethodGet, "/api/v1/mail/dns", false, (*server).mailDNS},
	{http.MethodPost, "/api/v1/mail/flush", false, (*server).mailFlush},
	{http.MethodGet, "/api/v1/services/{name}/domains", false, (*server).listDomains},
	{http.MethodPost, "/api/v1/services/{name}/domains", false, (*server).addDomain},
	{http.MethodGet, "/api/v1/services/{name}/domains/{domain}", false, (*server).getDomain},
	{http.MethodPatch, "/api/v1/services/{name}/domains/{domain}", false, (*server).updateDomain},
	{http.MethodDelete, "/api/v1/services/{name}/domains/{domain}", false, (*server).removeDomain},
	{http.MethodPost, "/api/v1/services/{name}/domains/{domain}/check", false, (*server).checkDomain},
	{http.MethodPost, "/api/v1/ssl/reset", false, (*server).resetSSL},
	{http.MethodGet, "/api/v1/firewall", false, (*server).getFirewall},
	{http.MethodGet, "/api/v1/firewall/rules", false, (*server).listFirewallRules},
	{http.MethodPost, "/api/v1/firewall/rules", false, (*server).addFirewallRule},
	{http.MethodPatch, "/api/v1/firewall/rules/{id}", false, (*server).updateFirewallRule},
	{http.MethodDelete, "/api/v1/firewall/rules/{id}", false, (*server).removeFirewallRule},
	{http.MethodPut, "/api/v1/firewall/tool-ports/{port}", false, (*server).setFirewallToolPort},
	{http.MethodPost, "/api/v1/firewall/apply", false, (*server).applyFirewall},
	{http.MethodPost, "/api/v1/firewall/confirm", false, (*server).confirmFirewall},
	{http.MethodGet, "/api/v1/audit", false, (*server).listAudit},
	{http.MethodGet, "/api/v1/logs", false, (*server).logs},
	{http.MethodGet, "/api/v1/ssh-keys", false, (*server).listSSHKeys},
	{http.MethodPost, "/api/v1/ssh-keys", false, (*server).addSSHKey},
	{http.MethodDelete, "/api/v1/ssh-keys/{key}", false, (*server).removeSSHKey},
}

// me answers who the token belongs to; `rampart login` calls it to check a
// token before saving it.
func (s *server) me(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	writeJSON(w, http.StatusOK, actor.User)
	return nil
}

func (s *server) openAPI(w http.ResponseWriter, r *http.Request, _ app.Actor) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
	return nil
}
