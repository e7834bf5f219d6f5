package ratelimit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
)

// fileStore keeps a SharedWindow's state in a file, for the processes of
// one machine.
//
// The state file holds the start times of the last N admissions, on the
// machine's wall clock. A request takes an exclusive lock on the file
// (flock(2), through github.com/gofrs/flock), reads the times, and is
// admitted when fewer than N fall within the last Per plus the guard; its
// own start time is written back before the lock is released. Otherwise the
// lock is released at once and the request sleeps until the oldest time
// leaves the window.
//
// A process killed while it holds the lock never blocks the others: the
// kernel releases a flock when its holder dies. The state is written in
// place with one write, which a kill cannot split; a file that does not
// parse anyway (a crash of the machine, a stray editor) is reset with a
// warning, which can let up to N extra requests through once.
type fileStore struct {
	path   string
	n      int
	per    time.Duration
	span   time.Duration // per plus guard
	now    func() time.Time
	logger *slog.Logger
	poll   time.Duration
	fmu    chan struct{} // held with the flock: goroutines of this process share one
	lock   *flock.Flock
	resets atomic.Int64
}

// fileState is the content of the state file.
type fileState struct {
	Version     int     `json:"version"`
	N           int     `json:"n"`
	Span        int64   `json:"span_ns"`
	Starts      []int64 `json:"starts"` // unix nanoseconds, ascending
	PauseUntil  int64   `json:"pause_until,omitempty"`
	PauseReason string  `json:"pause_reason,omitempty"`
}

const fileStateVersion = 1

// NewFileLimiter returns a limiter that lets at most n requests start in any
// window of per across every process that uses the state file at path
// (see SharedWindow). The file is created when missing; its directory must
// exist. opts may be nil.
//
// The processes use the wall clock, so a clock step backwards can delay
// requests by up to the size of the step.
func NewFileLimiter(path string, n int, per time.Duration, opts *Options) (*SharedWindow, error) {
	if err := checkLimit(n, per); err != nil {
		return nil, fmt.Errorf("ratelimit: file limiter %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: file limiter: %w", err)
	}
	f.Close()
	return newShared(&fileStore{
		path:   path,
		n:      n,
		per:    per,
		span:   per + opts.guard(per),
		now:    opts.now(),
		logger: opts.logger(),
		poll:   2 * time.Millisecond,
		lock:   flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR)),
		fmu:    make(chan struct{}, 1),
	}, opts), nil
}

// try makes one attempt under the file lock; with track the admission is
// recorded ahead and settled by the returned reservation.
func (l *fileStore) try(ctx context.Context, track bool) (ok bool, retryAt time.Time, res Reservation, err error) {
	var recorded int64
	err = l.withState(ctx, func(s *fileState) bool {
		now := l.now().UnixNano()
		if s.PauseUntil > now {
			retryAt = time.Unix(0, s.PauseUntil)
			return false
		}
		l.prune(s, now)
		if len(s.Starts) < l.n {
			recorded = now
			if track {
				recorded += int64(l.per)
			}
			s.Starts = append(s.Starts, recorded)
			slices.Sort(s.Starts)
			ok = true
			return true
		}
		oldest := s.Starts[len(s.Starts)-l.n]
		retryAt = time.Unix(0, oldest+int64(l.span))
		if oldest > now {
			// Recorded ahead and not settled yet: it will move back, so
			// look again soon rather than at its provisional time.
			retryAt = time.Unix(0, now+max(int64(l.span)/200, int64(time.Millisecond)))
		}
		return false
	})
	if ok && track {
		res = &settleOnce{settle: l.settler(recorded)}
	}
	return ok, retryAt, res, err
}

// settler returns the function that moves an admission recorded at
// recorded back to when its request provably reached the server: the first
// response byte or the end of the round trip. The file is updated in the
// background, so no response waits for the lock.
func (l *fileStore) settler(recorded int64) func() {
	return func() {
		t := l.now().UnixNano()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			l.withState(ctx, func(s *fileState) bool {
				i := slices.Index(s.Starts, recorded)
				if i < 0 || t >= recorded {
					return false // left the window already, or reset
				}
				s.Starts[i] = t
				slices.Sort(s.Starts)
				return true
			})
		}()
	}
}

// prune drops the starts that left the window and keeps at most n.
func (l *fileStore) prune(s *fileState, now int64) {
	span := int64(l.span)
	keep := s.Starts[:0]
	for _, t := range s.Starts {
		// Times further ahead than one span are from a clock that stepped
		// back: they would hold every process back for that long. (A
		// reservation records its time one period ahead, which is at most
		// one span.)
		if now-t < span && t-now <= span {
			keep = append(keep, t)
		}
	}
	slices.Sort(keep)
	if len(keep) > l.n {
		keep = keep[len(keep)-l.n:]
	}
	s.Starts = keep
}

// pause records the pause in the file. It waits up to five seconds for
// the lock and gives up, with a warning, after that.
func (l *fileStore) pause(until time.Time, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := l.withState(ctx, func(s *fileState) bool {
		if until.UnixNano() <= s.PauseUntil {
			return false
		}
		s.PauseUntil, s.PauseReason = until.UnixNano(), reason
		return true
	})
	if err != nil {
		l.logger.Warn("ratelimit: could not record a pause in the shared state file",
			"path", l.path, "reason", reason, "err", err)
	}
}

// withState locks the file, reads the state, lets f change it, and writes
// it back when f says so.
func (l *fileStore) withState(ctx context.Context, f func(*fileState) (write bool)) error {
	select {
	case l.fmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.fmu }()
	if err := l.lockCtx(ctx); err != nil {
		return err
	}
	defer l.lock.Unlock()
	fh, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("ratelimit: file limiter: %w", err)
	}
	defer fh.Close()
	s := l.read(fh)
	if !f(s) {
		return nil
	}
	s.Version, s.N, s.Span = fileStateVersion, l.n, int64(l.span)
	buf, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("ratelimit: file limiter: %w", err)
	}
	buf = append(buf, '\n')
	// One write first, then the truncation: a kill between the two leaves
	// the new state followed by old bytes, which read ignores.
	if _, err := fh.WriteAt(buf, 0); err != nil {
		return fmt.Errorf("ratelimit: file limiter: writing %s: %w", l.path, err)
	}
	if err := fh.Truncate(int64(len(buf))); err != nil {
		return fmt.Errorf("ratelimit: file limiter: truncating %s: %w", l.path, err)
	}
	return nil
}

// read parses the state; an empty file is a fresh state, a corrupt one is
// reset with a warning.
func (l *fileStore) read(fh *os.File) *fileState {
	data, err := io.ReadAll(io.LimitReader(fh, 1<<20))
	s := &fileState{}
	if err == nil && len(bytes.TrimSpace(data)) == 0 {
		return s
	}
	if err == nil {
		// Decode the first value only: bytes after it are left over
		// from a longer state whose truncation was cut short.
		err = json.NewDecoder(bytes.NewReader(data)).Decode(s)
		if err == nil && s.Version != fileStateVersion {
			err = fmt.Errorf("unknown version %d", s.Version)
		}
	}
	if err != nil {
		l.resets.Add(1)
		l.logger.Warn("ratelimit: resetting a corrupt rate-limit state file",
			"path", l.path, "err", err)
		return &fileState{}
	}
	return s
}

// lockCtx takes the file lock, polling until ctx ends.
func (l *fileStore) lockCtx(ctx context.Context) error {
	ok, err := l.lock.TryLock()
	if !ok && err == nil {
		ok, err = l.lock.TryLockContext(ctx, l.poll)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("ratelimit: file limiter: locking %s: %w", l.path, err)
	case !ok:
		return errors.Join(fmt.Errorf("ratelimit: file limiter: could not lock %s", l.path), ctx.Err())
	}
	return nil
}

func (l *fileStore) stats(s *Stats) { s.Resets = l.resets.Load() }
