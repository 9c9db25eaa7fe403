package totp

import (
	"bytes"
	"encoding/base32"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"
)

// secretSize is 160 bits, the length RFC 4226 recommends for HMAC-SHA-1.
const secretSize = 20

// QRSize is the width and height of the QR code PNG in pixels: large enough
// for a phone camera at arm's length, small enough to inline in a page.
const QRSize = 256

// quietZone is the white border around the QR code in modules. ISO 18004
// asks for 4; readers struggle to find the finder patterns without it.
const quietZone = 4

// Key is what the enrolment page shows. Nothing in it is stored but Secret
// (sealed); URL and PNG are derived from it for the one page that shows them.
type Key struct {
	// Secret is the shared secret in base32 without padding, the form
	// authenticator apps take when typed in (see FormatSecret).
	Secret string
	// URL is the otpauth://totp/… key URI the QR code carries.
	URL string
	// PNG is a QR code of URL, QRSize pixels square, with a quiet zone.
	PNG []byte
}

// Generate makes a new random key for account (the user's email, as the app
// will list it) at issuer (the product or host name the app shows above it).
// Neither may contain a colon: the key URI uses one to separate them.
func Generate(issuer, account string) (*Key, error) { return generate(issuer, account, nil) }

// generate makes the Key of secret, or of a new random secret when nil.
func generate(issuer, account string, secret []byte) (*Key, error) {
	if issuer == "" || account == "" {
		return nil, errors.New("totp: an issuer and an account name are needed to label the key in the app")
	}
	if strings.Contains(issuer, ":") || strings.Contains(account, ":") {
		return nil, errors.New("totp: the issuer and account name must not contain a colon (the key URI separates them with one)")
	}
	k, err := pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      Period,
		SecretSize:  secretSize,
		Digits:      otp.Digits(Digits),
		Algorithm:   otp.AlgorithmSHA1,
		Secret:      secret,
	})
	if err != nil {
		return nil, fmt.Errorf("totp: generating a key: %w", err)
	}
	img, err := qrImage(k.URL(), QRSize)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: encoding the QR code: %w", err)
	}
	return &Key{Secret: k.Secret(), URL: k.URL(), PNG: buf.Bytes()}, nil
}

// qrImage draws text as a black-on-white QR code size pixels square: whole
// pixels per module (a blurred module edge confuses readers), a quiet zone
// of at least 4 modules, the code centred in whatever is left over. The
// library's own scaling leaves no quiet zone, hence this.
func qrImage(text string, size int) (image.Image, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("totp: making the QR code: %w", err)
	}
	n := code.Bounds().Dx()
	scale := size / (n + 2*quietZone)
	if scale < 1 {
		return nil, fmt.Errorf("totp: the key URI needs a %d-module QR code, too large for %d pixels; use a shorter issuer or account name", n, size)
	}
	offset := (size - n*scale) / 2
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if color.GrayModel.Convert(code.At(x, y)).(color.Gray).Y >= 0x80 {
				continue // a light module
			}
			for dy := 0; dy < scale; dy++ {
				for dx := 0; dx < scale; dx++ {
					img.SetGray(offset+x*scale+dx, offset+y*scale+dy, color.Gray{})
				}
			}
		}
	}
	return img, nil
}

// FormatSecret splits a secret into groups of four for a person to read or
// type ("JBSW Y3DP EHPK 3PXP"); apps ignore the spaces.
func FormatSecret(secret string) string {
	var b strings.Builder
	for i := 0; i < len(secret); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(secret[i:min(i+4, len(secret))])
	}
	return b.String()
}

// FromSecret rebuilds the Key of a secret that Generate made earlier, for
// an enrolment page shown again before its first code was validated.
func FromSecret(issuer, account, secret string) (*Key, error) {
	if err := checkSecret(secret); err != nil {
		return nil, err
	}
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(strings.TrimSpace(secret), "=")))
	return generate(issuer, account, raw)
}
