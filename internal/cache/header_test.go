package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestStoredHeaderDropsHopByHopAndCookies(t *testing.T) {
	h := http.Header{
		"Connection": {"close, X-Private"}, "X-Private": {"1"}, "Keep-Alive": {"5"},
		"Set-Cookie": {"s=1"}, "Transfer-Encoding": {"chunked"}, "X-Cache": {"HIT"},
		"Content-Length": {"12"}, "Content-Type": {"text/plain"}, "Age": {"3"},
	}
	got := StoredHeader(h)
	if len(got) != 2 || got.Get("Content-Type") != "text/plain" || got.Get("Age") != "3" {
		t.Fatalf("StoredHeader = %v, want Content-Type and Age", got)
	}
}

func TestMerge304(t *testing.T) {
	stored := http.Header{"Etag": {`"1"`}, "Content-Encoding": {"gzip"}, "Content-Type": {"text/plain"}, "X-Old": {"kept"}}
	fresh := http.Header{"Etag": {`"2"`}, "Content-Encoding": {"br"}, "Content-Length": {"0"}, "Set-Cookie": {"s=1"},
		"Content-Type": {"text/html"}, "Content-Md5": {"abc"}}
	got := merge304(stored, fresh)
	want := http.Header{"Etag": {`"2"`}, "Content-Encoding": {"gzip"}, "Content-Type": {"text/html"}, "X-Old": {"kept"}, "Content-Md5": {"abc"}}
	if len(got) != len(want) {
		t.Fatalf("merge304 = %v, want %v", got, want)
	}
	for k := range want {
		if got.Get(k) != want.Get(k) {
			t.Fatalf("merge304 %s = %q, want %q", k, got.Get(k), want.Get(k))
		}
	}
}

func TestVariantIsKeyed(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://h/p", nil)
	if v := variant(req, nil); v != "" {
		t.Fatalf("no credentials, no Accept-Encoding: variant %q", v)
	}
	req.Header.Set("Authorization", "Bearer weak-token")
	a := variant(req, func() []byte { return []byte("secret one") })
	b := variant(req, func() []byte { return []byte("secret two") })
	plain := sha256.Sum256([]byte("a:Bearer weak-token\n"))
	if a == b || !strings.HasPrefix(a, "@cred-") || strings.Contains(a, hex.EncodeToString(plain[:12])) {
		t.Fatalf("variants %q and %q: not an HMAC under the secret", a, b)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	if v := variant(req, func() []byte { return []byte("secret one") }); !strings.HasPrefix(v, "@ae-") || !strings.HasSuffix(v, a) {
		t.Fatalf("variant with Accept-Encoding: %q", v)
	}
	u, _ := url.Parse("https://user:pw@h/p")
	if v := variant(&http.Request{URL: u, Header: http.Header{}}, func() []byte { return []byte("s") }); !strings.HasPrefix(v, "@cred-") {
		t.Fatalf("user information: variant %q", v)
	}
}

func TestVarySig(t *testing.T) {
	names := VaryNames(http.Header{"Vary": {"accept-language, Accept-Encoding", "Accept-Language"}})
	if !slices.Equal(names, []string{"Accept-Encoding", "Accept-Language"}) {
		t.Fatalf("VaryNames = %v", names)
	}
	sig := func(h http.Header) string { return varySig(names, h) }
	base := sig(http.Header{"Accept-Language": {"en, fr"}})
	for _, h := range []http.Header{
		{"Accept-Language": {"en,fr"}},
		{"Accept-Language": {"en", "fr"}},
		{"Accept-Language": {" en ,  fr "}},
		{"Accept-Language": {"EN, Fr"}},
	} {
		if sig(h) != base {
			t.Errorf("%v selects another variant than en, fr", h)
		}
	}
	if sig(http.Header{"Accept-Language": {"en;q=0.5"}}) != sig(http.Header{"Accept-Language": {"en; Q=0.5"}}) {
		t.Error("parameters with other spacing or case select another variant")
	}
	other := []string{"X-Custom"}
	if varySig(other, http.Header{"X-Custom": {"A b"}}) == varySig(other, http.Header{"X-Custom": {"a b"}}) {
		t.Error("an unknown field compared without regard to case")
	}
	for _, h := range []http.Header{{}, {"Accept-Language": {"fr, en"}}, {"Accept-Language": {"en"}}, {"Accept-Language": {"en, fr"}, "Accept-Encoding": {"gzip"}}} {
		if sig(h) == base {
			t.Errorf("%v selects the variant of en, fr", h)
		}
	}
}

// cloneHeader's copy shares no value slice with the stored header or with
// another response's, keeps a nil value as Clone does, and sets the added
// fields over stored ones.
func TestCloneHeader(t *testing.T) {
	stored := http.Header{"A": {"1", "2"}, "B": {"3"}, "Nil": nil, "Age": {"9"}}
	h1 := cloneHeader(stored, "Age", "0", "X-Cache", "HIT")
	h2 := cloneHeader(stored, "Age", "1")
	h1["A"] = append(h1["A"], "appended")
	h1["B"][0] = "changed"
	if !slices.Equal(stored["A"], []string{"1", "2"}) || stored["B"][0] != "3" || stored["Age"][0] != "9" {
		t.Fatalf("the stored header changed: %v", stored)
	}
	if !slices.Equal(h2["A"], []string{"1", "2"}) || h2["B"][0] != "3" || h2.Get("Age") != "1" || h2.Get("X-Cache") != "" {
		t.Fatalf("another response's header changed: %v", h2)
	}
	if v, ok := h1["Nil"]; !ok || v != nil {
		t.Fatalf("nil value: %v, %v", v, ok)
	}
	h1["Age"] = append(h1["Age"], "x")
	if h1.Get("X-Cache") != "HIT" || len(h1) != 5 {
		t.Fatalf("added fields: %v", h1)
	}
}
