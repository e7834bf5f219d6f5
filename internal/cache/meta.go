package cache

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Castagnoli is the CRC-32C table of every checksum in the cache.
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

const metaVersion = 1

// Meta describes a stored response, as JSON (a sidecar, an S3 metadata
// object). Key must be the entry's own, so metadata never vouches for
// another entry's body. Size and CRC32C describe the body; ID is its
// identity where the store has one (a file's size, mtime and inode; an S3
// ETag). A Vary marker has status 0, the Vary names and its variants'
// signatures, most recent first, and no body.
type Meta struct {
	Version      int         `json:"version"`
	Key          string      `json:"key"`
	URL          string      `json:"url,omitempty"`
	Status       int         `json:"status"`
	Header       http.Header `json:"header,omitempty"`
	Uncompressed bool        `json:"uncompressed,omitempty"` // Go's transport removed a gzip encoding
	Size         int64       `json:"size"`
	CRC32C       string      `json:"crc32c,omitempty"`
	Requested    time.Time   `json:"requested,omitzero"` // when the request that fetched or confirmed it was sent
	Fetched      time.Time   `json:"fetched"`            // when its answer arrived
	Stored       time.Time   `json:"stored,omitzero"`
	ID           string      `json:"id,omitempty"`
	Vary         []string    `json:"vary,omitempty"`
	Variants     []string    `json:"variants,omitempty"`
	Started      time.Time   `json:"-"` // the download's start by the real clock, for invalidations; not stored
}

// Marker reports whether m is a Vary marker rather than an entry.
func (m *Meta) Marker() bool { return m.Status == 0 }

// Sum returns the body's checksum as a number.
func (m *Meta) Sum() uint32 {
	n, _ := strconv.ParseUint(m.CRC32C, 16, 32)
	return uint32(n)
}

// SetSum records the body's size and checksum.
func (m *Meta) SetSum(size int64, sum uint32) { m.Size, m.CRC32C = size, fmt.Sprintf("%08x", sum) }

// ParseMeta decodes and checks metadata; any defect wraps ErrDamaged.
func ParseMeta(data []byte) (*Meta, error) {
	m := new(Meta)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	_, hexErr := hex.DecodeString(m.CRC32C)
	switch {
	case m.Version != metaVersion:
		return nil, fmt.Errorf("%w: version %d, want %d", ErrDamaged, m.Version, metaVersion)
	case m.Key == "":
		return nil, fmt.Errorf("%w: no key", ErrDamaged)
	case m.Marker() && (len(m.Vary) == 0 || m.Size != 0):
		return nil, fmt.Errorf("%w: a marker needs Vary names and no body", ErrDamaged)
	case !m.Marker() && (m.Status < 200 || m.Status > 999):
		return nil, fmt.Errorf("%w: status %d", ErrDamaged, m.Status)
	case m.Size < 0:
		return nil, fmt.Errorf("%w: size %d", ErrDamaged, m.Size)
	case (!m.Marker() && len(m.CRC32C) != 8) || hexErr != nil:
		return nil, fmt.Errorf("%w: checksum %q", ErrDamaged, m.CRC32C)
	}
	if m.Header == nil {
		m.Header = http.Header{}
	}
	if m.Requested.IsZero() {
		m.Requested = m.Fetched
	}
	return m, nil
}

// Marshal encodes m, indented: sidecars are meant to be read.
func (m *Meta) Marshal() ([]byte, error) {
	c := *m
	c.Version = metaVersion
	return json.MarshalIndent(&c, "", "  ")
}

// frameMagic starts a frame: the metadata and the body of an entry in one
// value (a ByteCache value, a small S3 object). Then come the metadata's
// length (4 bytes, big-endian), the metadata and the body, raw: a body
// inside the JSON would be base64, which takes far longer to decode than
// the value takes to arrive.
const frameMagic = "tcB1"

// IsFrame reports whether raw starts like a frame.
func IsFrame(raw []byte) bool { return len(raw) >= 4 && string(raw[:4]) == frameMagic }

// Frame returns the frame of m and body.
func Frame(m *Meta, body []byte) ([]byte, error) {
	mj, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	v := binary.BigEndian.AppendUint32([]byte(frameMagic), uint32(len(mj)))
	return append(append(slices.Grow(v, len(mj)+len(body)), mj...), body...), nil
}

// Unframe decodes a frame and checks that the body (a slice of raw, never
// nil) is the one its metadata describes (a marker has none); any defect
// wraps ErrDamaged.
func Unframe(raw []byte) (*Meta, []byte, error) {
	if !IsFrame(raw) || len(raw) < 8 || uint64(binary.BigEndian.Uint32(raw[4:8])) > uint64(len(raw)-8) {
		return nil, nil, fmt.Errorf("%w: bad frame", ErrDamaged)
	}
	n := 8 + int(binary.BigEndian.Uint32(raw[4:8]))
	m, err := ParseMeta(raw[8:n])
	if err != nil {
		return nil, nil, err
	}
	body := raw[n:]
	if !m.Marker() && (int64(len(body)) != m.Size || crc32.Checksum(body, Castagnoli) != m.Sum()) {
		return nil, nil, fmt.Errorf("%w: body does not match its metadata", ErrDamaged)
	}
	return m, body, nil
}
