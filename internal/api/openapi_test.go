package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/edge"
)

// The tests in this file keep openapi.json honest: it must list exactly the
// routes in routeTable, each of them must answer as documented, and its
// schemas must name exactly the JSON fields of the Go types the handlers
// encode and decode.

// doc is the parsed OpenAPI document, loosely typed: the tests walk it.
type doc = map[string]any

func loadDoc(t *testing.T) doc {
	t.Helper()
	var d doc
	if err := json.Unmarshal(openAPIDocument, &d); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return d
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations returns the document's operations keyed by "METHOD path".
func operations(d doc) map[string]doc {
	ops := map[string]doc{}
	for path, item := range d["paths"].(doc) {
		for key, op := range item.(doc) {
			if slices.Contains(httpMethods, key) {
				ops[strings.ToUpper(key)+" "+path] = op.(doc)
			}
		}
	}
	return ops
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// resolve follows a local "$ref" ("#/components/…") and returns the target
// and the last path element (the component's name), or v itself and "".
func resolve(t *testing.T, d doc, v any) (doc, string) {
	t.Helper()
	m, ok := v.(doc)
	if !ok {
		t.Fatalf("%v is not an object", v)
	}
	ref, ok := m["$ref"].(string)
	if !ok {
		return m, ""
	}
	var cur any = d
	parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
	for _, p := range parts {
		next, ok := cur.(doc)[p]
		if !ok {
			t.Fatalf("$ref %q does not resolve", ref)
		}
		cur = next
	}
	target, _ := resolve(t, d, cur)
	return target, parts[len(parts)-1]
}

func TestOpenAPIListsExactlyTheRoutes(t *testing.T) {
	d := loadDoc(t)
	ops := operations(d)
	registered := map[string]route{}
	for _, rt := range routeTable {
		key := rt.Method + " " + rt.Path
		if _, dup := registered[key]; dup {
			t.Errorf("route %s is in the table twice", key)
		}
		registered[key] = rt
		op, ok := ops[key]
		if !ok {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		// Public routes, and only they, override the global bearer requirement.
		sec, overrides := op["security"].([]any)
		if public := overrides && len(sec) == 0; public != rt.Public {
			t.Errorf("%s: public in the route table = %v, in openapi.json = %v", key, rt.Public, public)
		}
	}
	for _, key := range sortedKeys(ops) {
		if _, ok := registered[key]; !ok {
			t.Errorf("openapi.json documents %s, which no route serves", key)
		}
	}
	if got := d["openapi"]; got != "3.1.0" {
		t.Errorf("openapi = %v", got)
	}
}

func TestOpenAPIParameters(t *testing.T) {
	d := loadDoc(t)
	wildcard := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range d["paths"].(doc) {
		item := item.(doc)
		for _, method := range httpMethods {
			op, ok := item[method].(doc)
			if !ok {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			params := map[string]string{} // name → in
			for _, list := range []any{item["parameters"], op["parameters"]} {
				for _, p := range asList(list) {
					p, _ := resolve(t, d, p)
					params[p["name"].(string)] = p["in"].(string)
					if p["in"] == "path" && p["required"] != true {
						t.Errorf("%s: path parameter %s must be required", key, p["name"])
					}
				}
			}
			var wantPath []string
			for _, m := range wildcard.FindAllStringSubmatch(path, -1) {
				wantPath = append(wantPath, m[1])
			}
			var gotPath, gotQuery []string
			for name, in := range params {
				switch in {
				case "path":
					gotPath = append(gotPath, name)
				case "query":
					gotQuery = append(gotQuery, name)
				}
			}
			sort.Strings(gotPath)
			sort.Strings(wantPath)
			sort.Strings(gotQuery)
			if !slices.Equal(gotPath, wantPath) {
				t.Errorf("%s: path parameters %v, the path has %v", key, gotPath, wantPath)
			}
			var wantQuery []string
			switch key {
			case "GET /api/v1/audit":
				wantQuery = slices.Sorted(slices.Values(auditParams))
			case "GET /api/v1/logs":
				wantQuery = slices.Sorted(slices.Values(logParams))
			case "DELETE /api/v1/firewall/rules/{id}":
				wantQuery = []string{"confirm_within", "force"}
			case "GET /api/v1/tokens":
				wantQuery = []string{"email"}
			case "GET /api/v1/services/{name}/mail/messages":
				wantQuery = slices.Sorted(slices.Values(mailLogParams))
			}
			if !slices.Equal(gotQuery, wantQuery) {
				t.Errorf("%s: query parameters %v, the handler takes %v", key, gotQuery, wantQuery)
			}
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestOpenAPIOperationsAnswer calls every documented operation, with the
// documented example body, and checks that a handler (not the mux's 404 or
// 405) answers with a documented status and the documented schema.
func TestOpenAPIOperationsAnswer(t *testing.T) {
	e := newEnv(t)
	d := loadDoc(t)
	ops := operations(d)
	for _, key := range sortedKeys(ops) {
		op := ops[key]
		t.Run(key, func(t *testing.T) {
			// Each operation finds the service "web" in place.
			// (A DELETE left it in its grace period: purge it first.)
			if svc, err := e.app.Services.Get(context.Background(), app.OperatorActor(), "web"); err == nil && svc.State == rampart.StateDeleted {
				e.purge("web")
			}
			if _, err := e.app.Services.Get(context.Background(), app.OperatorActor(), "web"); rampart.ErrorCode(err) == rampart.ENOTFOUND {
				e.createService(e.admin, "web")
			}
			// … without the protection an earlier PUT turned on, …
			if !strings.HasSuffix(key, "/termination-protection") {
				if _, err := e.app.Services.SetTerminationProtection(context.Background(), app.OperatorActor(), "web", false); err != nil {
					t.Fatal(err)
				}
			}
			backupID := ""
			// … run by rampart for the actions on a runtime, …
			if m := key[strings.LastIndex(key, "/")+1:]; m == "kill" || m == "restart" || m == "reset" || m == "version" {
				rt := rampart.Runtime{Kind: rampart.RuntimeExec, Command: "/bin/sleep", Args: []string{"3600"}, Port: 18080, Version: "1"}
				if _, err := e.app.Services.Update(context.Background(), app.OperatorActor(), rampart.ServiceUpdate{Name: "web", Runtime: &rt}); err != nil && !strings.Contains(err.Error(), "nothing to change") {
					t.Fatal(err)
				}
			}
			// … with a backup to download, and deleted for the restore.
			if strings.Contains(key, "/backups/{id}") {
				b, err := e.app.Services.CreateBackup(context.Background(), app.OperatorActor(), "web")
				if err != nil {
					t.Fatal(err)
				}
				backupID = strconv.FormatInt(b.ID, 10)
			}
			if strings.HasSuffix(key, "/restore") || strings.HasSuffix(key, "{name}/purge") {
				if err := e.app.Services.Delete(context.Background(), app.OperatorActor(), "web"); err != nil {
					t.Fatal(err)
				}
			}
			// … and, for the operations on one domain, its domain.
			if strings.Contains(key, "{domain}") {
				if _, err := e.app.Domains.Get(context.Background(), app.OperatorActor(), rampart.DomainRef{Service: "web", Name: "web.example.org"}); rampart.ErrorCode(err) == rampart.ENOTFOUND {
					if _, err := e.app.Domains.Add(context.Background(), app.OperatorActor(), rampart.DomainInput{Service: "web", Name: "web.example.org"}); err != nil {
						t.Fatal(err)
					}
				}
			}
			// … and, for the log, a request to read.
			if key == "GET /api/v1/logs" {
				e.logs.Publish(edge.LogEntry{Time: time.Now(), Service: "web", Host: "web." + testDomain, Method: "GET", Path: "/", Status: 200, Cache: "MISS"})
			}
			method, path, _ := strings.Cut(key, " ")
			// … and, for the firewall, a rule to change and a window to
			// confirm.
			if strings.Contains(key, "/firewall/rules/{id}") {
				res, err := e.app.Firewall.Add(context.Background(), app.OperatorActor(), rampart.FirewallRuleInput{Proto: "tcp", Ports: "9" + strconv.Itoa(len(key))})
				if err != nil {
					t.Fatal(err)
				}
				path = strings.ReplaceAll(path, "{id}", strconv.FormatInt(res.Rule.ID, 10))
			}
			path = strings.ReplaceAll(path, "{port}", "4242")
			if backupID != "" {
				path = strings.ReplaceAll(path, "{id}", backupID)
			}
			// … and, for the operations on one user, alice (whom DELETE
			// removed), and on one token, a token.
			if strings.Contains(key, "{email}") {
				if _, err := e.db.UserByEmail(context.Background(), "alice@example.com"); rampart.ErrorCode(err) == rampart.ENOTFOUND {
					e.user("alice@example.com", rampart.RoleMember)
				}
			}
			if strings.Contains(key, "/tokens/{id}") {
				_, tok, err := e.app.Accounts.CreateToken(context.Background(), app.OperatorActor(), rampart.TokenInput{Email: "admin@example.com", Name: "fixture"})
				if err != nil {
					t.Fatal(err)
				}
				path = strings.ReplaceAll(path, "{id}", strconv.FormatInt(tok.ID, 10))
			}
			// … and, for a transfer, the account of the example.
			if key == "POST /api/v1/services/{name}/transfer" {
				if _, err := e.db.UserByEmail(context.Background(), "noor@example.com"); rampart.ErrorCode(err) == rampart.ENOTFOUND {
					e.user("noor@example.com", rampart.RoleMember)
				}
			}
			if key == "POST /api/v1/firewall/confirm" {
				if _, err := e.app.Firewall.Apply(context.Background(), app.OperatorActor(), rampart.FirewallApplyInput{FirewallChange: rampart.FirewallChange{ConfirmWithin: rampart.Duration(time.Minute)}}); err != nil {
					t.Fatal(err)
				}
			}
			path = strings.ReplaceAll(path, "{name}", "web")
			path = strings.ReplaceAll(path, "{email}", "alice@example.com")
			path = strings.ReplaceAll(path, "{domain}", "web.example.org")
			// … and, for the operations on one SSH key, a key.
			if strings.Contains(path, "{key}") {
				path = strings.ReplaceAll(path, "{key}", sshKeyRef(t, e))
			}
			body := ""
			if rb, ok := op["requestBody"].(doc); ok {
				media := rb["content"].(doc)["application/json"].(doc)
				ex, ok := media["example"]
				if !ok {
					t.Fatalf("requestBody has no example")
				}
				b, _ := json.Marshal(ex)
				body = string(b)
			}
			// … and, for the steps after the password, a login under way.
			if key == "POST /api/v1/login/code" || key == "POST /api/v1/login/resend" {
				step := e.startLogin("admin@example.com")
				e.clock.Advance(rampart.EmailCodeResend)
				b, _ := json.Marshal(rampart.LoginCodeRequest{Challenge: step.Challenge, Code: e.mail.Code(t, "admin@example.com")})
				if key == "POST /api/v1/login/resend" {
					b, _ = json.Marshal(rampart.LoginResendRequest{Challenge: step.Challenge})
				}
				body = string(b)
			}
			// … and, for a new password, the second factor's confirmation.
			if key == "POST /api/v1/me/password" {
				admin, err := e.db.UserByEmail(context.Background(), "admin@example.com")
				if err != nil {
					t.Fatal(err)
				}
				step, err := e.app.Accounts.StartConfirm(context.Background(), app.UserActor(admin, ""))
				if err != nil {
					t.Fatal(err)
				}
				var in rampart.PasswordChange
				if err := json.Unmarshal([]byte(body), &in); err != nil {
					t.Fatal(err)
				}
				in.Challenge, in.Code = step.Challenge, e.mail.Code(t, "admin@example.com")
				b, _ := json.Marshal(in)
				body = string(b)
			}
			rec := e.do(method, path, e.admin, body)
			if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
				t.Fatalf("%s %s answered %d: %s", method, path, rec.Code, rec.Body)
			}
			if rec.Code >= 300 {
				t.Fatalf("%s %s with the documented example failed: %d %s", method, path, rec.Code, rec.Body)
			}
			resp, ok := op["responses"].(doc)[strconv.Itoa(rec.Code)]
			if !ok {
				t.Fatalf("status %d is not documented", rec.Code)
			}
			r, _ := resolve(t, d, resp)
			content, _ := r["content"].(doc)
			if content == nil {
				if rec.Body.Len() != 0 {
					t.Errorf("documented without a body, answered %s", rec.Body)
				}
				return
			}
			if len(content) != 1 {
				t.Fatalf("documented with %d media types, want one", len(content))
			}
			for media, c := range content {
				if ct := rec.Header().Get("Content-Type"); ct != media {
					t.Errorf("Content-Type %q, documented %q", ct, media)
				}
				schema, name := resolve(t, d, c.(doc)["schema"])
				// An archive is bytes: a zstd frame, and the length said.
				if media == "application/zstd" {
					if b := rec.Body.Bytes(); len(b) < 4 || !bytes.Equal(b[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}) || rec.Header().Get("Content-Length") != strconv.Itoa(len(b)) {
						t.Errorf("archive of %d bytes (Content-Length %s) does not start with zstd's magic number", len(b), rec.Header().Get("Content-Length"))
					}
					continue
				}
				// A stream (NDJSON) is a value of the schema per line.
				values := [][]byte{rec.Body.Bytes()}
				if media == "application/x-ndjson" {
					values = bytes.Fields(rec.Body.Bytes())
					if len(values) == 0 {
						t.Errorf("the stream has no lines to check")
					}
				}
				for _, v := range values {
					var got any
					if err := json.Unmarshal(v, &got); err != nil {
						t.Fatalf("answer is not JSON: %v", err)
					}
					if name != "" {
						checkValue(t, d, name, schema, got)
					}
				}
			}
			if hdrs, ok := r["headers"].(doc); ok {
				for h := range hdrs {
					if rec.Header().Get(h) == "" {
						t.Errorf("documented header %s is missing", h)
					}
				}
			}
		})
	}

	// The documented error responses use the Error schema.
	for _, name := range sortedKeys(d["components"].(doc)["responses"].(doc)) {
		r := d["components"].(doc)["responses"].(doc)[name].(doc)
		if _, schema := resolve(t, d, r["content"].(doc)["application/json"].(doc)["schema"]); schema != "Error" {
			t.Errorf("response %s has schema %s, want Error", name, schema)
		}
	}
	// An error answer fits the Error schema too.
	rec := e.do("GET", "/api/v1/services/nope", e.admin, "")
	var got any
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	schema, _ := resolve(t, d, map[string]any{"$ref": "#/components/schemas/Error"})
	checkValue(t, d, "Error", schema, got)

	// The served document is the embedded one.
	rec = e.do("GET", "/api/v1/openapi.json", "", "")
	if !bytes.Equal(rec.Body.Bytes(), openAPIDocument) || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("served document differs from openapi.json")
	}
}

// checkValue checks that an answer's JSON object has the required properties
// of its schema and no others.
func checkValue(t *testing.T, d doc, name string, schema doc, v any) {
	t.Helper()
	obj, ok := v.(map[string]any)
	if !ok {
		if schema["type"] == "object" {
			t.Errorf("%s: answered %T, want an object", name, v)
		}
		return
	}
	props, _ := schema["properties"].(doc)
	if props == nil {
		return
	}
	for k := range obj {
		if _, ok := props[k]; !ok {
			t.Errorf("%s: answer has property %q that the schema lacks", name, k)
		}
	}
	for _, r := range asList(schema["required"]) {
		if _, ok := obj[r.(string)]; !ok {
			t.Errorf("%s: answer lacks required property %q", name, r)
		}
	}
}

// schemaTypes pairs each schema in components/schemas with the Go type that
// is encoded or decoded under it. Schemas of plain strings have no entry.
var schemaTypes = map[string]reflect.Type{
	"Service":              reflect.TypeFor[rampart.ServiceView](),
	"Runtime":              reflect.TypeFor[rampart.Runtime](),
	"RunState":             reflect.TypeFor[rampart.RunState](),
	"Backup":               reflect.TypeFor[rampart.Backup](),
	"MailSettings":         reflect.TypeFor[rampart.MailSettings](),
	"MailCredentials":      reflect.TypeFor[rampart.MailCredentials](),
	"MailCredentialsInput": reflect.TypeFor[rampart.MailCredentialsInput](),
	"MailSuspendInput":     reflect.TypeFor[rampart.MailSuspendInput](),
	"MailQuotaInput":       reflect.TypeFor[rampart.MailQuotaInput](),
	"MailRecipient":        reflect.TypeFor[rampart.MailRecipient](),
	"MailMessage":          reflect.TypeFor[rampart.MailMessage](),
	"MailMessageList":      reflect.TypeFor[rampart.MailMessageList](),
	"MailDNSRecord":        reflect.TypeFor[rampart.MailDNSRecord](),
	"MailDNSList":          reflect.TypeFor[rampart.MailDNSList](),
	"MailQueue":            reflect.TypeFor[rampart.MailQueue](),
	"BackupList":           reflect.TypeFor[rampart.BackupList](),
	"RestoreInput":         reflect.TypeFor[rampart.RestoreInput](),
	"VersionInput":         reflect.TypeFor[rampart.VersionInput](),
	"TransferInput":        reflect.TypeFor[rampart.TransferInput](),
	"ServiceList":          reflect.TypeFor[rampart.ServiceList](),
	"Status":               reflect.TypeFor[rampart.Status](),
	"Condition":            reflect.TypeFor[rampart.Condition](),
	"ServiceInput":         reflect.TypeFor[rampart.ServiceInput](),
	"ServiceUpdate":        reflect.TypeFor[rampart.ServiceUpdate](),
	"AuditEvent":           reflect.TypeFor[rampart.AuditEvent](),
	"AuditList":            reflect.TypeFor[rampart.AuditList](),
	"User":                 reflect.TypeFor[rampart.User](),
	"Error":                reflect.TypeFor[rampart.ErrorResponse](),
	"ErrorBody":            reflect.TypeFor[rampart.ErrorBody](),
	"RateLimit":            reflect.TypeFor[rampart.RateLimit](),
	"Cache":                reflect.TypeFor[rampart.Cache](),
	"HSTS":                 reflect.TypeFor[rampart.HSTS](),
	"PurgeResult":          reflect.TypeFor[rampart.PurgeResult](),

	// Termination protection (issue 11).
	"TerminationProtectionInput": reflect.TypeFor[rampart.TerminationProtectionInput](),
	"Domain":                     reflect.TypeFor[rampart.Domain](),
	"DomainList":                 reflect.TypeFor[rampart.DomainList](),
	"DomainInput":                reflect.TypeFor[rampart.DomainInput](),
	"DomainUpdate":               reflect.TypeFor[rampart.DomainUpdate](),
	"SSLResetInput":              reflect.TypeFor[rampart.SSLResetInput](),
	"SSLReset":                   reflect.TypeFor[rampart.SSLReset](),
	"DomainCheck":                reflect.TypeFor[rampart.DomainCheck](),
	"ResolverCheck":              reflect.TypeFor[rampart.ResolverCheck](),
	"LogEvent":                   reflect.TypeFor[rampart.LogEvent](),
	"LogEntry":                   reflect.TypeFor[rampart.LogEntry](),

	// SSH keys (issue 9).
	"SSHKey":             reflect.TypeFor[rampart.SSHKey](),
	"SSHKeyInput":        reflect.TypeFor[rampart.SSHKeyInput](),
	"SSHKeyList":         reflect.TypeFor[rampart.SSHKeyList](),
	"LoginRequest":       reflect.TypeFor[rampart.LoginRequest](),
	"LoginCodeRequest":   reflect.TypeFor[rampart.LoginCodeRequest](),
	"LoginResendRequest": reflect.TypeFor[rampart.LoginResendRequest](),
	"LoginStep":          reflect.TypeFor[rampart.LoginStep](),
	"LoginResponse":      reflect.TypeFor[rampart.LoginResponse](),
	"UserList":           reflect.TypeFor[rampart.UserList](),
	"InviteInput":        reflect.TypeFor[rampart.InviteInput](),
	"UserPatch":          reflect.TypeFor[rampart.UserPatch](),
	"PasswordChange":     reflect.TypeFor[rampart.PasswordChange](),
	"TokenRequest":       reflect.TypeFor[rampart.TokenRequest](),
	"TokenCreated":       reflect.TypeFor[rampart.TokenCreated](),
	"TokenList":          reflect.TypeFor[rampart.TokenList](),
	"APIToken":           reflect.TypeFor[rampart.APIToken](),
	"SSHKeysStatus":      reflect.TypeFor[rampart.SSHKeysStatus](),

	// The TXT record that proves a domain (issue 8).
	"DomainChallenge": reflect.TypeFor[rampart.DomainChallenge](),

	// The host firewall (issue 9).
	"FirewallState":         reflect.TypeFor[rampart.FirewallState](),
	"FirewallRule":          reflect.TypeFor[rampart.FirewallRule](),
	"FirewallRuleList":      reflect.TypeFor[rampart.FirewallRuleList](),
	"FirewallRuleInput":     reflect.TypeFor[rampart.FirewallRuleInput](),
	"FirewallRulePatch":     reflect.TypeFor[rampart.FirewallRulePatch](),
	"FirewallToolPortInput": reflect.TypeFor[rampart.FirewallToolPortInput](),
	"FirewallApplyInput":    reflect.TypeFor[rampart.FirewallApplyInput](),
	"FirewallPending":       reflect.TypeFor[rampart.FirewallPending](),
	"FirewallStatus":        reflect.TypeFor[rampart.FirewallStatus](),
	"FirewallToolPort":      reflect.TypeFor[rampart.FirewallToolPort](),
	"FirewallRuleResult":    reflect.TypeFor[rampart.FirewallRuleResult](),
}

// stringSchemas are the schemas for Go string types (names, URLs, enums).
var stringSchemas = []string{"ServiceName", "Upstream", "ServiceState", "Duration", "TLSMode", "DomainState", "MailStatus"}

// requestSchemas are decoded with unknown fields refused, which the
// document must say with additionalProperties: false.
var requestSchemas = []string{"LoginRequest", "LoginCodeRequest", "LoginResendRequest", "ServiceInput", "ServiceUpdate", "RateLimit", "Cache", "HSTS", "DomainInput", "DomainUpdate", "SSLResetInput",
	"FirewallRuleInput", "FirewallRulePatch", "FirewallToolPortInput", "FirewallApplyInput",
	"SSHKeyInput", "InviteInput", "UserPatch", "PasswordChange", "TokenRequest", "TerminationProtectionInput",
	"MailCredentialsInput", "MailSuspendInput", "MailQuotaInput",
}

func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	d := loadDoc(t)
	schemas := d["components"].(doc)["schemas"].(doc)
	for _, name := range sortedKeys(schemas) {
		if _, ok := schemaTypes[name]; !ok && !slices.Contains(stringSchemas, name) {
			t.Errorf("schema %s has no Go type in schemaTypes", name)
		}
	}
	for _, name := range stringSchemas {
		if s, _ := resolve(t, d, schemas[name]); s["type"] != "string" {
			t.Errorf("schema %s: type %v, want string", name, s["type"])
		}
	}
	codes := rampart.ErrorCodes()
	body, _ := resolve(t, d, schemas["ErrorBody"])
	code, _ := resolve(t, d, body["properties"].(doc)["code"])
	var documented []string
	for _, c := range asList(code["enum"]) {
		documented = append(documented, c.(string))
	}
	if !slices.Equal(slices.Sorted(slices.Values(documented)), slices.Sorted(slices.Values(codes))) {
		t.Errorf("ErrorBody.code enum = %v, the API answers %v", documented, codes)
	}

	for _, name := range sortedKeys(schemaTypes) {
		typ := schemaTypes[name]
		t.Run(name, func(t *testing.T) {
			s, ok := schemas[name].(doc)
			if !ok {
				t.Fatalf("openapi.json has no schema %s for %v", name, typ)
			}
			if s["type"] != "object" {
				t.Errorf("type = %v, want object", s["type"])
			}
			closed := s["additionalProperties"] == false
			if want := slices.Contains(requestSchemas, name); closed != want {
				t.Errorf("additionalProperties: false is %v, want %v", closed, want)
			}
			props, _ := s["properties"].(doc)
			fields := goFields(typ)
			for _, f := range fields {
				p, ok := props[f.name]
				if !ok {
					t.Errorf("property %q (%v.%s) is missing", f.name, typ, f.goName)
					continue
				}
				checkType(t, d, f.name, p, f.typ)
			}
			var names, required []string
			for _, f := range fields {
				names = append(names, f.name)
				if !f.omitempty {
					required = append(required, f.name)
				}
			}
			for p := range props {
				if !slices.Contains(names, p) {
					t.Errorf("property %q is not a JSON field of %v (fields: %v)", p, typ, names)
				}
			}
			// A field without omitempty is always sent, so the schema can
			// promise it (and the request types' such fields are the ones a
			// caller must give).
			var gotRequired []string
			for _, r := range asList(s["required"]) {
				gotRequired = append(gotRequired, r.(string))
			}
			sort.Strings(gotRequired)
			sort.Strings(required)
			if !slices.Equal(gotRequired, required) {
				t.Errorf("required = %v, want the fields without omitempty: %v", gotRequired, required)
			}
		})
	}
}

type goField struct {
	name, goName string
	typ          reflect.Type
	omitempty    bool
}

// goFields lists the JSON fields of struct type t the way encoding/json
// sees them, including those of embedded structs.
func goFields(t reflect.Type) []goField {
	var out []goField
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, goFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, goField{name: name, goName: f.Name, typ: f.Type, omitempty: strings.Contains(opts, "omitempty")})
	}
	return out
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[rampart.Duration]() // JSON text like "3s"
)

// checkType checks that the property schema p describes values of Go type typ.
func checkType(t *testing.T, d doc, name string, p any, typ reflect.Type) {
	t.Helper()
	s, ref := resolve(t, d, p)
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	want := ""
	switch {
	case typ == timeType:
		want = "string"
		if s["format"] != "date-time" {
			t.Errorf("%s: format %v, want date-time", name, s["format"])
		}
	case typ == durationType:
		want = "string"
		if ref != "Duration" {
			t.Errorf("%s: refers to schema %q, want Duration", name, ref)
		}
	case typ.Kind() == reflect.String:
		want = "string"
	case typ.Kind() == reflect.Bool:
		want = "boolean"
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		want = "integer"
	case typ.Kind() == reflect.Slice:
		want = "array"
		if items, ok := s["items"]; !ok {
			t.Errorf("%s: array without items", name)
		} else {
			checkType(t, d, name+"[]", items, typ.Elem())
		}
	case typ.Kind() == reflect.Map:
		// A map is an object whose every value has one schema; a map of
		// pointers (a merge patch) also takes null for a value.
		want = "object"
		ap, ok := s["additionalProperties"].(doc)
		if !ok {
			t.Errorf("%s: a map without an additionalProperties schema", name)
			break
		}
		elem := typ.Elem()
		if elem.Kind() == reflect.Pointer {
			types := asList(ap["type"])
			if !slices.Contains(types, any("null")) || len(types) != 2 {
				t.Errorf("%s{}: type %v, want [<type> null] for Go %v", name, ap["type"], elem)
				break
			}
			nonNull := types[0]
			if nonNull == "null" {
				nonNull = types[1]
			}
			ap = doc{"type": nonNull}
		}
		checkType(t, d, name+"{}", ap, elem)
	case typ.Kind() == reflect.Struct:
		want = "object"
		if schemaTypes[ref] != typ {
			t.Errorf("%s: refers to schema %q, want the one for %v", name, ref, typ)
		}
	default:
		t.Errorf("%s: no rule for Go type %v", name, typ)
	}
	if s["type"] != want {
		t.Errorf("%s: type %v, want %s (Go %v)", name, s["type"], want, typ)
	}
}
