package queue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestKill9 runs a child process that Puts messages and prints each id once
// Put returned, SIGKILLs it mid-stream and checks that every printed id
// survives.
func TestKill9(t *testing.T) {
	if dir := os.Getenv("QUEUE_KILL_CHILD_DIR"); dir != "" {
		q, err := Open(Options{Dir: dir, SegmentBytes: 16 << 10})
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		for {
			id, err := q.Put(context.Background(), Envelope{To: []string{"a@b"}}, make([]byte, 1000))
			if err != nil {
				fmt.Println("put:", err)
				os.Exit(1)
			}
			fmt.Println(id)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "QUEUE_KILL_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(ids) < 300 {
		ids = append(ids, sc.Text())
	}
	cmd.Process.Kill()
	for sc.Scan() {
		ids = append(ids, sc.Text())
	}
	cmd.Wait()
	if len(ids) < 300 || len(ids[0]) != 24 {
		t.Fatalf("child printed %d lines, first %q", len(ids), ids[0])
	}
	q, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	have := map[string]bool{}
	for _, m := range q.List() {
		have[m.ID] = true
	}
	for _, id := range ids {
		if !have[id] {
			t.Fatalf("id %s was acknowledged before kill -9 and is lost", id)
		}
	}
	t.Logf("%d acknowledged, %d recovered", len(ids), len(have))
}
