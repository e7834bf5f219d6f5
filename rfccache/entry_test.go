package rfccache

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

func testEntry() *entry {
	return &entry{
		status:   200,
		header:   http.Header{"Content-Type": {"text/plain"}, "Etag": {`"x"`}, "Vary": {"Accept-Language"}},
		reqTime:  time.Unix(100, 1),
		respTime: time.Unix(101, 2),
		variant:  "abc", vary: "def", uncompressed: true,
	}
}

func TestEntryRoundTrip(t *testing.T) {
	for _, body := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte("\r\n\r\n"), 1000)} {
		e := testEntry()
		raw := encode(e, body)
		got, err := decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.body, body) || got.status != 200 || !got.reqTime.Equal(e.reqTime) || !got.respTime.Equal(e.respTime) ||
			got.variant != "abc" || got.vary != "def" || !got.uncompressed || got.header.Get("Etag") != `"x"` ||
			got.header.Get(metaVariant) != "" {
			t.Fatalf("decode(encode) = %+v", got)
		}
	}
}

func TestStoredHeaderDropsHopByHopAndCookies(t *testing.T) {
	h := http.Header{
		"Connection": {"close, X-Private"}, "X-Private": {"1"}, "Keep-Alive": {"5"},
		"Set-Cookie": {"s=1"}, "Transfer-Encoding": {"chunked"}, "X-Cache": {"HIT"},
		"X-Throttlecache-Variant": {"forged"}, "Content-Type": {"text/plain"},
	}
	got := storedHeader(h)
	if len(got) != 1 || got.Get("Content-Type") != "text/plain" {
		t.Fatalf("storedHeader = %v, want only Content-Type", got)
	}
}

// FuzzDecodeEntry checks that no stored value makes decode panic and that
// whatever it accepts has a body inside the value.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encode(testEntry(), []byte("body")))
	f.Add(encode(testEntry(), nil))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\ntcR1"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := decode(raw)
		if err != nil {
			return
		}
		if len(e.body) > len(raw) {
			t.Fatalf("body of %d bytes from a value of %d", len(e.body), len(raw))
		}
	})
}
