// Command app is the application the end-to-end tests have rampart run
// (runtime exec): it serves on 127.0.0.1:$PORT, keeps a note in
// $DATA_DIR, says what it runs with, and crashes on request.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	version := flag.String("version", "", "the version rampart substituted")
	flag.Parse()
	dir := os.Getenv("DATA_DIR")
	note := filepath.Join(dir, "note")
	fmt.Printf("app started version=%s pid=%d\n", *version, os.Getpid())
	fmt.Fprintf(os.Stderr, "app stderr hello\n")

	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		<-c
		fmt.Println("app got SIGTERM, stopping")
		os.Exit(0)
	}()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := os.ReadFile(note)
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "greeting=%s version=%s pid=%d note=%s", os.Getenv("GREETING"), *version, os.Getpid(), b)
	})
	mux.HandleFunc("POST /note", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		f, err := os.Create(note)
		if err == nil {
			_, err = f.Write(b)
			if err == nil {
				err = f.Sync()
			}
			f.Close()
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintln(w, "saved")
	})
	mux.HandleFunc("POST /crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "app crashing on request")
		os.Exit(3)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
