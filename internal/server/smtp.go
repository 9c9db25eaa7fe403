package server

import (
	"errors"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/mailer"
)

// newSMTPMailer sends through the configured SMTP server.
func newSMTPMailer(cfg config.Config) (mailer.Mailer, error) {
	return nil, errors.New("TODO: SMTP mailer being merged")
}
