package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

const markName = "DRAINED"

// The mark file: [segment u64][offset i64][crc32c of the 16 bytes u32], little-endian.
const markBytes = 20

func readMark(dir string) (Pos, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, markName))
	if errors.Is(err, os.ErrNotExist) {
		return Pos{}, false, nil
	}
	if err != nil {
		return Pos{}, false, fmt.Errorf("reading the drained mark: %w", err)
	}
	if len(b) != markBytes || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return Pos{}, false, fmt.Errorf("spool %s: the drained mark %s is corrupt (%d bytes)", dir, markName, len(b))
	}
	return Pos{Segment: binary.LittleEndian.Uint64(b), Offset: int64(binary.LittleEndian.Uint64(b[8:]))}, true, nil
}

// writeMark replaces the mark atomically: a reader (or a restart) sees the old mark
// or the new one, whole.
func writeMark(dir string, p Pos) error {
	b := make([]byte, 0, markBytes)
	b = binary.LittleEndian.AppendUint64(b, p.Segment)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.Offset))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	tmp := filepath.Join(dir, markName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing the drained mark: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing the drained mark: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing the drained mark: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the drained mark: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, markName)); err != nil {
		return fmt.Errorf("replacing the drained mark: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening the spool directory to sync it: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing the spool directory: %w", err)
	}
	return nil
}
