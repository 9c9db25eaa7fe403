package totp

import "strings"

// maxInput bounds what parseCode looks at: a code with generous spacing
// fits many times over, and a pasted essay is refused without scanning it.
const maxInput = 64

// parseCode returns the digits of a code the user typed, which must be
// exactly digits long once spaces are removed. Apps show codes as "123 456"
// and users copy them that way; anything else (letters, dashes, a wrong
// length) is ErrMalformed so the form can say "type the 6 digits" rather
// than "wrong code".
func parseCode(input string, digits int) (string, error) {
	if len(input) > maxInput {
		return "", ErrMalformed
	}
	var b strings.Builder
	b.Grow(digits)
	for i := 0; i < len(input); i++ {
		switch c := input[i]; {
		case c == ' ' || c == '\t':
		case c >= '0' && c <= '9':
			if b.Len() == digits {
				return "", ErrMalformed
			}
			b.WriteByte(c)
		default:
			return "", ErrMalformed
		}
	}
	if b.Len() != digits {
		return "", ErrMalformed
	}
	return b.String(), nil
}
