package spool

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

const segmentSuffix = ".seg"

func segmentName(seq uint64) string { return fmt.Sprintf("%012d%s", seq, segmentSuffix) }

// listSegments returns the sequence numbers of the directory's segments, in order.
func listSegments(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing the spool directory: %w", err)
	}
	var seqs []uint64
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, segmentSuffix) || de.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil || seq == 0 || segmentName(seq) != name {
			continue // not ours
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// scanResult is what scanning a segment from an offset found.
type scanResult struct {
	records int64
	oldest  time.Time // of the first entry, zero without entries
	end     int64     // end of the last good frame
	size    int64     // the file's size
	// torn is set when the bytes from end on are a torn tail (last segment only).
	torn bool
}

// scanSegment reads the frames of one segment from offset from. In the last segment a
// bad frame with nothing after it (or only zeros) is a torn tail; anywhere else it is a
// *CorruptError.
func scanSegment(dir string, seq uint64, from int64, last bool) (scanResult, error) {
	path := filepath.Join(dir, segmentName(seq))
	f, err := os.Open(path)
	if err != nil {
		return scanResult{}, fmt.Errorf("opening segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return scanResult{}, fmt.Errorf("reading segment: %w", err)
	}
	res := scanResult{end: from, size: st.Size()}
	if from > res.size {
		return res, &CorruptError{Dir: dir, At: Pos{seq, from}, Err: fmt.Errorf("the drained mark is past the segment's end (%d bytes)", res.size)}
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return res, fmt.Errorf("reading segment: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<20)
	hdr := make([]byte, headerBytes)
	var body []byte
	for {
		bad := func(err error, claimedEnd int64) (scanResult, error) {
			if last {
				if claimedEnd >= res.size || errors.Is(err, errShort) {
					res.torn = true
					return res, nil
				}
				// A frame whose claimed end is followed by nothing but zeros: the file
				// grew before its data reached the disk.
				zero, zerr := zeroFrom(f, min(claimedEnd, res.size))
				if zerr != nil {
					return res, zerr
				}
				if zero {
					res.torn = true
					return res, nil
				}
			}
			return res, &CorruptError{Dir: dir, At: Pos{seq, res.end}, Err: err}
		}
		if _, err := io.ReadFull(br, hdr); err != nil {
			if err == io.EOF {
				return res, nil
			}
			if err == io.ErrUnexpectedEOF {
				return bad(errShort, res.size)
			}
			return res, fmt.Errorf("reading segment %s: %w", path, err)
		}
		n, err := frameHeader(hdr)
		if err != nil {
			return bad(err, res.end)
		}
		claimedEnd := res.end + headerBytes + int64(n)
		if claimedEnd > res.size {
			return bad(errShort, claimedEnd)
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return res, fmt.Errorf("reading segment %s: %w", path, err)
		}
		crc := crc32.Update(crc32.Checksum(hdr[8:9], castagnoli), castagnoli, body)
		if want := leUint32(hdr[4:]); crc != want {
			return bad(fmt.Errorf("%w: crc32c %08x, the frame says %08x", errBadFrame, crc, want), claimedEnd)
		}
		if res.records == 0 {
			res.oldest = time.Unix(0, int64(leUint64(body)))
		}
		res.records++
		res.end = claimedEnd
	}
}

func leUint32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func leUint64(b []byte) uint64 { return uint64(leUint32(b)) | uint64(leUint32(b[4:]))<<32 }

// zeroFrom says whether the file holds only zero bytes from off on: space a crash
// left allocated but unwritten.
func zeroFrom(f *os.File, off int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.ReadAt(buf, off)
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		off += int64(n)
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading segment: %w", err)
		}
	}
}
