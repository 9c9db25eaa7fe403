package rampart

import (
	"maps"
	"strings"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Env
		err      string
	}{
		{name: "empty", in: "", want: Env{}},
		{name: "plain", in: "APP_DOMAIN=shop.example.com\nPORT=8080\n", want: Env{"APP_DOMAIN": "shop.example.com", "PORT": "8080"}},
		{name: "comments blanks crlf export", in: "# the shop\r\n\r\nexport A=1\r\n  B = two words  \r\n", want: Env{"A": "1", "B": "two words"}},
		{name: "empty value", in: "EMPTY=", want: Env{"EMPTY": ""}},
		{name: "equals in value", in: "DSN=postgres://u:p@db/x?sslmode=require&a=b", want: Env{"DSN": "postgres://u:p@db/x?sslmode=require&a=b"}},
		{name: "single quoted literal", in: `RAW='a\nb "c"'`, want: Env{"RAW": `a\nb "c"`}},
		{name: "double quoted escapes", in: `KEY="-----BEGIN-----\nabc\n-----END-----\n" `, want: Env{"KEY": "-----BEGIN-----\nabc\n-----END-----\n"}},
		{name: "double quoted spaces kept", in: `PAD="  x  "`, want: Env{"PAD": "  x  "}},
		{name: "no equals", in: "A=1\nJUSTANAME\n", err: `line 2: "JUSTANAME" has no '='`},
		{name: "bad name", in: "MY-VAR=1", err: `line 1: environment variable name "MY-VAR" has the character "-"`},
		{name: "digit first", in: "1A=1", err: "starts with a digit"},
		{name: "no name", in: "=1", err: "line 1: an environment variable needs a name"},
		{name: "duplicate", in: "A=1\n\nA=2", err: "line 3: A is already set on line 1"},
		{name: "unterminated double", in: `A="abc`, err: `line 1 (A): the value starts with " but does not end with one`},
		{name: "unterminated single", in: `A='abc`, err: `does not end with one`},
		{name: "bare quote inside", in: `A="a"b"`, err: `must be written \"`},
		{name: "unknown escape", in: `A="\q"`, err: `unknown escape \q`},
		{name: "nul", in: "A=\x00", err: "NUL byte"},
		{name: "bad utf8", in: "A=\xff", err: "not valid UTF-8"},
		{name: "value too long", in: "A=" + strings.Repeat("x", MaxEnvValueBytes+1), err: "at most 32768"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEnvFile(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(ErrorMessage(err), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				if f := ErrorField(err); f != "env" {
					t.Errorf("error names field %q, want env", f)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEnvBounds(t *testing.T) {
	many := Env{}
	for i := range MaxEnvVars + 1 {
		many["V"+strings.Repeat("x", i%5)+string(rune('A'+i%26))+strings.Repeat("_", i/26)] = "1"
	}
	if len(many) <= MaxEnvVars {
		t.Fatalf("test set has only %d names", len(many))
	}
	if err := many.Validate(); err == nil || !strings.Contains(err.Error(), "at most 200") {
		t.Errorf("too many variables: %v", err)
	}
	big := Env{}
	for i := range 3 {
		big[string(rune('A'+i))] = strings.Repeat("x", MaxEnvValueBytes)
	}
	if err := big.Validate(); err == nil || !strings.Contains(err.Error(), "in all") {
		t.Errorf("too large in all: %v", err)
	}
	if err := ValidateEnvName(strings.Repeat("A", MaxEnvNameLength+1)); err == nil {
		t.Error("a name over the length limit was accepted")
	}
}

func TestFormatEnvFileRoundTrip(t *testing.T) {
	e := Env{
		"PLAIN": "shop.example.com", "EMPTY": "", "SPACES": "  padded ", "QUOTES": `say "hi" it's`,
		"MULTI": "line1\nline2\r\n\tend", "HASH": "a#b", "BACKSLASH": `C:\path\`,
		"UNICODE": "bücher ✓",
	}
	text := FormatEnvFile(e)
	if !strings.HasPrefix(text, "BACKSLASH=") || !strings.Contains(text, "PLAIN=shop.example.com\n") {
		t.Errorf("formatted text is not sorted or plain values are quoted:\n%s", text)
	}
	got, err := ParseEnvFile(text)
	if err != nil {
		t.Fatalf("parsing formatted text: %v\n%s", err, text)
	}
	if !maps.Equal(got, e) {
		t.Fatalf("round trip changed the environment:\n got %q\nwant %q", got, e)
	}
}

func TestEnvPatch(t *testing.T) {
	one, two := "1", "2"
	base := Env{"A": "1", "B": "x", "C": "gone"}
	out, set, removed := EnvPatch{"A": &one, "B": &two, "C": nil, "D": &two, "Z": nil}.Apply(base)
	if want := (Env{"A": "1", "B": "2", "D": "2"}); !maps.Equal(out, want) {
		t.Errorf("applied: %v, want %v", out, want)
	}
	if strings.Join(set, ",") != "B,D" || strings.Join(removed, ",") != "C" {
		t.Errorf("set %v removed %v, want [B D] and [C] (unchanged A and absent Z are not changes)", set, removed)
	}
	if base["C"] != "gone" {
		t.Error("Apply changed its input")
	}
	want := Env{"A": "1", "B": "3", "N": ""}
	got, _, _ := base.Diff(want).Apply(base)
	if !maps.Equal(got, want) {
		t.Errorf("Diff then Apply: %v, want %v", got, want)
	}
}

// FuzzParseEnvFile checks that the parser never panics and that whatever
// it accepts survives a round trip through FormatEnvFile.
func FuzzParseEnvFile(f *testing.F) {
	for _, s := range []string{
		"A=1\nB=2", "export X='y'", `K="a\nb\"c\\"`, "# c\n\nA= b ", "A=\"", "A='", `A="\`, "=", "A=#", "A=\t\"x\"\t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		env, err := ParseEnvFile(in)
		if err != nil {
			return
		}
		text := FormatEnvFile(env)
		again, err := ParseEnvFile(text)
		if err != nil {
			t.Fatalf("formatted text does not parse: %v\ninput %q\nformatted %q", err, in, text)
		}
		if !maps.Equal(env, again) {
			t.Fatalf("round trip changed %q into %q (formatted %q)", env, again, text)
		}
	})
}
