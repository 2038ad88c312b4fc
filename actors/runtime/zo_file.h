/*  zo_file: the few file operations that durable state is made of, shared
    by the broker's dead letters, spool and journal (and whatever actor
    keeps a file next): making a directory, writing a buffer whole,
    replacing a file atomically, making a name durable, reading a file
    back.

    Paths are bounded by ZO_FILE_PATH_MAX (the kernel's PATH_MAX); a longer
    one fails with ENAMETOOLONG rather than being cut short, since a cut
    path names another file.
*/
#ifndef ZO_FILE_H_INCLUDED
#define ZO_FILE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define ZO_FILE_PATH_MAX 4096

/*  Creates dir and its parents (mode 0755), like mkdir -p. 0, or -1 with
    errno set (ENOTDIR when dir exists and is not a directory).  */
int zo_file_mkdir_p (const char *dir);
/*  Writes all len bytes of data to fd, retrying short writes and EINTR.
    0, or -1 with errno set (EIO for a write that wrote nothing).  */
int zo_file_write_all (int fd, const void *data, size_t len);
/*  fsyncs the directory that holds path, so that a file made, renamed or
    removed there stays so after a crash. 0, or -1 with errno set; callers
    that can do nothing about it ignore it.  */
int zo_file_fsync_dir (const char *path);
/*  Replaces path with len bytes of buf atomically: writes path.tmp,
    fsyncs it, renames it over path, fsyncs the directory. After a crash
    path holds either the old or the new content. 0, or -1 (logged; the
    temporary file is removed and path is untouched).  */
int zo_file_write_atomic (const char *path, const void *buf, size_t len);
/*  Reads a whole file into a malloc'd buffer the caller frees, its length
    in *size. NULL with errno ENOENT when it does not exist (not logged);
    NULL on any other failure (logged).  */
uint8_t *zo_file_read (const char *path, size_t *size);

#endif
