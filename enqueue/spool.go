package enqueue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// A spool holds a campaign's valid lines between its two passes, in a temp
// file, so that memory does not grow with the campaign. Each record is:
//
//	kind byte ('s' system, 'p' push)
//	uvarint line number
//	uvarint length, account
//	uvarint length, ref
//	varint  scheduled time, Unix nanoseconds (0: now)
//	varint  expiry, Unix nanoseconds (0: none)
//	uvarint length, body (LeadSquared's JSON, checked and encoded again)
type spool struct {
	f *os.File
	w *bufio.Writer
	n int
}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "lsqdispatch-campaign-*.spool")
	if err != nil {
		return nil, fmt.Errorf("create the campaign's spool file: %w", err)
	}
	return &spool{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// remove closes and deletes the file.
func (s *spool) remove() {
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}

func (s *spool) write(it *item, line int) error {
	var buf [binary.MaxVarintLen64]byte
	kind := byte('s')
	if it.kind == tasks.KindPush {
		kind = 'p'
	}
	_ = s.w.WriteByte(kind)
	_, _ = s.w.Write(buf[:binary.PutUvarint(buf[:], uint64(line))])
	for _, f := range []string{it.meta.Account, it.meta.Ref} {
		_, _ = s.w.Write(buf[:binary.PutUvarint(buf[:], uint64(len(f)))])
		_, _ = s.w.WriteString(f)
	}
	var at int64
	if !it.at.IsZero() {
		at = it.at.UnixNano()
	}
	_, _ = s.w.Write(buf[:binary.PutVarint(buf[:], at)])
	var exp int64
	if it.meta.ExpiresAt != nil {
		exp = it.meta.ExpiresAt.UnixNano()
	}
	_, _ = s.w.Write(buf[:binary.PutVarint(buf[:], exp)])
	_, _ = s.w.Write(buf[:binary.PutUvarint(buf[:], uint64(len(it.body)))])
	if _, err := s.w.Write(it.body); err != nil {
		return fmt.Errorf("write the campaign's spool file: %w", err)
	}
	s.n++
	return nil
}

// reader flushes what was written and reads it from the start.
func (s *spool) reader() (*spoolReader, error) {
	if err := s.w.Flush(); err != nil {
		return nil, fmt.Errorf("write the campaign's spool file: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind the campaign's spool file: %w", err)
	}
	return &spoolReader{r: bufio.NewReaderSize(s.f, 256<<10)}, nil
}

type spoolReader struct {
	r *bufio.Reader
}

// read returns the next item (with meta.Lane and meta.Campaign unset), or io.EOF.
func (r *spoolReader) read() (*item, int, error) {
	kind, err := r.r.ReadByte()
	if err != nil {
		return nil, 0, err // io.EOF at a record boundary
	}
	it := &item{kind: tasks.KindSystem}
	if kind == 'p' {
		it.kind = tasks.KindPush
	}
	line, err := binary.ReadUvarint(r.r)
	if err == nil {
		it.meta.Account, err = r.string()
	}
	if err == nil {
		it.meta.Ref, err = r.string()
	}
	var at int64
	if err == nil {
		at, err = binary.ReadVarint(r.r)
	}
	if at != 0 {
		it.at = time.Unix(0, at)
	}
	var exp int64
	if err == nil {
		exp, err = binary.ReadVarint(r.r)
	}
	if exp != 0 {
		it.meta.ExpiresAt = expiryOf(time.Unix(0, exp))
	}
	if err == nil {
		it.body, err = r.bytes()
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, fmt.Errorf("read the campaign's spool file: %w", err)
	}
	return it, int(line), nil
}

func (r *spoolReader) bytes() ([]byte, error) {
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		return nil, err
	}
	if n > 4*MaxLineBytes {
		return nil, fmt.Errorf("corrupt record (field of %d bytes)", n)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r.r, b)
	return b, err
}

func (r *spoolReader) string() (string, error) {
	b, err := r.bytes()
	return string(b), err
}
