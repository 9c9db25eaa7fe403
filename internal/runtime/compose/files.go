package compose

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/internal/runtime"
)

// The files the driver keeps in spec.ProjectDir. The compose file and the
// env file are what compose reads; the state file is the driver's memory of
// what it last asked for, so that a restarted rampart still knows which
// Generation runs and why the last `up` failed.
const (
	composeFileName = "docker-compose.yml"
	envFileName     = ".env"
	stateFileName   = ".rampart-state.json"
)

// ProjectName is the compose project name of a service: keyed by its ID so
// that a service that reuses a deleted one's name never reaches the old
// project's containers, with the name after it for people reading `docker
// ps`. It holds only what compose accepts in a project name (lowercase
// letters, digits, '-' and '_') and starts with a letter.
func ProjectName(spec runtime.Spec) string {
	var b strings.Builder
	b.WriteString("rampart-")
	b.WriteString(strconv.FormatInt(spec.ID, 10))
	name := strings.ToLower(spec.Name)
	const maxName = 40
	n, dash := 0, true // dash: the last byte written is '-', so no second one
	for _, r := range name {
		if n >= maxName {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			if n == 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			n++
			dash = false
		default:
			if !dash && n > 0 {
				b.WriteByte('-')
				n++
				dash = true
			}
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// envFile renders the env file compose reads for ${...} substitution and
// that compose files pass to containers with `env_file: .env`: spec.Env,
// then VERSION, DATA_DIR and PORT, which the driver sets and which win over
// entries of the same names in spec.Env.
//
// docker-compose v1 reads it with python-dotenv, which expands ${NAME} in
// every value however it is quoted, and Compose v2 expands $ in double
// quotes; so a value is written bare when it is plain, in single quotes
// (literal to both) when it holds no quote or backslash, in double quotes
// when it holds no '$', and refused otherwise. Newlines are refused: the
// format has no way to hold one that both versions read alike.
func envFile(spec runtime.Spec) ([]byte, error) {
	own := map[string]string{
		"VERSION":  spec.Version,
		"DATA_DIR": spec.DataDir,
		"PORT":     strconv.Itoa(spec.Port),
	}
	var b strings.Builder
	b.WriteString("# Written by rampart for this service; changes here are overwritten.\n")
	write := func(k, v string) error {
		if !validKey(k) {
			return fmt.Errorf("environment variable name %q is not valid: use letters, digits and '_', not starting with a digit", k)
		}
		q, err := quoteEnvValue(v)
		if err != nil {
			return fmt.Errorf("environment variable %s: %w", k, err)
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(q)
		b.WriteByte('\n')
		return nil
	}
	for _, kv := range spec.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("environment entry %q has no '=': write it as KEY=VALUE", kv)
		}
		if _, mine := own[k]; mine {
			continue
		}
		if err := write(k, v); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"VERSION", "DATA_DIR", "PORT"} {
		if err := write(k, own[k]); err != nil {
			return nil, err
		}
	}
	return []byte(b.String()), nil
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// quoteEnvValue writes v so that docker-compose v1 and v2 both read it back
// unchanged, or says why it cannot be.
func quoteEnvValue(v string) (string, error) {
	if strings.ContainsAny(v, "\n\r\x00") {
		return "", errors.New("the value holds a newline, which a compose env file cannot hold: put it on one line (or base64-encode it)")
	}
	if strings.Contains(v, "${") {
		return "", errors.New(`the value holds "${", which docker-compose expands in env files: remove it or encode the value`)
	}
	plain := true
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.,:/@%+=", r)) {
			plain = false
			break
		}
	}
	switch {
	case plain:
		return v, nil
	case !strings.ContainsAny(v, `'\`):
		return "'" + v + "'", nil
	case !strings.Contains(v, "$"):
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`, nil
	}
	return "", errors.New(`the value holds '$' together with a quote or backslash, which no compose env file quoting keeps literal: change the value`)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so that compose never reads half a file and a
// crash leaves the old one. Mode 0600: the env file holds secrets.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeProject writes the compose file and the env file to spec.ProjectDir,
// making the directory (0700) if needed.
func writeProject(spec runtime.Spec) error {
	if !filepath.IsAbs(spec.ProjectDir) {
		return fmt.Errorf("project directory %q is not absolute: the service's spec must name an absolute ProjectDir", spec.ProjectDir)
	}
	if strings.TrimSpace(spec.ComposeFile) == "" {
		return errors.New("the service has no compose file: paste its docker-compose.yml into the service's settings")
	}
	env, err := envFile(spec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(spec.ProjectDir, 0o700); err != nil {
		return fmt.Errorf("making the project directory: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(spec.ProjectDir, composeFileName), []byte(spec.ComposeFile)); err != nil {
		return fmt.Errorf("writing the compose file: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(spec.ProjectDir, envFileName), env); err != nil {
		return fmt.Errorf("writing the env file: %w", err)
	}
	return nil
}

// projectState is what the driver last did to a project, kept in the state
// file so that it outlives rampart's process.
type projectState struct {
	Hash       string    `json:"hash,omitempty"`       // the spec the last successful up ran
	Generation int64     `json:"generation"`           // its Generation: a new one forces a recreate
	Started    bool      `json:"started,omitempty"`    // someone wants it running (Start succeeded, no Stop since)
	Failed     string    `json:"failed,omitempty"`     // the last up failed: why, and what to do
	FailedAt   time.Time `json:"failed_at,omitempty"`  // when
	StoppedAt  time.Time `json:"stopped_at,omitempty"` // when Stop or Kill last ran
}

func readState(dir string) (projectState, bool, error) {
	var st projectState
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		// A damaged state file only costs the memory of the last up: start
		// afresh rather than refuse to run the service.
		return projectState{}, false, nil
	}
	return st, true, nil
}

func writeState(dir string, st projectState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFileName), b)
}
