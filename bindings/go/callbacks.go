package browserbase

// The functions the library calls back. Each recovers a panic itself, before
// it could unwind through the library's frames (which would skip the
// library's clean-up and leak its descriptors and memory), records it, and
// returns non-zero so that the library stops the download and returns. The
// calling method then re-panics with the same value on its own goroutine.

/*
#include <stdint.h>
#include <stddef.h>
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"syscall"
	"unsafe"
)

//export bbGoWrite
func bbGoWrite(handle C.uintptr_t, data *C.uint8_t, n C.size_t) (rc C.int) {
	s := cgo.Handle(handle).Value().(*stream)
	defer func() {
		if p := recover(); p != nil {
			s.call.panicked, s.call.panicValue = true, p
			rc = 1
		}
	}()
	if s.call.err != nil || s.call.panicked {
		return 1
	}
	if err := s.call.stopped(); err != nil {
		s.call.err = err
		return 1
	}
	chunk := unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n))
	written, err := s.w.Write(chunk)
	s.n += int64(written)
	if err == nil && written != len(chunk) {
		err = fmt.Errorf("browserbase: short write (%d of %d bytes)", written, len(chunk))
	}
	if err != nil {
		s.call.err = err
		return 1
	}
	return 0
}

//export bbGoProgress
func bbGoProgress(handle C.uintptr_t, received C.uint64_t, total C.int64_t) (rc C.int) {
	p := cgo.Handle(handle).Value().(*progressHook)
	// The library calls back on the thread that called it; the call's Go
	// goroutine is on that thread for the whole C call, so the thread id
	// finds the call (the progress function is per client, not per call).
	c := p.lookup(syscall.Gettid())
	defer func() {
		if v := recover(); v != nil {
			if c != nil {
				c.panicked, c.panicValue = true, v
			}
			rc = 1
		}
	}()
	if c != nil {
		if c.err != nil || c.panicked {
			return 1
		}
		if err := c.stopped(); err != nil {
			c.err = err
			return 1
		}
	}
	if err := p.fn(uint64(received), int64(total)); err != nil {
		if c != nil {
			c.err = err
		}
		return 1
	}
	return 0
}
