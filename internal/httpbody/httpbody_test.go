package httpbody

import (
	"net/http"
	"testing"
)

func TestFramed(t *testing.T) {
	tests := []struct {
		name string
		resp http.Response
		want bool
	}{
		{"content length", http.Response{ContentLength: 10, ProtoMajor: 1}, true},
		{"empty with length", http.Response{ContentLength: 0, ProtoMajor: 1}, true},
		{"chunked", http.Response{ContentLength: -1, ProtoMajor: 1, TransferEncoding: []string{"chunked"}}, true},
		{"HTTP/2", http.Response{ContentLength: -1, ProtoMajor: 2}, true},
		{"decompressed gzip", http.Response{ContentLength: -1, ProtoMajor: 1, Uncompressed: true}, true},
		{"until close", http.Response{ContentLength: -1, ProtoMajor: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Framed(&tt.resp); got != tt.want {
				t.Fatalf("Framed = %v, want %v", got, tt.want)
			}
		})
	}
}
