package httpcachestore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// The file format: a 24-byte header, the key, the value.
//
//	offset size
//	0      6    magic "tcHCS1"
//	6      2    format version, big-endian (1)
//	8      4    key length, big-endian
//	12     8    value length, big-endian
//	20     4    CRC-32C (Castagnoli) of the key followed by the value
//	24     …    key, then value
const (
	magic      = "tcHCS1"
	version    = 1
	headerSize = 24
	// maxKeyLen bounds the key length a header may claim, so a damaged
	// header cannot make decode believe in a huge key.
	maxKeyLen = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errShort    = errors.New("httpcachestore: file shorter than its header")
	errMagic    = errors.New("httpcachestore: not a store file (bad magic)")
	errVersion  = errors.New("httpcachestore: unknown format version")
	errLength   = errors.New("httpcachestore: lengths in the header do not match the file")
	errChecksum = errors.New("httpcachestore: checksum mismatch")
	errKey      = errors.New("httpcachestore: file holds another key")
)

// header returns the header of the file holding key and value.
func header(key string, value []byte) [headerSize]byte {
	var h [headerSize]byte
	copy(h[:], magic)
	binary.BigEndian.PutUint16(h[6:], version)
	binary.BigEndian.PutUint32(h[8:], uint32(len(key)))
	binary.BigEndian.PutUint64(h[12:], uint64(len(value)))
	sum := crc32.Update(0, castagnoli, []byte(key))
	binary.BigEndian.PutUint32(h[20:], crc32.Update(sum, castagnoli, value))
	return h
}

// encode returns the whole file for key and value.
func encode(key string, value []byte) []byte {
	h := header(key, value)
	buf := make([]byte, 0, headerSize+len(key)+len(value))
	return append(append(append(buf, h[:]...), key...), value...)
}

// decode checks file contents and returns the key and value they hold. The
// value aliases b.
func decode(b []byte) (key string, value []byte, err error) {
	if len(b) < headerSize {
		return "", nil, errShort
	}
	if string(b[:6]) != magic {
		return "", nil, errMagic
	}
	if binary.BigEndian.Uint16(b[6:]) != version {
		return "", nil, errVersion
	}
	klen := uint64(binary.BigEndian.Uint32(b[8:]))
	vlen := binary.BigEndian.Uint64(b[12:])
	rest := uint64(len(b) - headerSize)
	if klen > maxKeyLen || vlen > rest || klen+vlen != rest {
		return "", nil, errLength
	}
	if crc32.Checksum(b[headerSize:], castagnoli) != binary.BigEndian.Uint32(b[20:]) {
		return "", nil, errChecksum
	}
	return string(b[headerSize : headerSize+klen]), b[headerSize+klen:], nil
}
