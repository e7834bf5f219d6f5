package cache

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func validMeta() *Meta {
	return &Meta{
		Version: metaVersion, Key: "h/@a", URL: "https://h/a", Status: 200,
		Header: http.Header{"Etag": {`"x"`}}, Size: 3, CRC32C: "0a1b2c3d",
		Requested: time.Date(2024, 1, 2, 3, 4, 4, 0, time.UTC),
		Fetched:   time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Stored: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		ID: "3.1.2",
	}
}

func TestParseMeta(t *testing.T) {
	good, _ := validMeta().Marshal()
	marker, _ := (&Meta{Key: "h/@a", Vary: []string{"Accept-Language"}, Variants: []string{"ab"}}).Marshal()
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{name: "valid", data: good, ok: true},
		{name: "marker", data: marker, ok: true},
		{name: "empty", data: nil},
		{name: "not json", data: []byte("hello")},
		{name: "truncated", data: good[:len(good)/2]},
		{name: "wrong version", data: bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 2`), 1)},
		{name: "no key", data: bytes.Replace(good, []byte(`"key": "h/@a"`), []byte(`"key": ""`), 1)},
		{name: "negative size", data: bytes.Replace(good, []byte(`"size": 3,`), []byte(`"size": -3,`), 1)},
		{name: "bad checksum", data: bytes.Replace(good, []byte(`0a1b2c3d`), []byte(`0a1b2c3z`), 1)},
		{name: "status 99", data: bytes.Replace(good, []byte(`"status": 200`), []byte(`"status": 99`), 1)},
		{name: "status 0 without Vary", data: bytes.Replace(good, []byte(`"status": 200`), []byte(`"status": 0`), 1)},
		{name: "marker with a body", data: bytes.Replace(marker, []byte(`"size": 0`), []byte(`"size": 5`), 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMeta(tt.data)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if tt.name == "valid" && !reflect.DeepEqual(m, validMeta()) {
					t.Fatalf("got %+v", m)
				}
				return
			}
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("got %v, want ErrDamaged", err)
			}
		})
	}
}

// An earlier version's sidecar, with the body's identity in "file", still
// reads, without an identity (so a store checks the body's checksum once,
// as for a copied folder), and a sidecar without "requested" counts from
// "fetched".
func TestParseMetaEarlierVersion(t *testing.T) {
	old := []byte(`{"version":1,"key":"h/@a","url":"https://h/a","status":200,"header":{},"size":3,
		"crc32c":"0a1b2c3d","fetched":"2024-01-02T03:04:05Z","stored":"2024-01-02T03:04:05Z",
		"file":{"size":3,"mtime":1,"ino":2}}`)
	m, err := ParseMeta(old)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "" || !m.Requested.Equal(m.Fetched) {
		t.Fatalf("ID %q, requested %v, fetched %v", m.ID, m.Requested, m.Fetched)
	}
}

func FuzzParseMeta(f *testing.F) {
	good, _ := validMeta().Marshal()
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"key":"k","status":200,"size":0,"crc32c":"00000000","file":{"size":0}}`))
	f.Add([]byte(`{"version":1,"key":"k","status":0,"vary":["A"],"variants":["x"]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMeta(data)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error %v does not wrap ErrDamaged", err)
			}
			return
		}
		// Whatever parses survives a round trip unchanged.
		out, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseMeta(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if m.Key != m2.Key || m.Size != m2.Size || m.CRC32C != m2.CRC32C || m.ID != m2.ID || m.Status != m2.Status {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}
