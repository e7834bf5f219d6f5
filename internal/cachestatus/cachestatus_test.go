package cachestatus

import (
	"net/http"
	"testing"
)

func TestSet(t *testing.T) {
	resp := &http.Response{}
	Set(resp, Miss)
	if resp.Header.Get(Header) != Miss || resp.Body == nil {
		t.Fatalf("header %v, body %v", resp.Header, resp.Body)
	}
	Set(resp, Hit)
	if v := resp.Header.Values(Header); len(v) != 1 || v[0] != Hit {
		t.Fatalf("X-Cache %v after a second Set", v)
	}
}
