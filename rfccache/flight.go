package rfccache

import "sync"

// The outcomes of a flight, for the requests that waited on it.
const (
	resRetry  = iota // the leader gave up: look again, and maybe lead
	resEntry         // here is the entry (stored, refreshed or stale)
	resError         // the origin could not be reached: the same error
	resDirect        // nothing to share: fetch on your own
)

type result struct {
	kind   int
	e      *entry
	status string // for resEntry: HIT, or STALE
	err    error
}

// flight is one origin request that other requests for the same entry wait
// on. The leader decides once what they get.
type flight struct {
	once   sync.Once
	ch     chan result
	forget func() // removes the flight from the group
}

// decide tells the waiters what to do. Only the first call counts; a nil
// flight (a request fetching on its own) ignores it.
func (f *flight) decide(r result) {
	if f == nil {
		return
	}
	f.once.Do(func() {
		// Later requests must look at the cache afresh, not join a flight
		// whose result is already decided.
		f.forget()
		f.ch <- r
	})
}

// join makes rq the leader of the flight for its entry, returning the
// flight, or waits for the leader's result. The wait ends with rq's context.
func (t *Transport) join(rq *request) (result, *flight, error) {
	ctx := rq.req.Context()
	mine := make(chan *flight, 1)
	ch := t.flights.DoChan(rq.flightKey, func() (any, error) {
		// Runs once per flight, on its own goroutine, for the first caller.
		fl := &flight{ch: make(chan result, 1), forget: func() { t.flights.Forget(rq.flightKey) }}
		mine <- fl
		select {
		case r := <-fl.ch:
			return r, nil
		case <-ctx.Done():
			// The leader's request ended; waiters look again.
			fl.decide(result{kind: resRetry})
			return <-fl.ch, nil
		}
	})
	select {
	case fl := <-mine:
		return result{}, fl, nil
	case r := <-ch:
		return r.Val.(result), nil, nil
	case <-ctx.Done():
		return result{}, nil, ctx.Err()
	}
}
