package rfccache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/throttlecache/throttlecache/internal/testserver"
)

// TestCredentialVariantIsKeyed checks that entries for credentialed
// requests carry an HMAC under the store's secret, not a plain hash of the
// credentials, and that two Transports on one store share the secret.
func TestCredentialVariantIsKeyed(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.Handle("/private", testserver.NewResource([]byte("mine"), testserver.WithHeader("Cache-Control", "private, max-age=600")))
	const auth = "Bearer weak-token"
	if r := f.get(t, "/private", "Authorization", auth); r.cache != Miss {
		t.Fatalf("first: %s", r.cache)
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/private", nil)
	req.Header.Set("Authorization", auth)
	plain := sha256.New()
	plain.Write([]byte(auth))
	plain.Write([]byte{0, 1, 1, 1})
	if v := f.tr.variantOf(req); v == hex.EncodeToString(plain.Sum(nil)) || len(v) != 64 {
		t.Fatalf("variant %q is a plain hash of the credentials", v)
	}

	second := &http.Client{Transport: f.newTransport(t, Options{Now: f.clock.Now})}
	if r := do(t, second, http.MethodGet, f.srv.URL+"/private", "Authorization", auth); r.cache != Hit {
		t.Fatalf("a second Transport on the same store: %s, want HIT with the shared secret", r.cache)
	}
	if r := do(t, second, http.MethodGet, f.srv.URL+"/private", "Authorization", "Bearer other"); r.cache != Miss {
		t.Fatalf("other credentials: %s, want MISS", r.cache)
	}
}
