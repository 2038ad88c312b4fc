/*  zo_file: durable-state file helpers (see zo_file.h).  */
#include "zo_file.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Copies src into dst [ZO_FILE_PATH_MAX], refusing a path that would not
//  fit (with room for suffix, such as ".tmp").
static int
s_path_copy (char *dst, const char *src, const char *suffix)
{
    size_t len = strlen (src), extra = strlen (suffix);
    if (len == 0 || len + extra >= ZO_FILE_PATH_MAX) {
        errno = len? ENAMETOOLONG: ENOENT;
        return -1;
    }
    memcpy (dst, src, len);
    memcpy (dst + len, suffix, extra + 1);
    return 0;
}

int
zo_file_mkdir_p (const char *dir)
{
    assert (dir);
    char path [ZO_FILE_PATH_MAX];
    if (s_path_copy (path, dir, ""))
        return -1;
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (path, 0755) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir (path, 0755) && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat (path, &st))
        return -1;
    if (!S_ISDIR (st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int
zo_file_write_all (int fd, const void *data, size_t len)
{
    const uint8_t *pos = data;
    while (len) {
        ssize_t n = write (fd, pos, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        pos += n;
        len -= (size_t) n;
    }
    return 0;
}

int
zo_file_fsync_dir (const char *path)
{
    assert (path);
    char dir [ZO_FILE_PATH_MAX];
    if (s_path_copy (dir, path, ""))
        return -1;
    char *slash = strrchr (dir, '/');
    if (slash == dir)
        slash [1] = 0;
    else
    if (slash)
        *slash = 0;
    else
        strcpy (dir, ".");
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    int err = errno;
    close (fd);
    errno = err;
    return rc;
}

int
zo_file_write_atomic (const char *path, const void *buf, size_t len)
{
    assert (path);
    char tmp [ZO_FILE_PATH_MAX];
    if (s_path_copy (tmp, path, ".tmp")) {
        zsys_error ("cannot write %s: %s", path, strerror (errno));
        return -1;
    }
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        zsys_error ("cannot write %s: %s", tmp, strerror (errno));
        return -1;
    }
    if (zo_file_write_all (fd, buf, len)) {
        zsys_error ("cannot write %s: %s", tmp, strerror (errno));
        close (fd);
        unlink (tmp);
        return -1;
    }
    if (fsync (fd) || close (fd)) {
        zsys_error ("cannot sync %s: %s", tmp, strerror (errno));
        unlink (tmp);
        return -1;
    }
    if (rename (tmp, path)) {
        zsys_error ("cannot rename %s: %s", tmp, strerror (errno));
        unlink (tmp);
        return -1;
    }
    //  The new content is in place; a failed directory sync only risks
    //  the old content coming back after a crash, as if this came later.
    zo_file_fsync_dir (path);
    return 0;
}

uint8_t *
zo_file_read (const char *path, size_t *size)
{
    assert (path);
    assert (size);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            zsys_error ("cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fd, &st)) {
        zsys_error ("cannot stat %s: %s", path, strerror (errno));
        close (fd);
        return NULL;
    }
    size_t len = (size_t) st.st_size;
    uint8_t *buf = malloc (len ? len : 1);
    size_t got = 0;
    while (buf && got < len) {
        ssize_t n = read (fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    close (fd);
    if (!buf || got < len) {
        zsys_error ("cannot read %s", path);
        free (buf);
        errno = EIO;
        return NULL;
    }
    *size = len;
    return buf;
}
