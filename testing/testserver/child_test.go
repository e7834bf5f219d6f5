package testserver

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestKillWhenReady(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	// Killed while it sleeps: it never gets to write "finished".
	cmd := exec.Command("sh", "-c", "echo ready; sleep 30; echo finished")
	if err := KillWhenReady(cmd, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if cmd.ProcessState == nil || cmd.ProcessState.Success() {
		t.Fatalf("the child was not killed: %v", cmd.ProcessState)
	}
	err := KillWhenReady(exec.Command("sh", "-c", "echo nope"), 0)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("got %v, want an error quoting the child", err)
	}
}
