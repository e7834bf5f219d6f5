package httpcachestore

import (
	"bytes"
	"testing"
)

func TestFormatRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		value     []byte
	}{
		{"empty", "", nil},
		{"small", "https://example.com/", []byte("HTTP/1.1 200 OK\r\n\r\n")},
		{"binary key", "\x00\xff", []byte{0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, v, err := decode(encode(tc.key, tc.value))
			if err != nil || k != tc.key || !bytes.Equal(v, tc.value) {
				t.Fatalf("decode(encode) = %q, %q, %v", k, v, err)
			}
		})
	}
}

// FuzzDecode checks that no file content makes decode panic, and that
// whatever decode accepts encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(encode("k", []byte("value")))
	f.Add(encode("", nil))
	f.Add([]byte(magic))
	f.Add(append(encode("https://example.com/", []byte("HTTP/1.1 200 OK\r\n\r\n")), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, v, err := decode(b)
		if err != nil {
			return
		}
		if again := encode(k, v); !bytes.Equal(again, b) {
			t.Fatalf("decode accepted %q, which encodes back as %q", b, again)
		}
	})
}
