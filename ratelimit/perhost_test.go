package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// recorder is a Limiter that remembers the hosts it was asked about.
type recorder struct {
	name  string
	mu    sync.Mutex
	hosts []string
}

func (r *recorder) Wait(ctx context.Context) error {
	_, err := r.Reserve(ctx, "")
	return err
}

func (r *recorder) Reserve(ctx context.Context, host string) (Reservation, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, host)
	r.mu.Unlock()
	return noReservation{}, nil
}

func TestPerHostRouting(t *testing.T) {
	sec, local, other := &recorder{name: "sec"}, &recorder{name: "local"}, &recorder{name: "other"}
	p, err := NewPerHost([]HostLimit{
		{Pattern: `.*\.sec\.gov`, Limiter: sec},
		{Pattern: `127\.0\.0\.1$`, Limiter: local},
	}, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want *recorder
	}{
		{"www.sec.gov", sec},
		{"DATA.SEC.GOV:443", sec},
		{"sec.gov", other},               // the pattern needs a dot before sec.gov
		{"www.sec.gov.example.com", sec}, // matched at the start only, as in rules
		{"wwwxsec.gov", other},
		{"127.0.0.1:8080", local},
		{"127.0.0.10", other},
		{"example.com", other},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if _, got := p.route(tt.host); got != tt.want {
				t.Fatalf("route(%q) = %s, want %s", tt.host, got.(*recorder).name, tt.want.name)
			}
		})
	}
	// A Wait names no host: the default limiter.
	p.Wait(context.Background())
	if len(other.hosts) != 1 {
		t.Fatal("a Wait without a host did not go to the default limiter")
	}
}

func TestNewPerHostBadPattern(t *testing.T) {
	_, err := NewPerHost([]HostLimit{{Pattern: `.*\.sec\.gov`}, {Pattern: `([a-z`}}, nil, nil)
	if err == nil || err.Error() != "ratelimit: host limit 1, pattern \"([a-z\": error parsing regexp: missing closing ]: `[a-z`" {
		t.Fatalf("err = %v", err)
	}
	// A pattern ending inside \Q… still compiles and stays anchored.
	p, err := NewPerHost([]HostLimit{{Pattern: `\Qa.b`, Limiter: &recorder{name: "q"}}}, &recorder{name: "o"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, q := p.route("a.b")
	_, o := p.route("xa.b")
	if q.(*recorder).name != "q" || o.(*recorder).name != "o" {
		t.Fatal(`\Q pattern routed wrongly`)
	}
}

// TestTransportPassesHost checks that the rate-limit stage hands the
// request's host (host:port, as in the URL) to a Reserver, which routes by
// its host name, through a real origin.
func TestTransportPassesHost(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/", testserver.Status(200, "ok"))
	loop, other := &recorder{}, &recorder{}
	p, err := NewPerHost([]HostLimit{{Pattern: `127\.0\.0\.1$`, Limiter: loop}}, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: New(nil, p)}).Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := strings.TrimPrefix(srv.URL, "http://")
	if len(loop.hosts) != 1 || loop.hosts[0] != want || len(other.hosts) != 0 {
		t.Fatalf("loopback limiter saw %v, default saw %v", loop.hosts, other.hosts)
	}
}

// TestPerHostIndependent checks that a slow host's limit does not hold back
// another host.
func TestPerHostIndependent(t *testing.T) {
	slow, _ := NewSlidingWindow(1, time.Hour, nil)
	p, _ := NewPerHost([]HostLimit{{Pattern: `slow\.example$`, Limiter: slow}}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := waitHost(ctx, p, "slow.example"); err != nil {
		t.Fatal(err)
	}
	if err := waitHost(ctx, p, "slow.example"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Wait on the slow host = %v", err)
	}
	for range 100 {
		if err := waitHost(ctx, p, "fast.example"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEDGARPreset(t *testing.T) {
	p, err := NewEDGARLimiter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, sec := p.route("www.sec.gov")
	for _, h := range []string{"sec.gov", "www.sec.gov", "data.sec.gov", "efts.sec.gov:443"} {
		key, l := p.route(h)
		if key != "\x000" || l != sec {
			t.Fatalf("%s is not routed to the shared EDGAR limiter", h)
		}
	}
	if w, ok := sec.(*SlidingWindow); !ok {
		t.Fatalf("EDGAR limiter %T", sec)
	} else if n, per := w.limit(); n != EDGARRequests || per != edgarPeriod+edgarPeriod/40 {
		t.Fatalf("EDGAR limit %d per %v", n, per)
	}
	for _, h := range []string{"www.sec.gov.example.com", "notsec.gov", "example.com"} {
		if key, l := p.route(h); key != rules.Hostname(h) || l != (unlimited{}) {
			t.Fatalf("%s is routed to the EDGAR limiter", h)
		}
	}
	// A pause of www.sec.gov holds back data.sec.gov, not example.com.
	p.Pause("www.sec.gov", time.Now().Add(time.Hour), "test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := waitHost(ctx, p, "data.sec.gov"); !errors.Is(err, ErrPaused) {
		t.Fatalf("Wait for data.sec.gov during a pause = %v, want ErrPaused", err)
	}
	if err := waitHost(ctx, p, "example.com"); err != nil {
		t.Fatalf("Wait for example.com during the SEC's pause = %v", err)
	}
}
