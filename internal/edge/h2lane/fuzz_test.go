package h2lane

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// seedFrames is a client's frames after the preface, built with a Framer.
func seedFrames(f func(fr *http2.Framer, enc *hpack.Encoder, hb *headerBuf)) []byte {
	var out bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	var hb headerBuf
	enc := hpack.NewEncoder(&hb)
	_ = fr.WriteSettings()
	f(fr, enc, &hb)
	return out.Bytes()
}

func seedHeaders(fr *http2.Framer, enc *hpack.Encoder, hb *headerBuf, id uint32, end bool, fields ...string) {
	hb.b = hb.b[:0]
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.b, EndStream: end, EndHeaders: true})
}

// FuzzConn feeds arbitrary bytes after the preface to a server on a pipe:
// it must neither panic nor hang, whatever the frames and header blocks.
func FuzzConn(f *testing.F) {
	f.Add(seedFrames(func(fr *http2.Framer, enc *hpack.Encoder, hb *headerBuf) {
		seedHeaders(fr, enc, hb, 1, true, get("/hit")...)
		seedHeaders(fr, enc, hb, 3, true, get("/miss", "cookie", "a=1", "cookie", "b=2")...)
	}))
	f.Add(seedFrames(func(fr *http2.Framer, enc *hpack.Encoder, hb *headerBuf) {
		seedHeaders(fr, enc, hb, 1, false, ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/p", "content-length", "4", "trailer", "x-t")
		_ = fr.WriteData(1, false, []byte("da"))
		_ = fr.WriteDataPadded(1, false, []byte("ta"), []byte{0, 0})
		seedHeaders(fr, enc, hb, 1, true, "x-t", "v")
		_ = fr.WriteWindowUpdate(0, 1000)
		_ = fr.WritePing(false, [8]byte{1})
		_ = fr.WriteRSTStream(3, http2.ErrCodeCancel)
	}))
	f.Add(seedFrames(func(fr *http2.Framer, enc *hpack.Encoder, hb *headerBuf) {
		seedHeaders(fr, enc, hb, 1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "a", ":path", "/ws")
		_ = fr.WriteData(1, false, []byte{0x81, 0x80, 1, 2, 3, 4})
		_ = fr.WriteData(1, true, nil)
	}))
	f.Add(seedFrames(func(fr *http2.Framer, enc *hpack.Encoder, hb *headerBuf) {
		hb.b = hb.b[:0]
		_ = enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.b, Priority: http2.PriorityParam{StreamDep: 1}})
		_ = fr.WriteContinuation(1, true, []byte{0x82, 0x87})
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}, http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
		_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	}))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Trailer", "X-Done")
		_, _ = io.WriteString(w, r.URL.Path)
		w.Header().Set("X-Done", "1")
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &Server{Handler: h, Eligible: func(r *http.Request) bool { return r.URL.Path == "/hit" }, ExtendedConnect: true,
			ErrorLog: log.New(io.Discard, "", 0), WriteTimeout: time.Second, IdleTimeout: time.Second}
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.ServeConn(server, nil)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.WriteString(client, clientPreface)
		_, _ = client.Write(in)
		time.Sleep(time.Millisecond)
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("ServeConn did not return after the client closed")
		}
	})
}
