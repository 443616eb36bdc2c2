// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"hash"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/sdk"
)

// streamWriter writes one stream on a call: the header, the bytes as chunks of
// at most sdk.ChunkSize, and the trailer — the one the writer computed
// (Close), one it forwards (Finish) or a failed one (Abort).
type streamWriter struct {
	send  func(*pb.StreamMessage) error
	algo  string
	hash  hash.Hash // nil: the trailer is forwarded, not computed
	size  uint64
	msg   pb.StreamMessage
	chunk pb.StreamMessage_Chunk
}

// newWriter writes through send. algo names the checksum Close puts in
// the trailer; "" for a writer that only forwards (Finish, Abort).
func newWriter(send func(*pb.StreamMessage) error, algo string) *streamWriter {
	w := &streamWriter{send: send, algo: algo, hash: newHash(algo)}
	w.msg.Msg = &w.chunk
	return w
}

// Header sends the stream's header.
func (w *streamWriter) Header(h *pb.StreamHeader) error {
	return w.send(&pb.StreamMessage{Msg: &pb.StreamMessage_Header{Header: h}})
}

// Write sends p as chunks. The message is reused: send must be done with
// it when it returns (gRPC's SendMsg is).
func (w *streamWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), sdk.ChunkSize)
		w.chunk.Chunk = p[:k]
		err := w.send(&w.msg)
		w.chunk.Chunk = nil
		if err != nil {
			return n - len(p), err
		}
		w.size += uint64(k)
		if w.hash != nil {
			w.hash.Write(p[:k])
		}
		p = p[k:]
	}
	return n, nil
}

// Close sends the successful trailer of what was written.
func (w *streamWriter) Close() error {
	t := Trailer{Size: w.size, ChecksumAlgorithm: w.algo}
	if w.hash != nil {
		t.Checksum = w.hash.Sum(nil)
	}
	return w.Finish(t)
}

// Finish sends a successful trailer t (forwarded from the stream's writer).
func (w *streamWriter) Finish(t Trailer) error {
	return w.send(&pb.StreamMessage{Msg: &pb.StreamMessage_Trailer{Trailer: t.pb()}})
}

// Abort sends a failed trailer naming why: the receiver discards.
func (w *streamWriter) Abort(why error) error {
	return w.send(&pb.StreamMessage{Msg: &pb.StreamMessage_Trailer{Trailer: failedTrailer(why)}})
}
