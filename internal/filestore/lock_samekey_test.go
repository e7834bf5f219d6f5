package filestore

import (
	"context"
	"testing"
	"time"
)

// TestSameVariantDoesNotShareItsOwnLock: a variant's Lock shares the URL's
// lock with other keys' downloads in this Store, not with a download of the
// same variant: that one is exclusive, as it is across processes (and per
// variant in Redis), or two leaders of one variant both ask the origin.
func TestSameVariantDoesNotShareItsOwnLock(t *testing.T) {
	s := newStore(t, t.TempDir())
	base := urlKey(t, "https://example.com/a")
	vb := base
	vb.Vary = "76543210fedcba9876543210"
	unlock, err := s.Lock(context.Background(), vb, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if u, err := s.Lock(ctx, vb, nil); err == nil {
		u()
		t.Fatal("a second Lock of variant B got a share of the lock B's first holder holds")
	}
	unlock()
	u, err := s.Lock(context.Background(), vb, nil)
	if err != nil {
		t.Fatal(err)
	}
	u()
}
