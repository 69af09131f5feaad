package testutil

import (
	"bufio"
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer safe for one goroutine to write (a logger, a
// process's output, a command) while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Lines returns what was written so far, a line each.
func (s *SyncBuffer) Lines() []string {
	var out []string
	for sc := bufio.NewScanner(bytes.NewReader([]byte(s.String()))); sc.Scan(); {
		out = append(out, sc.Text())
	}
	return out
}
