package httpcachestore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"sync"
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
	sum := crc32.Update(0, castagnoli, []byte(key))
	return headerFor(len(key), int64(len(value)), crc32.Update(sum, castagnoli, value))
}

// headerFor returns the header of a file whose key has klen bytes and whose
// value has vlen bytes, with sum the CRC-32C of key and value.
func headerFor(klen int, vlen int64, sum uint32) [headerSize]byte {
	var h [headerSize]byte
	copy(h[:], magic)
	binary.BigEndian.PutUint16(h[6:], version)
	binary.BigEndian.PutUint32(h[8:], uint32(klen))
	binary.BigEndian.PutUint64(h[12:], uint64(vlen))
	binary.BigEndian.PutUint32(h[20:], sum)
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

// checkHeader checks a file's header against the file's size and returns
// the key and value lengths it claims.
func checkHeader(h []byte, size int64) (klen, vlen int64, err error) {
	if len(h) < headerSize || size < headerSize {
		return 0, 0, errShort
	}
	if string(h[:6]) != magic {
		return 0, 0, errMagic
	}
	if binary.BigEndian.Uint16(h[6:]) != version {
		return 0, 0, errVersion
	}
	k := uint64(binary.BigEndian.Uint32(h[8:]))
	v := binary.BigEndian.Uint64(h[12:])
	rest := uint64(size - headerSize)
	if k > maxKeyLen || v > rest || k+v != rest {
		return 0, 0, errLength
	}
	return int64(k), int64(v), nil
}

// scanBufSize is the piece in which verify reads a file.
const scanBufSize = 64 << 10

var scanBufs = sync.Pool{New: func() any { return new([scanBufSize]byte) }}

// verify checks the file f of size bytes, which must hold key, in one pass
// that holds scanBufSize bytes, and returns where its value starts and its
// length. The file is read with ReadAt, so f's offset is left alone.
func verify(f *os.File, size int64, key string) (off, n int64, err error) {
	buf := scanBufs.Get().(*[scanBufSize]byte)
	defer scanBufs.Put(buf)
	need := min(int64(headerSize+len(key)), size)
	h := buf[:min(need, scanBufSize)]
	if need > scanBufSize {
		h = make([]byte, need)
	}
	if _, err := f.ReadAt(h, 0); err != nil {
		return 0, 0, readErr(err)
	}
	klen, vlen, err := checkHeader(h, size)
	if err != nil {
		return 0, 0, err
	}
	if klen != int64(len(key)) || string(h[headerSize:]) != key {
		return 0, 0, errKey
	}
	want := binary.BigEndian.Uint32(h[20:]) // h may share buf, which the loop reuses
	sum := crc32.Update(0, castagnoli, h[headerSize:])
	for pos := headerSize + klen; pos < size; {
		k, err := f.ReadAt(buf[:min(int64(scanBufSize), size-pos)], pos)
		sum = crc32.Update(sum, castagnoli, buf[:k])
		pos += int64(k)
		if err != nil && pos < size {
			return 0, 0, readErr(err)
		}
	}
	if sum != want {
		return 0, 0, errChecksum
	}
	return headerSize + klen, vlen, nil
}

// damage reports whether err says a file is damaged, rather than that it
// could not be read.
func damage(err error) bool {
	for _, e := range []error{errShort, errMagic, errVersion, errLength, errChecksum, errKey} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// readErr turns an early end of file, a file shrunk since its size was
// read, into a length error.
func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return errLength
	}
	return err
}
