/*  Tests of actors/runtime/zo_file.c: mkdir -p, writing whole buffers
    (through a pipe, so that writes come out short), atomic replacement,
    directory sync and reading back, with their failures.  */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zo_file.h"

static char s_dir [64];

static void
s_setup (void)
{
    strcpy (s_dir, "/tmp/zo_file_test_XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    char cmd [128];
    snprintf (cmd, sizeof (cmd), "rm -rf '%s'", s_dir);
    cr_assert_eq (system (cmd), 0);
}

TestSuite (file, .init = s_setup, .fini = s_teardown);

static bool
s_is_dir (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

Test (file, mkdir_p_makes_parents_and_is_idempotent)
{
    char path [256];
    snprintf (path, sizeof (path), "%s/a/b/c", s_dir);
    cr_assert_eq (zo_file_mkdir_p (path), 0);
    cr_assert (s_is_dir (path));
    cr_assert_eq (zo_file_mkdir_p (path), 0, "an existing directory is fine");
    snprintf (path, sizeof (path), "%s/a/b/c/", s_dir);
    cr_assert_eq (zo_file_mkdir_p (path), 0, "a trailing slash is fine");

    //  A file in the way.
    snprintf (path, sizeof (path), "%s/plain", s_dir);
    cr_assert_eq (zo_file_write_atomic (path, "x", 1), 0);
    errno = 0;
    cr_assert_eq (zo_file_mkdir_p (path), -1);
    cr_assert_eq (errno, ENOTDIR);
    snprintf (path, sizeof (path), "%s/plain/below", s_dir);
    cr_assert_eq (zo_file_mkdir_p (path), -1);
}

Test (file, a_path_too_long_fails_rather_than_being_cut)
{
    char *path = malloc (ZO_FILE_PATH_MAX + 16);
    int len = snprintf (path, ZO_FILE_PATH_MAX + 16, "%s/", s_dir);
    memset (path + len, 'x', ZO_FILE_PATH_MAX + 15 - (size_t) len);
    path [ZO_FILE_PATH_MAX + 15] = 0;
    errno = 0;
    cr_assert_eq (zo_file_mkdir_p (path), -1);
    cr_assert_eq (errno, ENAMETOOLONG);
    cr_assert_eq (zo_file_fsync_dir (path), -1);
    cr_assert_eq (errno, ENAMETOOLONG);
    cr_assert_eq (zo_file_write_atomic (path, "x", 1), -1);
    //  Room for the path but not for its ".tmp": refused too.
    path [ZO_FILE_PATH_MAX - 2] = 0;
    cr_assert_eq (zo_file_write_atomic (path, "x", 1), -1);
    free (path);
}

typedef struct {
    int fd;
    size_t got;
    uint8_t *buf;
    size_t cap;
} s_reader_t;

static void *
s_read_all (void *arg)
{
    s_reader_t *reader = arg;
    ssize_t n;
    while ((n = read (reader->fd, reader->buf + reader->got, reader->cap - reader->got)) > 0)
        reader->got += (size_t) n;
    return NULL;
}

Test (file, write_all_through_short_writes)
{
    //  1 MB through a pipe of 64 KB: write returns short many times.
    size_t len = 1 << 20;
    uint8_t *data = malloc (len);
    for (size_t i = 0; i < len; i++)
        data [i] = (uint8_t) (i * 31 + 7);
    int fds [2];
    cr_assert_eq (pipe (fds), 0);
    s_reader_t reader = { .fd = fds [0], .buf = malloc (len + 1), .cap = len + 1 };
    pthread_t thread;
    cr_assert_eq (pthread_create (&thread, NULL, s_read_all, &reader), 0);
    cr_assert_eq (zo_file_write_all (fds [1], data, len), 0);
    close (fds [1]);
    pthread_join (thread, NULL);
    close (fds [0]);
    cr_assert_eq (reader.got, len);
    cr_assert_eq (memcmp (reader.buf, data, len), 0);
    free (reader.buf);
    free (data);

    //  The world's failures come back as -1 with errno (SIGPIPE ignored,
    //  as zo_signals_block does in every actor).
    signal (SIGPIPE, SIG_IGN);
    cr_assert_eq (pipe (fds), 0);
    close (fds [0]);
    errno = 0;
    cr_assert_eq (zo_file_write_all (fds [1], "abc", 3), -1, "no reader: EPIPE");
    cr_assert_eq (errno, EPIPE);
    close (fds [1]);
    cr_assert_eq (zo_file_write_all (fds [1], "abc", 3), -1);
    cr_assert_eq (errno, EBADF);
    cr_assert_eq (zo_file_write_all (fds [1], "", 0), 0, "nothing to write");
}

Test (file, write_atomic_replaces_and_reads_back)
{
    char path [256], tmp [300];
    snprintf (path, sizeof (path), "%s/state.bin", s_dir);
    snprintf (tmp, sizeof (tmp), "%s.tmp", path);
    size_t size = 1;
    errno = 0;
    cr_assert_null (zo_file_read (path, &size));
    cr_assert_eq (errno, ENOENT);

    cr_assert_eq (zo_file_write_atomic (path, "first", 5), 0);
    uint8_t *buf = zo_file_read (path, &size);
    cr_assert_not_null (buf);
    cr_assert_eq (size, 5);
    cr_assert_eq (memcmp (buf, "first", 5), 0);
    free (buf);

    cr_assert_eq (zo_file_write_atomic (path, "second!", 7), 0);
    buf = zo_file_read (path, &size);
    cr_assert_eq (size, 7);
    cr_assert_eq (memcmp (buf, "second!", 7), 0);
    free (buf);
    cr_assert_neq (access (tmp, F_OK), 0, "no temporary file left");

    cr_assert_eq (zo_file_write_atomic (path, "", 0), 0);
    buf = zo_file_read (path, &size);
    cr_assert_not_null (buf, "an empty file reads as an empty buffer");
    cr_assert_eq (size, 0);
    free (buf);
}

Test (file, write_atomic_failing_leaves_the_old_file)
{
    char path [256];
    snprintf (path, sizeof (path), "%s/missing/state.bin", s_dir);
    cr_assert_eq (zo_file_write_atomic (path, "x", 1), -1, "no such directory");

    //  The rename fails (a directory is in the way): the temporary file
    //  goes, the directory stays.
    snprintf (path, sizeof (path), "%s/taken", s_dir);
    cr_assert_eq (zo_file_mkdir_p (path), 0);
    char inside [256];
    snprintf (inside, sizeof (inside), "%s/taken/keep", s_dir);
    cr_assert_eq (zo_file_write_atomic (inside, "k", 1), 0);
    cr_assert_eq (zo_file_write_atomic (path, "new", 3), -1);
    cr_assert (s_is_dir (path));
    char tmp [300];
    snprintf (tmp, sizeof (tmp), "%s.tmp", path);
    cr_assert_neq (access (tmp, F_OK), 0, "no temporary file left");
    cr_assert_eq (access (inside, F_OK), 0);
}

Test (file, fsync_dir_of_a_path)
{
    char path [256];
    snprintf (path, sizeof (path), "%s/file", s_dir);
    cr_assert_eq (zo_file_fsync_dir (path), 0);
    cr_assert_eq (zo_file_fsync_dir ("relative-name"), 0, "the current directory");
    cr_assert_eq (zo_file_fsync_dir ("/top"), 0, "the root");
    snprintf (path, sizeof (path), "%s/none/file", s_dir);
    errno = 0;
    cr_assert_eq (zo_file_fsync_dir (path), -1);
    cr_assert_eq (errno, ENOENT);
}

Test (file, read_of_a_directory_fails)
{
    size_t size;
    errno = 0;
    cr_assert_null (zo_file_read (s_dir, &size));
    cr_assert_neq (errno, ENOENT);
}
