package rfccache

import (
	"net/http"
	"testing"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// TestCredentialSecretIsShared checks that two Transports on one store
// share the secret that keys credential variants, so that what one stored
// for a credential the other serves for the same credential only.
func TestCredentialSecretIsShared(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.Handle("/private", testserver.NewResource([]byte("mine"), testserver.WithHeader("Cache-Control", "private, max-age=600")))
	const auth = "Bearer weak-token"
	if r := f.get(t, "/private", "Authorization", auth); r.cache != Miss {
		t.Fatalf("first: %s", r.cache)
	}
	second := &http.Client{Transport: f.newTransport(t, Options{Now: f.clock.Now})}
	if r := do(t, second, http.MethodGet, f.srv.URL+"/private", "Authorization", auth); r.cache != Hit {
		t.Fatalf("a second Transport on the same store: %s, want HIT with the shared secret", r.cache)
	}
	if r := do(t, second, http.MethodGet, f.srv.URL+"/private", "Authorization", "Bearer other"); r.cache != Miss {
		t.Fatalf("other credentials: %s, want MISS", r.cache)
	}
}
