package rfccache

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// An entry is stored as an HTTP/1.1 response head (status line, the
// origin's end-to-end headers, this stage's metadata in X-Throttlecache-*
// fields, an empty line), the body exactly as the caller received it, and a
// 16-byte trailer: the body length (8 bytes, big-endian), a CRC-32C of
// everything before the trailer (4 bytes) and the magic "tcR1". The trailer
// lets the head be written before the body's length and checksum are known,
// without copying the body; a value that fails any check is a miss.
const (
	trailerSize  = 16
	trailerMagic = "tcR1"

	metaReqTime      = "X-Throttlecache-Request-Time"  // Unix nanoseconds
	metaRespTime     = "X-Throttlecache-Response-Time" // Unix nanoseconds
	metaVariant      = "X-Throttlecache-Variant"       // hash of credentials and Accept-Encoding
	metaVary         = "X-Throttlecache-Vary"          // hash of the request's values of the Vary fields
	metaUncompressed = "X-Throttlecache-Uncompressed"  // "1": Go's transport removed a gzip encoding
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errDamaged = errors.New("rfccache: damaged cache entry")

// entry is a decoded stored response. raw is shared between the requests
// that use it and is never modified. An entry read from a [StreamCache]
// holds no body in memory but the open value (stream), positioned at the
// body, which one response takes; such an entry is not shared between
// requests, only copies of its fields (see shared).
type entry struct {
	raw          []byte
	status       int
	header       http.Header // the origin's headers, without the metadata
	body         []byte      // aliases raw; nil for a streamed entry
	bodyLen      int64
	stream       *entryBody // a streamed entry's value until a response takes it or it is released
	reqTime      time.Time
	respTime     time.Time
	variant      string
	vary         string
	uncompressed bool
}

// takeBody returns the body of e for one response: a reader of the bytes in
// memory, or the open value of a streamed entry, which only one response
// can take.
func (e *entry) takeBody() io.ReadCloser {
	if b := e.stream; b != nil {
		e.stream = nil
		return b
	}
	return io.NopCloser(bytes.NewReader(e.body))
}

// release closes the open value of a streamed entry whose body no response
// took. It does nothing for a nil entry or one in memory.
func (e *entry) release() {
	if e != nil && e.stream != nil {
		e.stream.Close()
		e.stream = nil
	}
}

// sameAs reports whether e is the entry o describes: the same stored
// response, as far as its status, times, variant and length tell.
func (e *entry) sameAs(o *entry) bool {
	return e.status == o.status && e.reqTime.Equal(o.reqTime) && e.respTime.Equal(o.respTime) &&
		e.variant == o.variant && e.vary == o.vary && e.bodyLen == o.bodyLen
}

// hopByHop are the fields never stored (RFC 9110 §7.6.1), with Set-Cookie,
// which a cache shared by processes and machines must not replay to other
// clients, and the cache status, which is set afresh on every response.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Set-Cookie", "Set-Cookie2", Header,
}

// storedHeader returns the headers of resp that an entry keeps.
func storedHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, f := range h.Values("Connection") {
		for name := range strings.SplitSeq(f, ",") {
			out.Del(strings.TrimSpace(name))
		}
	}
	for _, k := range hopByHop {
		out.Del(k)
	}
	for k := range out {
		if strings.HasPrefix(k, "X-Throttlecache-") {
			delete(out, k)
		}
	}
	return out
}

// encodeHead returns the head of an entry: status line, headers, metadata.
func encodeHead(e *entry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %03d %s\r\n", e.status, http.StatusText(e.status))
	h := e.header.Clone()
	h.Del("Content-Length")
	h.Set(metaReqTime, strconv.FormatInt(e.reqTime.UnixNano(), 10))
	h.Set(metaRespTime, strconv.FormatInt(e.respTime.UnixNano(), 10))
	if e.variant != "" {
		h.Set(metaVariant, e.variant)
	}
	if e.vary != "" {
		h.Set(metaVary, e.vary)
	}
	if e.uncompressed {
		h.Set(metaUncompressed, "1")
	}
	h.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

// appendTrailer appends the trailer for raw, which holds head and body.
func appendTrailer(raw []byte, bodyLen int64, crc uint32) []byte {
	var t [trailerSize]byte
	binary.BigEndian.PutUint64(t[:], uint64(bodyLen))
	binary.BigEndian.PutUint32(t[8:], crc)
	copy(t[12:], trailerMagic)
	return append(raw, t[:]...)
}

// encode returns the stored form of e with body.
func encode(e *entry, body []byte) []byte {
	head := encodeHead(e)
	raw := make([]byte, 0, len(head)+len(body)+trailerSize)
	raw = append(append(raw, head...), body...)
	return appendTrailer(raw, int64(len(body)), crc32.Checksum(raw, castagnoli))
}

// decode checks and parses a stored value.
func decode(raw []byte) (*entry, error) {
	n := len(raw)
	if n < trailerSize || string(raw[n-4:]) != trailerMagic {
		return nil, errDamaged
	}
	bodyLen := binary.BigEndian.Uint64(raw[n-trailerSize:])
	if crc32.Checksum(raw[:n-trailerSize], castagnoli) != binary.BigEndian.Uint32(raw[n-8:]) {
		return nil, errDamaged
	}
	headEnd := bytes.Index(raw, []byte("\r\n\r\n"))
	if headEnd < 0 || uint64(n-trailerSize-(headEnd+4)) != bodyLen {
		return nil, errDamaged
	}
	e, err := decodeHead(bufio.NewReader(bytes.NewReader(raw[:headEnd+4])))
	if err != nil {
		return nil, err
	}
	e.raw, e.body, e.bodyLen = raw, raw[headEnd+4:n-trailerSize], int64(bodyLen)
	return e, nil
}

// decodeHead parses the head of a stored value from r, reading no further
// than its empty line.
func decodeHead(r *bufio.Reader) (*entry, error) {
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDamaged, err)
	}
	e := &entry{status: resp.StatusCode, header: resp.Header}
	rq, err1 := strconv.ParseInt(e.header.Get(metaReqTime), 10, 64)
	rs, err2 := strconv.ParseInt(e.header.Get(metaRespTime), 10, 64)
	if err1 != nil || err2 != nil {
		return nil, errDamaged
	}
	e.reqTime, e.respTime = time.Unix(0, rq), time.Unix(0, rs)
	e.variant = e.header.Get(metaVariant)
	e.vary = e.header.Get(metaVary)
	e.uncompressed = e.header.Get(metaUncompressed) == "1"
	for _, k := range []string{metaReqTime, metaRespTime, metaVariant, metaVary, metaUncompressed} {
		e.header.Del(k)
	}
	return e, nil
}
