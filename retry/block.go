package retry

import (
	"bytes"
	"github.com/throttlecache/throttlecache/internal/httpbody"
	"io"
	"net/http"
)

// peekSize bounds what the stage reads of a 403 to look for the block page:
// the SEC's page states its title in the first few hundred bytes.
const peekSize = 8 << 10

// isBlockPage reports whether resp (a 403) carries a page whose text holds
// title, looking at most peekSize bytes into the body. It always puts back
// a body that reads exactly what the original would have: the bytes it
// peeked at, then the rest (or the error the read met).
func isBlockPage(resp *http.Response, title string) bool {
	if resp.Body == nil || resp.Body == http.NoBody {
		return false
	}
	buf := make([]byte, peekSize)
	n, err := io.ReadFull(resp.Body, buf)
	buf = buf[:n]
	var rest io.Reader
	switch err {
	case nil:
		rest = resp.Body
	case io.EOF, io.ErrUnexpectedEOF:
		rest = eofReader{}
	default:
		rest = errReader{err}
	}
	resp.Body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(buf), rest), rc: resp.Body}
	return bytes.Contains(bytes.ToLower(buf), bytes.ToLower([]byte(title)))
}

type peekedBody struct {
	io.Reader
	rc io.Closer
}

func (p *peekedBody) Close() error { return p.rc.Close() }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// discard drains a little of a response that is not handed on, so that its
// connection can be reused, and closes it.
func discard(resp *http.Response) { httpbody.Discard(resp.Body) }
