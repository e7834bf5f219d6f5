package ratelimit

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// restartable is a Redis server on a fixed loopback port that a test may
// stop and start again empty: a real redis-server when one is installed
// (required under CI=true), an in-process miniredis otherwise.
type restartable struct {
	t    *testing.T
	bin  string
	addr string
	cmd  *exec.Cmd
	mini *miniredis.Miniredis
}

func newRestartable(t *testing.T) *restartable {
	t.Helper()
	r := &restartable{t: t}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		r.bin = bin
	} else if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but redis-server is not installed: the restart test needs a real server")
	} else {
		t.Log("redis-server is not installed: restarting an in-process miniredis instead")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	ln.Close()
	r.start()
	t.Cleanup(r.stop)
	return r
}

// start starts an empty server on the address and waits until it answers.
func (r *restartable) start() {
	r.t.Helper()
	if r.bin == "" {
		r.mini = miniredis.NewMiniRedis()
		if err := r.mini.StartAddr(r.addr); err != nil {
			r.t.Fatal(err)
		}
		return
	}
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command(r.bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer", r.addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop kills the server, losing everything it held.
func (r *restartable) stop() {
	if r.mini != nil {
		r.mini.Close()
		r.mini = nil
	}
	if r.cmd != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// TestRedisLimiterSurvivesRestart runs limiters of 10 per second on a
// Redis server that is killed and started again empty on the same port,
// and counts the arrivals at the origin: no second may hold more than 10,
// across the restart too. The machines (each a limiter with its own
// client) send a burst of 10 in all, Redis dies 50 ms later, and the next
// burst comes 50 ms after it is back: an empty window would let it
// through at once, beside the first. Two machines share the key for the
// short outages; the 3 s outage runs one machine, which sends a burst
// during the outage too (a machine falls back to limiting itself alone
// while Redis is away, so two would each send 10). Then every machine
// saturates the limiter for two seconds.
func TestRedisLimiterSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const n, per = 10, time.Second
	for _, tt := range []struct {
		outage   time.Duration
		machines int
	}{
		{50 * time.Millisecond, 2},
		{500 * time.Millisecond, 2},
		{3 * time.Second, 1},
	} {
		t.Run(fmt.Sprintf("outage %v", tt.outage), func(t *testing.T) {
			t.Parallel()
			srv := newRestartable(t)
			origin := testserver.New()
			defer origin.Close()
			key := testKey(t)
			var clients []*http.Client
			var limiters []*SharedWindow
			for range tt.machines {
				rdb := redis.NewClient(&redis.Options{Addr: srv.addr})
				t.Cleanup(func() { rdb.Close() })
				l := newRedis(t, rdb, key, n, per, &RedisOptions{RetryInterval: 50 * time.Millisecond})
				limiters = append(limiters, l)
				clients = append(clients, &http.Client{Transport: New(nil, l)})
			}
			var wg sync.WaitGroup
			burst := func() {
				for _, c := range clients {
					goGets(t, &wg, c, origin.URL+"/x", n/tt.machines)
				}
			}
			start := time.Now()
			burst()
			time.Sleep(50 * time.Millisecond)
			srv.stop()
			if tt.outage > time.Second {
				time.Sleep(time.Until(start.Add(1100 * time.Millisecond)))
				burst() // while Redis is away
			}
			time.Sleep(time.Until(start.Add(50*time.Millisecond + tt.outage)))
			srv.start()
			time.Sleep(50 * time.Millisecond)
			burst()
			wg.Wait()
			stop := time.Now().Add(2 * time.Second)
			for _, l := range limiters {
				wg.Go(func() {
					if err := hammer(context.Background(), l, origin.URL+"/x", 6/tt.machines, stop); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			report(t, fmt.Sprintf("%d machine(s), Redis down %v", tt.machines, tt.outage), arrivals(origin, "/x"), n, per)
			var s Stats
			for _, l := range limiters {
				ls := l.Stats()
				s.Resets += ls.Resets
				s.Fallbacks += ls.Fallbacks
			}
			t.Logf("state losses detected %d, fallbacks %d", s.Resets, s.Fallbacks)
			if s.Resets == 0 {
				t.Error("no machine detected that Redis lost the window")
			}
		})
	}
}

// TestRedisLimiterNewMachineAfterRestart is the loss no older client can
// report: one machine sends a burst, Redis restarts empty, and a machine
// that has never called before sends the next burst at once. Its script
// finds no admission count on a server up for less than a period and
// holds the key until a period has passed since the server started.
func TestRedisLimiterNewMachineAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const n, per = 10, time.Second
	srv := newRestartable(t)
	if srv.bin == "" {
		t.Skip("miniredis has no INFO server section: a new client cannot see a restart there")
	}
	origin := testserver.New()
	defer origin.Close()
	key := testKey(t)
	send := func(c *http.Client) {
		var wg sync.WaitGroup
		goGets(t, &wg, c, origin.URL+"/x", n)
		wg.Wait()
	}
	machine := func() (*http.Client, *SharedWindow) {
		rdb := redis.NewClient(&redis.Options{Addr: srv.addr})
		t.Cleanup(func() { rdb.Close() })
		l := newRedis(t, rdb, key, n, per, &RedisOptions{RetryInterval: 50 * time.Millisecond})
		return &http.Client{Transport: New(nil, l)}, l
	}
	first, _ := machine()
	send(first)
	srv.stop()
	srv.start()
	second, l := machine()
	send(second)
	report(t, "a new machine after a restart", arrivals(origin, "/x"), n, per)
	if s := l.Stats(); s.Resets != 1 {
		t.Errorf("the new machine's stats %+v: want the possible loss counted once", s)
	}
}

// goGets starts k GETs of url through c on wg.
func goGets(t *testing.T, wg *sync.WaitGroup, c *http.Client, url string, k int) {
	for range k {
		wg.Go(func() {
			resp, err := c.Get(url)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
}
