package rampart

// SSLResetInput asks for certificate storage to be reset: the body of POST
// /api/v1/ssl/reset. {} resets everything (admins), {"domain": "…"} one
// name.
type SSLResetInput struct {
	Domain string `json:"domain,omitempty"`
}

// SSLReset says what a reset did.
type SSLReset struct {
	// Domain is the one name reset; "" when the whole storage was.
	Domain string `json:"domain,omitempty"`
	// MovedTo is where the old files went on the server ("" when there was
	// nothing to move). Only admins are told the path.
	MovedTo string `json:"moved_to,omitempty"`
	// Reissuing lists the names being certified again, as far as the
	// caller may see them.
	Reissuing []string `json:"reissuing"`
}
