package cache

import (
	"sync"
	"time"
)

// Renew calls renew every period until release is called, or until alive
// (nil: always true) reports a stall: then it calls stalled and stops for
// good, so that the lease lapses for its waiters. release stops the
// renewals, then calls free, once.
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
