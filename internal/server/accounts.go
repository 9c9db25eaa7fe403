package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/rampart-dev/rampart/internal/auth/sealed"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/mailer"
)

// SecretKey returns the key that seals secrets at rest (authenticator app
// seeds, device cookies): RAMPART_SECRET_KEY when set, else the key file
// (secrets.key_file, default <data>/secret.key), created on first use. The
// operator commands use it too, so that they open what serve sealed.
func SecretKey(cfg config.Config) (*sealed.Box, error) {
	if v, ok := os.LookupEnv(sealed.EnvKey); ok {
		key, err := sealed.ParseKey(v)
		if err != nil {
			return nil, err
		}
		defer clear(key)
		return sealed.FromKey(key)
	}
	path := cfg.Secrets.KeyFile
	if path == "" {
		path = filepath.Join(cfg.Data, "secret.key")
	}
	box, err := sealed.LoadOrCreateKey(path)
	if err != nil {
		return nil, fmt.Errorf("secrets.key_file: %w", err)
	}
	return box, nil
}

// NewMailer returns the platform's mailer: SMTP when mail.smtp.host is
// set, else one that writes each mail, login codes included, to the log —
// fine for the demo and a first look, not for a server others log in to,
// which is why serve says so at start.
func NewMailer(cfg config.Config, log *slog.Logger) (mailer.Mailer, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Mail.SMTP.Host == "" {
		return mailer.Log{Logger: log.With("log", "mail")}, nil
	}
	return mailer.NewSMTP(cfg.MailerConfig())
}
