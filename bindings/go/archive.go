package browserbase

/*
#include <stdint.h>
#include <stdlib.h>
#include <browserbase.h>
*/
import "C"

import (
	"context"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Entry is one entry of an archive.
type Entry struct {
	// Name as stored, such as "report-1719265797164.pdf"; a directory's ends
	// with "/". It may be hostile ("../x"): extract with Extract, which
	// checks every name.
	Name string
	// OriginalName is the name without the service's timestamp: "report.pdf".
	OriginalName string
	// Size is the uncompressed size the archive declares.
	Size uint64
	// ModTime is the entry's modification time (UTC, 2-second precision);
	// the zero Time when the archive has none.
	ModTime time.Time
	// DownloadTime is when the browser downloaded the file (from the stored
	// name); the zero Time when the name carries none.
	DownloadTime time.Time
}

// IsDir reports whether the entry is a directory.
func (e Entry) IsDir() bool { return strings.HasSuffix(e.Name, "/") }

// Archive is an opened ZIP archive. Safe for concurrent use; Close it when done.
type Archive struct {
	mu      sync.RWMutex
	ptr     *C.bb_archive
	entries []Entry
}

// OpenArchive opens the archive in the file at path (kept open until Close).
func OpenArchive(path string) (*Archive, error) {
	var cs cstrings
	defer cs.free()
	p, err := cs.add("path", path)
	if err != nil {
		return nil, err
	}
	var a *C.bb_archive
	var cerr *C.bb_error
	if err := takeError(C.bb_archive_open_file(p, &a, &cerr), cerr); err != nil {
		return nil, err
	}
	return newArchive(a)
}

// OpenArchiveBytes opens the archive held in data (copied).
func OpenArchiveBytes(data []byte) (*Archive, error) {
	var a *C.bb_archive
	var cerr *C.bb_error
	var p *C.uint8_t
	if len(data) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	if err := takeError(C.bb_archive_open_buffer(p, C.size_t(len(data)), &a, &cerr), cerr); err != nil {
		return nil, err
	}
	return newArchive(a)
}

func newArchive(a *C.bb_archive) (*Archive, error) {
	n := int(C.bb_archive_entry_count(a))
	entries := make([]Entry, 0, n)
	for i := 0; i < n; i++ {
		// Size-first (see the header): the library fills only what this
		// package's copy of the struct has room for.
		raw := C.bb_archive_entry{struct_size: C.size_t(unsafe.Sizeof(C.bb_archive_entry{}))}
		var cerr *C.bb_error
		if err := takeError(C.bb_archive_entry_at(a, C.size_t(i), &raw, &cerr), cerr); err != nil {
			C.bb_archive_free(a)
			return nil, err
		}
		e := Entry{
			Name:         C.GoString(raw.name),
			OriginalName: C.GoString(raw.original_name),
			Size:         uint64(raw.size),
		}
		if raw.mtime_unix >= 0 {
			e.ModTime = time.Unix(int64(raw.mtime_unix), 0).UTC()
		}
		if raw.download_time_ms >= 0 {
			e.DownloadTime = time.UnixMilli(int64(raw.download_time_ms)).UTC()
		}
		entries = append(entries, e)
	}
	return &Archive{ptr: a, entries: entries}, nil
}

// Entries returns the entries in the archive's order (none for the
// service's empty archive). Still usable after Close.
func (a *Archive) Entries() []Entry {
	return append([]Entry(nil), a.entries...)
}

// SetLimits changes the zip-bomb limits Extract enforces: the most bytes one
// extraction may write (0: the default, 4 GiB) and the most an entry may
// expand (0: the default, 200).
func (a *Archive) SetLimits(maxTotalBytes uint64, maxRatio uint32) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ptr == nil {
		return invalid("the archive is closed")
	}
	var cerr *C.bb_error
	return takeError(C.bb_archive_set_limits(a.ptr, C.uint64_t(maxTotalBytes), C.uint32_t(maxRatio), &cerr), cerr)
}

// Extract extracts every entry into dir (created if missing), safely: an
// unsafe name, a symbolic link or an encrypted entry refuses the whole
// archive (ErrInvalidArchive, nothing written).
func (a *Archive) Extract(ctx context.Context, dir string) error {
	var cs cstrings
	defer cs.free()
	d, err := cs.add("dir", dir)
	if err != nil {
		return err
	}
	st, err := begin(ctx)
	if err != nil {
		return err
	}
	defer st.end()
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ptr == nil {
		return invalid("the archive is closed")
	}
	var cerr *C.bb_error
	return finish(st, C.bb_archive_extract_to_opts(a.ptr, d, st.options(), &cerr), cerr)
}

// Close frees the archive (after extractions still running). Twice is fine.
func (a *Archive) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr != nil {
		C.bb_archive_free(a.ptr)
		a.ptr = nil
	}
	return nil
}

// Extract extracts the archive file at zipPath safely into dir, with the
// default limits.
func Extract(ctx context.Context, zipPath, dir string) error {
	// Both refused (a NUL byte) before anything is opened.
	for _, arg := range [][2]string{{"zip path", zipPath}, {"dir", dir}} {
		if strings.IndexByte(arg[1], 0) >= 0 {
			return invalid("%s contains a NUL byte", arg[0])
		}
	}
	if ctx == nil {
		return invalid("ctx is nil")
	}
	if err := ctx.Err(); err != nil {
		return contextEnded(err, nil)
	}
	a, err := OpenArchive(zipPath)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Extract(ctx, dir)
}
