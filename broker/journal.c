/*  journal: the broker's write-ahead log. See journal.h; the record
    format is in jrec.h.
*/
#include "journal.h"

#include <assert.h>
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "zo_file.h"
#include "jrec.h"
#include "jreplay.h"
#include "zo_loop.h"

#define S_SUFFIX ".msgpack"
#define S_MIN_SEGMENT 4096
//  Segments read at recovery, at most: there are normally one or two.
#define S_MAX_SEGMENTS 4096

//  One batch for the sync thread: bytes [0, split) of buf go to the open
//  segment, the rest to a new segment new_seq (0: no new segment).
typedef struct {
    const msgpack_sbuffer *buf;
    size_t split;
    uint64_t new_seq;
    uint64_t end;            /* journal position at the end of buf */
} s_batch_t;

struct _zo_journal_t {
    char *dir;
    uint64_t segment_max;
    zo_journal_checkpoint_fn *checkpoint;
    void *checkpoint_arg;
    zo_hist_t *sync_ns;
    zo_journal_stats_t stats;

    //  The loop's thread only.
    msgpack_sbuffer bufs [2];  /* one filled by appends, one with the thread */
    int fill;                  /* index of the one being filled */
    uint64_t appended;         /* position: bytes appended since opened */
    uint64_t synced;
    uint64_t seq;              /* segment appends go to (0: none yet) */
    uint64_t seg_bytes;        /* appended to it */
    uint64_t seg_base;         /* of those, its checkpoint's */
    bool roll;                 /* start a new segment at the next kick */
    bool open;                 /* the thread has a segment open */
    bool busy;                 /* a batch is with the thread */
    bool started, failed;

    //  Shared with the sync thread, under mutex.
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool thread_up;
    bool pending;              /* batch waits for the thread */
    bool done;                 /* the thread finished it */
    bool quit;
    s_batch_t batch;
    int err;                   /* errno of the batch's failure, or 0 */
    uint64_t took_ns;
    int efd;                   /* signalled when a batch is done */

    //  The sync thread only (and destroy, after the join).
    int fd;                    /* the open segment, or -1 */
};

//  ---------------------------------------------------------------------
//  Segment files

static void
s_seg_path (char *path, size_t size, const char *dir, uint64_t seq)
{
    snprintf (path, size, "%s/%010" PRIu64 S_SUFFIX, dir, seq);
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

//  The segment numbers in dir, ascending, into *seqs (malloc'd). Returns
//  how many, or -1 (logged). Names other than digits + S_SUFFIX are not
//  segments and are left alone.
static int
s_list (const char *dir, uint64_t **seqs)
{
    *seqs = NULL;
    DIR *d = opendir (dir);
    if (!d) {
        zsys_error ("journal: cannot read %s: %s", dir, strerror (errno));
        return -1;
    }
    uint64_t *list = malloc (S_MAX_SEGMENTS * sizeof (uint64_t));
    int n = 0;
    struct dirent *entry;
    while (list && (entry = readdir (d))) {
        const char *name = entry->d_name;
        size_t digits = strspn (name, "0123456789");
        if (digits == 0 || digits > 19 || strcmp (name + digits, S_SUFFIX) != 0)
            continue;
        if (n == S_MAX_SEGMENTS) {
            zsys_error ("journal: more than %d segments in %s", S_MAX_SEGMENTS, dir);
            n = -1;
            break;
        }
        list [n++] = strtoull (name, NULL, 10);
    }
    closedir (d);
    if (!list || n < 0) {
        free (list);
        return -1;
    }
    qsort (list, (size_t) n, sizeof (uint64_t), s_cmp_u64);
    *seqs = list;
    return n;
}

//  Deletes the segments numbered below seq (the thread, once a newer
//  checkpoint is durable). A failure only leaves a file that recovery
//  reads again harmlessly: the checkpoint after it supersedes it.
static void
s_remove_below (const char *dir, uint64_t seq)
{
    uint64_t *seqs;
    int n = s_list (dir, &seqs);
    char path [4096];
    for (int i = 0; i < n && seqs [i] < seq; i++) {
        s_seg_path (path, sizeof (path), dir, seqs [i]);
        if (unlink (path) && errno != ENOENT)
            zsys_warning ("journal: cannot remove %s: %s", path, strerror (errno));
    }
    free (seqs);
}

//  ---------------------------------------------------------------------
//  The sync thread

//  Writes one batch and makes it durable. 0, or an errno.
static int
s_write_batch (zo_journal_t *self, const s_batch_t *batch)
{
    const uint8_t *data = (const uint8_t *) batch->buf->data;
    size_t size = batch->buf->size;
    if (batch->split && zo_file_write_all (self->fd, data, batch->split))
        return errno;
    char path [4096];
    if (batch->new_seq) {
        //  The old segment's tail needs no fdatasync of its own: the
        //  checkpoint that follows holds everything it says.
        s_seg_path (path, sizeof (path), self->dir, batch->new_seq);
        int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return errno;
        if (self->fd >= 0)
            close (self->fd);
        self->fd = fd;
    }
    if (size > batch->split && zo_file_write_all (self->fd, data + batch->split, size - batch->split))
        return errno;
    if (fdatasync (self->fd))
        return errno;
    if (batch->new_seq) {
        //  The new file's name must be durable before the old files go.
        zo_file_fsync_dir (path);
        s_remove_below (self->dir, batch->new_seq);
    }
    return 0;
}

static void *
s_thread (void *arg)
{
    zo_journal_t *self = arg;
    pthread_mutex_lock (&self->mutex);
    while (true) {
        while (!self->pending && !self->quit)
            pthread_cond_wait (&self->cond, &self->mutex);
        if (!self->pending)
            break;
        s_batch_t batch = self->batch;
        pthread_mutex_unlock (&self->mutex);
        uint64_t start = zo_clock_mono_ns ();
        int err = s_write_batch (self, &batch);
        uint64_t took = zo_clock_mono_ns () - start;
        pthread_mutex_lock (&self->mutex);
        self->pending = false;
        self->done = true;
        self->err = err;
        self->took_ns = took;
        pthread_cond_broadcast (&self->cond);
        //  Can fail only with EAGAIN, when the count is near 2^64: then
        //  the fd is readable anyway.
        uint64_t one = 1;
        ssize_t rc = write (self->efd, &one, sizeof (one));
        (void) rc;
    }
    pthread_mutex_unlock (&self->mutex);
    return NULL;
}

//  ---------------------------------------------------------------------
//  Construction

zo_journal_t *
zo_journal_new (const char *dir, uint64_t segment_max,
                zo_journal_checkpoint_fn *checkpoint, void *arg, zo_hist_t *sync_ns)
{
    if (zo_file_mkdir_p (dir)) {
        zsys_error ("journal: cannot create %s: %s", dir, strerror (errno));
        return NULL;
    }
    zo_journal_t *self = calloc (1, sizeof (zo_journal_t));
    if (!self)
        return NULL;
    self->fd = -1;
    self->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->dir = strdup (dir);
    if (self->efd < 0 || !self->dir) {
        zsys_error ("journal: cannot start: %s", strerror (errno));
        if (self->efd >= 0)
            close (self->efd);
        free (self->dir);
        free (self);
        return NULL;
    }
    self->segment_max = segment_max < S_MIN_SEGMENT ? S_MIN_SEGMENT : segment_max;
    self->checkpoint = checkpoint;
    self->checkpoint_arg = arg;
    self->sync_ns = sync_ns;
    for (int i = 0; i < 2; i++)
        msgpack_sbuffer_init (&self->bufs [i]);
    pthread_mutex_init (&self->mutex, NULL);
    pthread_cond_init (&self->cond, NULL);
    return self;
}

void
zo_journal_destroy (zo_journal_t **self_p)
{
    assert (self_p);
    zo_journal_t *self = *self_p;
    if (!self)
        return;
    if (self->started && zo_journal_sync (self))
        zsys_error ("journal: %" PRIu64 " bytes appended were not made durable",
                    self->appended - self->synced);
    if (self->thread_up) {
        pthread_mutex_lock (&self->mutex);
        self->quit = true;
        pthread_cond_broadcast (&self->cond);
        pthread_mutex_unlock (&self->mutex);
        pthread_join (self->thread, NULL);
    }
    if (self->fd >= 0)
        close (self->fd);
    close (self->efd);
    pthread_mutex_destroy (&self->mutex);
    pthread_cond_destroy (&self->cond);
    for (int i = 0; i < 2; i++)
        msgpack_sbuffer_destroy (&self->bufs [i]);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

int
zo_journal_start (zo_journal_t *self)
{
    assert (!self->started);
    if (pthread_create (&self->thread, NULL, s_thread, self)) {
        zsys_error ("journal: cannot start the sync thread");
        return -1;
    }
    self->thread_up = true;
    self->started = true;
    self->roll = true;
    return zo_journal_sync (self);
}

//  ---------------------------------------------------------------------
//  Appending and syncing (the loop's thread)

static uint64_t
s_appended (zo_journal_t *self, size_t before)
{
    size_t bytes = self->bufs [self->fill].size - before;
    self->appended += bytes;
    self->seg_bytes += bytes;
    self->stats.appends++;
    self->stats.bytes += bytes;
    return self->appended;
}

uint64_t
zo_journal_add (zo_journal_t *self, zo_span_t event, uint32_t attempts, uint64_t deadline_ms)
{
    if (self->failed)
        return self->appended;
    size_t before = self->bufs [self->fill].size;
    zo_jrec_add (&self->bufs [self->fill], event, attempts, deadline_ms);
    return s_appended (self, before);
}

uint64_t
zo_journal_del (zo_journal_t *self, zo_span_t id)
{
    if (self->failed)
        return self->appended;
    size_t before = self->bufs [self->fill].size;
    zo_jrec_del (&self->bufs [self->fill], id);
    return s_appended (self, before);
}

void
zo_journal_kick (zo_journal_t *self)
{
    if (!self->started || self->busy || self->failed)
        return;
    //  A segment is full once segment_max bytes follow its checkpoint, so
    //  that a checkpoint bigger than segment_max cannot roll every time.
    bool roll = self->roll || self->seg_bytes - self->seg_base >= self->segment_max;
    msgpack_sbuffer *buf = &self->bufs [self->fill];
    if (!buf->size && !roll)
        return;
    s_batch_t batch = { .buf = buf };
    if (roll) {
        batch.split = self->open ? buf->size : 0;
        self->open = true;
        batch.new_seq = self->seq + 1;
        self->seq = batch.new_seq;
        self->seg_bytes = 0;
        self->roll = false;
        self->stats.checkpoints++;
        if (self->checkpoint)
            self->checkpoint (self, self->checkpoint_arg);
        self->seg_base = self->seg_bytes;
    }
    batch.end = self->appended;
    self->fill ^= 1;
    msgpack_sbuffer_clear (&self->bufs [self->fill]);
    self->busy = true;
    pthread_mutex_lock (&self->mutex);
    self->batch = batch;
    self->pending = true;
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->mutex);
}

//  Takes the outcome of the batch the thread finished, if it did. The
//  eventfd is read under the mutex, which the thread holds when it writes
//  it, so it is readable exactly while a finished batch waits here.
static void
s_take (zo_journal_t *self)
{
    pthread_mutex_lock (&self->mutex);
    uint64_t count;
    if (read (self->efd, &count, sizeof (count)) < 0 && errno != EAGAIN)
        zsys_warning ("journal: eventfd: %s", strerror (errno));
    bool done = self->done;
    int err = self->err;
    uint64_t end = self->batch.end, took = self->took_ns;
    self->done = false;
    pthread_mutex_unlock (&self->mutex);
    if (!done)
        return;
    self->busy = false;
    if (err) {
        self->failed = true;
        self->stats.errors++;
        zsys_error ("journal: WRITING TO %s FAILED: %s; %" PRIu64 " bytes are not durable and "
                    "the broker acknowledges nothing more until it is restarted",
                    self->dir, strerror (err), self->appended - self->synced);
        return;
    }
    self->synced = end;
    self->stats.syncs++;
    if (self->sync_ns)
        zo_hist_record (self->sync_ns, took);
}

int
zo_journal_fd (const zo_journal_t *self)
{
    return self->efd;
}

int
zo_journal_collect (zo_journal_t *self)
{
    s_take (self);
    return self->failed ? -1 : 0;
}

int
zo_journal_sync (zo_journal_t *self)
{
    if (!self->started)
        return -1;
    while (!self->failed) {
        if (self->busy) {
            pthread_mutex_lock (&self->mutex);
            while (!self->done)
                pthread_cond_wait (&self->cond, &self->mutex);
            pthread_mutex_unlock (&self->mutex);
            s_take (self);
            continue;
        }
        if (self->synced == self->appended && !self->roll)
            return 0;
        zo_journal_kick (self);
        assert (self->busy);
    }
    return -1;
}

uint64_t
zo_journal_position (const zo_journal_t *self)
{
    return self->appended;
}

uint64_t
zo_journal_synced (const zo_journal_t *self)
{
    return self->synced;
}

uint64_t
zo_journal_backlog (const zo_journal_t *self)
{
    return self->appended - self->synced;
}

bool
zo_journal_failed (const zo_journal_t *self)
{
    return self->failed;
}

const zo_journal_stats_t *
zo_journal_stats (const zo_journal_t *self)
{
    return &self->stats;
}

//  ---------------------------------------------------------------------
//  Recovery

//  Reads one segment into the replay; its buffer goes to *file, for the
//  spans. A corrupt tail is cut off the file. 0, or -1 if it cannot be
//  read or memory ran out.
static int
s_load (zo_journal_t *self, zo_jreplay_t *replay, uint64_t seq, uint8_t **file)
{
    char path [4096];
    s_seg_path (path, sizeof (path), self->dir, seq);
    size_t size = 0;
    uint8_t *buf = *file = zo_file_read (path, &size);
    if (!buf)
        return -1;
    zo_mp_t cur;
    zo_mp_init (&cur, buf, size);
    size_t good = 0;
    while (zo_mp_left (&cur)) {
        zo_jrec_t rec;
        if (zo_jrec_read (&cur, &rec))
            break;
        if (zo_jreplay_apply (replay, &rec))
            return -1;
        good = (size_t) (cur.pos - buf);
    }
    if (good < size) {
        self->stats.corrupt++;
        zsys_warning ("journal: %s: corrupt tail at byte %zu, %zu bytes cut off",
                      path, good, size - good);
        if (truncate (path, (off_t) good))
            zsys_error ("journal: %s: cannot cut the corrupt tail: %s", path, strerror (errno));
    }
    return 0;
}

typedef struct {
    zo_journal_live_fn *live;
    zo_journal_gone_fn *gone;
    void *arg;
} s_report_t;

static void
s_report (const zo_jrec_t *rec, void *arg)
{
    s_report_t *report = arg;
    if (rec->kind == ZO_JREC_ADD)
        report->live (rec->event, rec->attempts, rec->deadline_ms, report->arg);
    else
    if (report->gone)
        report->gone (rec->id, report->arg);
}

int
zo_journal_recover (zo_journal_t *self, zo_journal_live_fn *live,
                    zo_journal_gone_fn *gone, void *arg)
{
    assert (!self->started);
    uint64_t *seqs;
    int n = s_list (self->dir, &seqs);
    if (n < 0)
        return -1;
    zo_jreplay_t *replay = zo_jreplay_new ();
    uint8_t **files = calloc ((size_t) n + 1, sizeof (uint8_t *));
    int rc = replay && files ? 0 : -1;
    for (int i = 0; i < n && rc == 0; i++)
        rc = s_load (self, replay, seqs [i], &files [i]);
    if (n > 0)
        self->seq = seqs [n - 1];
    int count = 0;
    if (rc == 0) {
        s_report_t report = { live, gone, arg };
        count = (int) zo_jreplay_foreach (replay, s_report, &report);
        self->stats.recovered = (uint64_t) count;
    }
    else
        zsys_error ("journal: cannot recover %s (unreadable segment or out of memory)", self->dir);
    for (int i = 0; files && i < n; i++)
        free (files [i]);
    free (files);
    zo_jreplay_destroy (&replay);
    free (seqs);
    return rc ? -1 : count;
}
