package filecache

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func validMeta() *meta {
	return &meta{
		Version: metaVersion, Key: "h/@a", URL: "https://h/a", Status: 200,
		Header: http.Header{"Etag": {`"x"`}}, Size: 3, CRC32C: "0a1b2c3d",
		Fetched: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Stored: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		File: fileID{Size: 3, MTime: 1, Ino: 2},
	}
}

func TestParseMeta(t *testing.T) {
	good, _ := validMeta().marshal()
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{name: "valid", data: good, ok: true},
		{name: "empty", data: nil},
		{name: "not json", data: []byte("hello")},
		{name: "truncated", data: good[:len(good)/2]},
		{name: "wrong version", data: bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 2`), 1)},
		{name: "no key", data: bytes.Replace(good, []byte(`"key": "h/@a"`), []byte(`"key": ""`), 1)},
		{name: "negative size", data: bytes.Replace(good, []byte(`"size": 3,`), []byte(`"size": -3,`), 1)},
		{name: "size and file disagree", data: bytes.Replace(good, []byte(`"size": 3,`), []byte(`"size": 4,`), 1)},
		{name: "bad checksum", data: bytes.Replace(good, []byte(`0a1b2c3d`), []byte(`0a1b2c3z`), 1)},
		{name: "status 404", data: bytes.Replace(good, []byte(`"status": 200`), []byte(`"status": 404`), 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseMeta(tt.data)
			if tt.ok {
				if err != nil || !reflect.DeepEqual(m, validMeta()) {
					t.Fatalf("got %+v, %v", m, err)
				}
				return
			}
			if !errors.Is(err, errBadMeta) {
				t.Fatalf("got %v, want errBadMeta", err)
			}
		})
	}
}

func FuzzParseMeta(f *testing.F) {
	good, _ := validMeta().marshal()
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"key":"k","status":200,"size":0,"crc32c":"00000000","file":{"size":0}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMeta(data)
		if err != nil {
			if !errors.Is(err, errBadMeta) {
				t.Fatalf("error %v does not wrap errBadMeta", err)
			}
			return
		}
		// Whatever parses survives a round trip unchanged.
		out, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := parseMeta(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if m.Key != m2.Key || m.Size != m2.Size || m.CRC32C != m2.CRC32C || m.File != m2.File {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}
