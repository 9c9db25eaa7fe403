package h2lane

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestBasicGet(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	})
	for _, inline := range []bool{true, false} {
		s := &Server{Handler: h, Eligible: func(*http.Request) bool { return inline }}
		ts := startH2(t, s)
		cl := h2Client(t)
		for i := 0; i < 3; i++ {
			res, err := cl.Get("https://" + ts.addr + "/x")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(b) != "hello" || res.ProtoMajor != 2 {
				t.Fatalf("%q %v", b, res.Proto)
			}
		}
		if got := s.Answered(); (got == 3) != inline {
			t.Fatalf("answered %d inline=%v", got, inline)
		}
		_ = strings.ToLower
	}
}
