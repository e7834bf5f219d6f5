package cache

import (
	"sync"
	"time"
)

// Renew keeps a lease: it calls renew every period until the returned
// release is called, or until alive (nil: always true) reports that the
// holder's download stalled, when it calls stalled and stops renewing for
// good, so that the lease lapses for the processes waiting on it (they
// fetch on their own, even if the download later recovers). release stops the
// renewals, then calls free; it may be called more than once.
func Renew(period time.Duration, alive func() bool, renew, stalled, free func()) (release func()) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if alive != nil && !alive() {
					stalled()
					return
				}
				renew()
			}
		}
	}()
	return sync.OnceFunc(func() {
		close(stop)
		<-done
		free()
	})
}
