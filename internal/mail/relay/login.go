package relay

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// loginServer is the server side of the obsolete but widespread LOGIN SASL
// mechanism (go-sasl has only the client): the server asks "Username:" and
// "Password:", each answer base64 on its own line (go-smtp does the base64).
type loginServer struct {
	auth     sasl.PlainAuthenticator
	step     int
	username string
}

func newLoginServer(auth sasl.PlainAuthenticator) sasl.Server {
	return &loginServer{auth: auth}
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil { // no initial response: ask for the user name
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.auth("", l.username, string(response))
	}
	return nil, false, errors.New("sasl: unexpected LOGIN response after authentication")
}
