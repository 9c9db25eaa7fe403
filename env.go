package rampart

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Env is a service's environment: the variables its process is started
// with. Apps that must know their own domain (the seed's "update the domain
// env var") read it from here. Keys are unique by construction; the order
// people see is sorted by name.
type Env map[string]string

// Bounds of a service's environment. They keep one service's settings small
// enough to show on a page and to pass to a process (Linux allows 128 KiB
// per string and 2 MiB in all for a process's arguments and environment).
const (
	MaxEnvVars       = 200
	MaxEnvNameLength = 128
	MaxEnvValueBytes = 32 << 10
	MaxEnvBytes      = 64 << 10
)

// ValidateEnvName checks that name can be an environment variable: letters,
// digits and underscores, not starting with a digit (what POSIX shells
// accept and what every runtime passes through unchanged).
func ValidateEnvName(name string) error {
	switch {
	case name == "":
		return FieldError("env", Errorf(EINVALID, "an environment variable needs a name, e.g. APP_DOMAIN=shop.example.com"))
	case len(name) > MaxEnvNameLength:
		return FieldError("env", Errorf(EINVALID, "environment variable name %q is %d characters long: at most %d", name[:32]+"…", len(name), MaxEnvNameLength))
	case name[0] >= '0' && name[0] <= '9':
		return FieldError("env", Errorf(EINVALID, "environment variable name %q starts with a digit: start it with a letter or _", name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			r, _ := utf8.DecodeRuneInString(name[i:])
			return FieldError("env", Errorf(EINVALID, "environment variable name %q has the character %q: use only A-Z, a-z, 0-9 and _", name, string(r)))
		}
	}
	return nil
}

// Validate checks every name and value and the bounds.
func (e Env) Validate() error {
	if len(e) > MaxEnvVars {
		return FieldError("env", Errorf(EINVALID, "%d environment variables: at most %d are allowed", len(e), MaxEnvVars))
	}
	total := 0
	for _, k := range e.Names() {
		v := e[k]
		if err := ValidateEnvName(k); err != nil {
			return err
		}
		switch {
		case len(v) > MaxEnvValueBytes:
			return FieldError("env", Errorf(EINVALID, "the value of %s is %d bytes: at most %d", k, len(v), MaxEnvValueBytes))
		case strings.IndexByte(v, 0) >= 0:
			return FieldError("env", Errorf(EINVALID, "the value of %s contains a NUL byte, which no process environment can hold", k))
		case !utf8.ValidString(v):
			return FieldError("env", Errorf(EINVALID, "the value of %s is not valid UTF-8 text", k))
		}
		total += len(k) + 1 + len(v)
	}
	if total > MaxEnvBytes {
		return FieldError("env", Errorf(EINVALID, "the environment is %d bytes in all: at most %d", total, MaxEnvBytes))
	}
	return nil
}

// Names returns the variable names in sorted order.
func (e Env) Names() []string {
	names := make([]string, 0, len(e))
	for k := range e {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Clone returns a copy of e (never nil).
func (e Env) Clone() Env {
	out := make(Env, len(e))
	for k, v := range e {
		out[k] = v
	}
	return out
}

// EnvPatch changes an environment the way a JSON merge patch (RFC 7396)
// would: a name with a value sets it, a name with null removes it, names
// not mentioned stay as they are.
type EnvPatch map[string]*string

// Apply returns e with p applied, and the names set and removed (sorted),
// for the audit log, which records names but never values.
func (p EnvPatch) Apply(e Env) (out Env, set, removed []string) {
	out = e.Clone()
	for k, v := range p {
		if v == nil {
			if _, ok := out[k]; ok {
				delete(out, k)
				removed = append(removed, k)
			}
			continue
		}
		if old, ok := out[k]; !ok || old != *v {
			set = append(set, k)
		}
		out[k] = *v
	}
	sort.Strings(set)
	sort.Strings(removed)
	return out, set, removed
}

// Diff returns the patch that turns e into want.
func (e Env) Diff(want Env) EnvPatch {
	p := EnvPatch{}
	for k := range e {
		if _, ok := want[k]; !ok {
			p[k] = nil
		}
	}
	for k, v := range want {
		if old, ok := e[k]; !ok || old != v {
			p[k] = &v
		}
	}
	return p
}

// ParseEnvFile reads the dotenv text people paste into the dashboard's Env
// tab and pass to `rampart env set --file`: one NAME=value per line; blank
// lines and lines starting with # are skipped; "export " in front of a name
// is allowed. A value in double quotes may hold \n, \t, \" and \\ escapes
// (how a value with a newline, such as a PEM key, is written on one line);
// a value in single quotes is taken literally; an unquoted value runs to
// the end of the line with surrounding spaces trimmed. A name given twice
// is an error: the second would silently win otherwise.
func ParseEnvFile(text string) (Env, error) {
	env := Env{}
	seen := map[string]int{}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, raw, ok := strings.Cut(line, "=")
		if !ok {
			return nil, FieldError("env", Errorf(EINVALID, "line %d: %q has no '=': write NAME=value", n, clip(line)))
		}
		name = strings.TrimSpace(name)
		if err := ValidateEnvName(name); err != nil {
			return nil, FieldError("env", Errorf(EINVALID, "line %d: %s", n, ErrorMessage(err)))
		}
		if first, dup := seen[name]; dup {
			return nil, FieldError("env", Errorf(EINVALID, "line %d: %s is already set on line %d: keep one of them", n, name, first))
		}
		seen[name] = n
		value, err := envValue(strings.TrimSpace(raw))
		if err != nil {
			return nil, FieldError("env", Errorf(EINVALID, "line %d (%s): %v", n, name, err))
		}
		env[name] = value
	}
	if err := env.Validate(); err != nil {
		return nil, err
	}
	return env, nil
}

func envValue(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	switch q := raw[0]; q {
	case '\'':
		if len(raw) < 2 || raw[len(raw)-1] != '\'' {
			return "", fmt.Errorf("the value starts with ' but does not end with one")
		}
		return raw[1 : len(raw)-1], nil
	case '"':
		if len(raw) < 2 || raw[len(raw)-1] != '"' {
			return "", fmt.Errorf(`the value starts with " but does not end with one`)
		}
		var b strings.Builder
		body := raw[1 : len(raw)-1]
		for i := 0; i < len(body); i++ {
			c := body[i]
			if c == '"' {
				return "", fmt.Errorf(`a " inside a double-quoted value must be written \"`)
			}
			if c != '\\' {
				b.WriteByte(c)
				continue
			}
			if i+1 == len(body) {
				return "", fmt.Errorf(`the value ends with a lone \: write \\ for a backslash`)
			}
			i++
			switch body[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '"', '\\':
				b.WriteByte(body[i])
			default:
				return "", fmt.Errorf(`unknown escape \%c: use \n, \t, \r, \" or \\`, body[i])
			}
		}
		return b.String(), nil
	}
	return raw, nil
}

// FormatEnvFile writes e as ParseEnvFile reads it, sorted by name: plain
// values as they are, values that would not survive unquoted (spaces at
// the ends, quotes, #, newlines…) in double quotes with escapes.
func FormatEnvFile(e Env) string {
	var b strings.Builder
	for _, k := range e.Names() {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(quoteEnvValue(e[k]))
		b.WriteByte('\n')
	}
	return b.String()
}

func quoteEnvValue(v string) string {
	if v == strings.TrimSpace(v) && !strings.ContainsAny(v, "\"'\\\n\r\t#") {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// clip shortens s for an error message.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:40]) + "…"
}
