/*
 * fz_memfile.h - for fuzz targets whose parser takes a path: an in-memory file (memfd) that
 * each input replaces, reachable as /proc/self/fd/N. No disk I/O, nothing left behind.
 */
#ifndef FZ_MEMFILE_H
#define FZ_MEMFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
    int fd;
    char path[64];
} fz_memfile;

/* Open the memfd once (abort on failure: the target cannot run without it). */
static inline void fz_memfile_init(fz_memfile *m, const char *name)
{
    m->fd = memfd_create(name, MFD_CLOEXEC);
    if (m->fd < 0)
        abort();
    snprintf(m->path, sizeof m->path, "/proc/self/fd/%d", m->fd);
}

/* Make the file's contents exactly data[0..size). */
static inline void fz_memfile_set(fz_memfile *m, const uint8_t *data, size_t size)
{
    size_t off = 0;
    if (ftruncate(m->fd, 0) != 0)
        abort();
    while (off < size) {
        ssize_t w = pwrite(m->fd, data + off, size - off, (off_t)off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
}

#endif
