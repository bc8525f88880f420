// Package spool is an append-only, crash-safe log in a directory: the proxy's local
// durable spool for events Kafka did not acknowledge in time (DESIGN.md principle 5),
// and a format other logs (an intent log) may reuse with their own entry types.
//
// On disk a spool directory holds:
//
//	LOCK                  flock'ed by the one process that has the spool open; holds its pid
//	DRAINED               the drained mark: the position of the first entry not yet drained
//	000000000001.seg …    segments, appended in order, a new one once one passes the segment size
//
// A segment is a sequence of frames:
//
//	[len u32][crc32c u32][type u8][body: len bytes]
//	body = [append time, unix nanoseconds, i64][payload]
//
// little-endian, the CRC-32C (Castagnoli) covering the type byte and the body. At the
// end of the last segment, a frame whose bytes end before its length says, or one
// whose header or CRC is wrong with nothing but zeros after where it claims to end,
// is the torn tail of a write a crash interrupted (its Append never returned): Open
// truncates it. The same in the middle of the log (good frames after
// it, or in an earlier segment) is corruption: Open fails and says where, rather than
// skip entries silently.
//
// Append returns once its entries are written and fsync'ed. Appends from many
// goroutines share one write and one fsync (group commit): one writer goroutine takes
// everything queued while the previous fsync ran.
//
// Entries are drained in order: Read from Drained(), publish, MarkDrained past them.
// The mark is written atomically (a temporary file, fsync, rename, fsync of the
// directory); segments wholly before it are deleted. A crash between a publish and
// its mark re-drains those entries: draining is at-least-once.
package spool
