package ratelimit

import (
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// gatedProxy forwards connections to a Redis server; each connection's
// answers (server to client) are held until opened, and a connection can
// be cut.
type gatedProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []*gatedConn
	accept chan int
}

type gatedConn struct {
	c, s net.Conn
	open chan struct{}
	once sync.Once
}

func (g *gatedConn) release() { g.once.Do(func() { close(g.open) }) }
func (g *gatedConn) cut()     { g.c.Close(); g.s.Close(); g.release() }

func newGatedProxy(t *testing.T, target string) *gatedProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &gatedProxy{ln: ln, accept: make(chan int, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			g := &gatedConn{c: c, s: s, open: make(chan struct{})}
			p.mu.Lock()
			p.conns = append(p.conns, g)
			i := len(p.conns) - 1
			p.mu.Unlock()
			go io.Copy(s, c)
			go func() { <-g.open; io.Copy(c, s) }()
			p.accept <- i
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, g := range p.conns {
			g.cut()
		}
	})
	return p
}

func (p *gatedProxy) conn(i int) *gatedConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[i]
}

func waitAccept(t *testing.T, p *gatedProxy, want int) {
	t.Helper()
	select {
	case i := <-p.accept:
		if i != want {
			t.Fatalf("proxy accepted connection %d, want %d", i, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("proxy never accepted connection %d", want)
	}
}

// waitStack waits until some goroutine's stack holds every one of frames.
func waitStack(t *testing.T, frames ...string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		n := runtime.Stack(buf, true)
	next:
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			for _, f := range frames {
				if !strings.Contains(g, f) {
					continue next
				}
			}
			return
		}
	}
	t.Fatalf("no goroutine reached %q", frames)
}

// TestLateLostDoesNotOverAdmit: at a switch to the local window the
// limiter's own requests never exceed the limit (it lets one full window
// pass after its last admission), also when a request that gave up finds
// Redis down late, while another request's Redis admission is between its
// answer and its record: with N=1, the request after waits.
func TestLateLostDoesNotOverAdmit(t *testing.T) {
	p := newGatedProxy(t, testRedisAddr(t))
	rdb := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), MaxRetries: -1, DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second})
	defer rdb.Close()

	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	now := func() time.Time {
		if armed.Load() {
			buf := make([]byte, 8192)
			if s := string(buf[:runtime.Stack(buf, false)]); strings.Contains(s, "(*redisStore).lost") {
				once.Do(func() { close(entered); <-release })
			}
		}
		return time.Now()
	}
	l := newRedis(t, rdb, testKey(t), 1, time.Hour, &RedisOptions{Options: Options{Now: now}, Timeout: 10 * time.Second, RetryInterval: time.Hour})

	// A: its Redis call hangs (connection 0 answers nothing); A gives up.
	actx, acancel := context.WithCancel(context.Background())
	aDone := make(chan error, 1)
	go func() { aDone <- l.Wait(actx) }()
	waitAccept(t, p, 0)
	acancel()
	if err := <-aDone; err == nil {
		t.Fatal("A admitted")
	}

	// B: its call goes out on connection 1, whose answers are held.
	bDone := make(chan error, 1)
	go func() { bDone <- l.Wait(context.Background()) }()
	waitAccept(t, p, 1)

	// A's late call fails: lost() starts (held in its first l.now()).
	armed.Store(true)
	p.conn(0).cut()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("lost() never ran")
	}
	// B's answer (admitted) arrives; B waits for l.mu to record lastAdmit.
	p.conn(1).release()
	waitStack(t, "sync.(*Mutex).Lock", "ratelimit.(*redisStore).try(")
	close(release)
	if err := <-bDone; err != nil {
		t.Fatalf("B: %v", err)
	}

	// C: the window (1 per hour) is full with B's admission.
	cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
	defer ccancel()
	err := l.Wait(cctx)
	s := l.Stats()
	t.Logf("C: %v; stats %+v", err, s)
	if err == nil {
		t.Fatalf("limit 1 per hour: B was admitted through Redis and C through the local window right after (Fallbacks=%d, FallbackAdmitted=%d): 2 requests of this process in one window", s.Fallbacks, s.FallbackAdmitted)
	}
}

// TestLateFailureAfterRecoveryKeepsRedis: a call that was sent before
// Redis was lost and found again, and fails only after, says nothing about
// Redis now: the limiter stays on Redis.
func TestLateFailureAfterRecoveryKeepsRedis(t *testing.T) {
	p := newGatedProxy(t, testRedisAddr(t))
	rdb := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), MaxRetries: -1, DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second})
	defer rdb.Close()
	l := newRedis(t, rdb, testKey(t), 100, time.Second, &RedisOptions{Timeout: 10 * time.Second, RetryInterval: 10 * time.Millisecond})

	// A: its call hangs on connection 0; A gives up, the call runs on.
	actx, acancel := context.WithCancel(context.Background())
	aDone := make(chan error, 1)
	go func() { aDone <- l.Wait(actx) }()
	waitAccept(t, p, 0)
	acancel()
	<-aDone

	// B: its call fails (connection 1 cut): Redis lost.
	bDone := make(chan error, 1)
	go func() { bDone <- l.Wait(context.Background()) }()
	waitAccept(t, p, 1)
	p.conn(1).cut()
	if err := <-bDone; err != nil {
		t.Fatalf("B: %v", err)
	}
	if s := l.Stats(); s.Fallbacks != 1 {
		t.Fatalf("Fallbacks = %d after B, want 1", s.Fallbacks)
	}
	// The probe finds Redis again (connection 2 answers).
	time.Sleep(20 * time.Millisecond)
	go func() {
		waitAccept(t, p, 2)
		p.conn(2).release()
	}()
	for deadline := time.Now().Add(5 * time.Second); l.Stats().Recoveries == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Redis never found again")
		}
		l.Wait(context.Background())
	}
	// A's stale call fails now.
	p.conn(0).cut()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); strings.Contains(string(buf[:runtime.Stack(buf, true)]), "ratelimit.(*redisStore).try.func"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("A's late call never ended")
		}
	}
	redisOf(l).mu.Lock()
	down := redisOf(l).down
	redisOf(l).mu.Unlock()
	s := l.Stats()
	t.Logf("down %v stats %+v", down, s)
	if down || s.Fallbacks != 1 {
		t.Fatalf("Redis answers (found again after B's failure), but the late failure of A's call, sent before, made the limiter fall back again: down=%v Fallbacks=%d", down, s.Fallbacks)
	}
}
