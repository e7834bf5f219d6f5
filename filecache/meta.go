package filecache

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"time"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// metaVersion is the sidecar format version; a sidecar with any other
// version is treated as missing.
const metaVersion = 1

// meta is the sidecar stored beside each body, as JSON:
//
//	{
//	  "version": 1,
//	  "key": "www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm",
//	  "url": "https://www.sec.gov/Archives/edgar/data/320193/aapl-20230930.htm",
//	  "status": 200,
//	  "header": {"Content-Type": ["text/html"], "Etag": ["\"abc\""], …},
//	  "size": 1234,
//	  "crc32c": "1a2b3c4d",
//	  "fetched": "2024-01-02T03:04:05Z",
//	  "stored": "2024-01-02T03:04:05Z",
//	  "file": {"size": 1234, "mtime": 1704164645000000000, "ino": 5678}
//	}
//
// Key must equal the entry's own key, so a sidecar never vouches for another
// entry's body (a case-insensitive file system, a copied folder). Size and
// CRC32C describe the body; File is the body file's identity when it was
// committed, a cheap check that the body beside the sidecar is still the one
// it describes. When File differs (the folder was copied, say) the body is
// hashed once and served only if Size and CRC32C match.
type meta struct {
	Version      int         `json:"version"`
	Key          string      `json:"key"`
	URL          string      `json:"url"`
	Status       int         `json:"status"`
	Header       http.Header `json:"header"`
	Uncompressed bool        `json:"uncompressed,omitempty"`
	Size         int64       `json:"size"`
	CRC32C       string      `json:"crc32c"`  // CRC-32 (Castagnoli) of the body, 8 hex digits
	Fetched      time.Time   `json:"fetched"` // last time the origin sent or confirmed the body
	Stored       time.Time   `json:"stored"`  // when the body was written
	File         fileID      `json:"file"`
}

// fileID identifies one version of a body file.
type fileID struct {
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"` // nanoseconds since the Unix epoch
	Ino   uint64 `json:"ino,omitempty"`
}

func fileIDOf(fi os.FileInfo) fileID {
	return fileID{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Ino: inode(fi)}
}

var errBadMeta = errors.New("filecache: bad sidecar")

// parseMeta decodes and checks a sidecar. It never panics; any defect is an
// error wrapping errBadMeta.
func parseMeta(data []byte) (*meta, error) {
	m := new(meta)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadMeta, err)
	}
	switch {
	case m.Version != metaVersion:
		return nil, fmt.Errorf("%w: version %d, want %d", errBadMeta, m.Version, metaVersion)
	case m.Key == "":
		return nil, fmt.Errorf("%w: no key", errBadMeta)
	case m.Status != http.StatusOK:
		return nil, fmt.Errorf("%w: status %d", errBadMeta, m.Status)
	case m.Size < 0 || m.File.Size != m.Size:
		return nil, fmt.Errorf("%w: size %d, file size %d", errBadMeta, m.Size, m.File.Size)
	case len(m.CRC32C) != 8:
		return nil, fmt.Errorf("%w: checksum %q", errBadMeta, m.CRC32C)
	}
	if _, err := hex.DecodeString(m.CRC32C); err != nil {
		return nil, fmt.Errorf("%w: checksum %q", errBadMeta, m.CRC32C)
	}
	if m.Header == nil {
		m.Header = http.Header{}
	}
	return m, nil
}

func (m *meta) marshal() ([]byte, error) {
	return json.MarshalIndent(m, "", "  ")
}
