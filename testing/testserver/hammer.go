package testserver

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"
)

// Hammer sends GETs of url from workers goroutines until stop (or ctx
// ends), through wrap(base), where base is a transport of its own. The
// connections are opened first, outside wrap: a measure of a limiter is
// then not one of dialling on a busy machine. It returns the first error
// other than the deadline's.
func Hammer(ctx context.Context, wrap func(http.RoundTripper) http.RoundTripper, url string, workers int, stop time.Time) error {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = workers
	defer base.CloseIdleConnections()
	var warm sync.WaitGroup
	for range workers {
		warm.Go(func() {
			if resp, err := (&http.Client{Transport: base}).Get(url + "-warm"); err == nil {
				resp.Body.Close()
			}
		})
	}
	warm.Wait()
	client := &http.Client{Transport: wrap(base)}
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				ctx, cancel := context.WithDeadline(ctx, stop)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				cancel()
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						errs <- err
					}
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
