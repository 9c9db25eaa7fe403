package totp

import (
	"bytes"
	"encoding/base32"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

func TestGenerate(t *testing.T) {
	k, err := Generate("rampart", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(k.Secret, "=") || len(k.Secret) != 32 {
		t.Errorf("secret %q: want 32 base32 characters without padding", k.Secret)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(k.Secret)
	if err != nil || len(raw) != secretSize {
		t.Errorf("secret %q decodes to %d bytes, %v", k.Secret, len(raw), err)
	}
	u, err := url.Parse(k.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/rampart:alice@example.com" {
		t.Errorf("URL %q: want otpauth://totp/rampart:alice@example.com", k.URL)
	}
	for name, want := range map[string]string{"secret": k.Secret, "issuer": "rampart", "digits": "6", "period": "30", "algorithm": "SHA1"} {
		if got := q.Get(name); got != want {
			t.Errorf("URL %s = %q, want %q", name, got, want)
		}
	}
	// The key works with Validate.
	now := time.Now()
	c, err := Code(k.Secret, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(k.Secret, c, now, 0); err != nil {
		t.Errorf("Validate of a generated key's code: %v", err)
	}
	k2, _ := Generate("rampart", "alice@example.com")
	if k2.Secret == k.Secret {
		t.Error("two keys have the same secret")
	}
}

func TestGenerateRefuses(t *testing.T) {
	for _, tc := range [][2]string{{"", "a@b"}, {"rampart", ""}, {"ram:part", "a@b"}, {"rampart", "a:b"}} {
		if _, err := Generate(tc[0], tc[1]); err == nil {
			t.Errorf("Generate(%q, %q) succeeded, want an error", tc[0], tc[1])
		}
	}
}

// TestQRDecodes reads each QR code back with an independent decoder, as a
// phone would, and expects the exact otpauth URL.
func TestQRDecodes(t *testing.T) {
	for _, account := range []string{
		"a@b.c",
		"alice@example.com",
		"someone.with.a.rather.long.name+mfa@subdomain.example-company.co.uk",
		"Ünïcödé user & co",
		strings.Repeat("x", 200) + "@example.com",
	} {
		k, err := Generate("rampart (host.example.com)", account)
		if err != nil {
			t.Fatalf("%s: %v", account, err)
		}
		img, err := png.Decode(bytes.NewReader(k.PNG))
		if err != nil {
			t.Fatalf("%s: PNG: %v", account, err)
		}
		if b := img.Bounds(); b.Dx() != QRSize || b.Dy() != QRSize {
			t.Errorf("%s: image is %v, want %dx%d", account, b, QRSize, QRSize)
		}
		if got := decodeQR(t, img); got != k.URL {
			t.Errorf("%s: QR code says %q, want %q", account, got, k.URL)
		}
	}
}

func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decoding the QR code: %v", err)
	}
	return res.GetText()
}

func TestFormatSecret(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "",
		"ABC":                              "ABC",
		"ABCD":                             "ABCD",
		"ABCDE":                            "ABCD E",
		"JBSWY3DPEHPK3PXP":                 "JBSW Y3DP EHPK 3PXP",
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ": "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
	} {
		if got := FormatSecret(in); got != want {
			t.Errorf("FormatSecret(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestQRQuietZone checks the white border readers need: at least four
// modules of it on every side, at whole pixels per module.
func TestQRQuietZone(t *testing.T) {
	url := "otpauth://totp/rampart:alice@example.com?algorithm=SHA1&digits=6&issuer=rampart&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	code, err := qr.Encode(url, qr.M, qr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	n := code.Bounds().Dx()
	img, err := qrImage(url, QRSize)
	if err != nil {
		t.Fatal(err)
	}
	scale := QRSize / (n + 2*quietZone)
	if scale < 3 {
		t.Fatalf("%d pixels per module: too few for a phone camera", scale)
	}
	border := (QRSize - n*scale) / 2
	if border < quietZone*scale {
		t.Fatalf("border %d px, want at least %d", border, quietZone*scale)
	}
	dark := 0
	for y := 0; y < QRSize; y++ {
		for x := 0; x < QRSize; x++ {
			isDark := color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y < 0x80
			inside := x >= border && y >= border && x < border+n*scale && y < border+n*scale
			if isDark && !inside {
				t.Fatalf("dark pixel at (%d,%d) in the quiet zone", x, y)
			}
			if isDark {
				dark++
			}
		}
	}
	if dark == 0 {
		t.Fatal("no dark pixels: no QR code drawn")
	}
	// The top-left finder pattern starts at the corner of the code.
	if c := color.GrayModel.Convert(img.At(border, border)).(color.Gray).Y; c >= 0x80 {
		t.Error("the finder pattern's corner module is not dark")
	}
}

func TestFromSecret(t *testing.T) {
	k, err := Generate("rampart", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	again, err := FromSecret("rampart", "ada@example.com", k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if again.Secret != k.Secret || again.URL != k.URL || !bytes.Equal(again.PNG, k.PNG) {
		t.Fatalf("FromSecret = %q %q, want %q %q", again.Secret, again.URL, k.Secret, k.URL)
	}
	if _, err := FromSecret("rampart", "ada@example.com", "SHORT"); err != ErrSecret {
		t.Fatalf("short secret: %v", err)
	}
}
