package testserver

import (
	"bufio"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// KillWhenReady starts cmd, waits for it to print a line containing
// "ready", lets it run for after and kills it with SIGKILL, as a crash
// would. It returns an error if cmd cannot start or says something else.
func KillWhenReady(cmd *exec.Cmd, after time.Duration) error {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.Contains(line, "ready") {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("child said %q, not ready", line)
	}
	time.Sleep(after)
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	return nil
}
