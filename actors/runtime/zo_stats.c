/*  zo_stats: named counters, gauges and histograms, reported as STATS
    messages (see zo_stats.h).

    Metrics live in fixed arrays inside the object, so the pointers handed
    out stay valid for its whole life; histograms (15 KB each) are
    allocated on first use.
*/
#include <assert.h>
#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_loop.h"
#include "zo_proto.h"
#include "zo_stats.h"
#include "zo_version.h"
#include "zo_wire.h"

#define S_NAME_MAX 64

typedef struct {
    char name [S_NAME_MAX];
    uint64_t value;
} s_counter_t;

typedef struct {
    char name [S_NAME_MAX];
    double value;
} s_gauge_t;

typedef struct {
    char name [S_NAME_MAX];
    zo_hist_t *hist;
} s_hist_t;

typedef struct {
    uint64_t ts_ms;             /* wall clock */
    uint32_t len;
    char text [ZO_STATS_NOTE_MAX];
} s_note_t;

struct _zo_stats_t {
    char *actor;
    char *name;
    s_counter_t counters [ZO_STATS_MAX];
    size_t n_counters;
    s_gauge_t gauges [ZO_STATS_MAX];
    size_t n_gauges;
    s_hist_t hists [ZO_STATS_MAX];
    size_t n_hists;
    void *socket;               /* PUSH to the monitor, or NULL */
    uint64_t *dropped;          /* stats_dropped_total */
    bool dropping;              /* logged that reports are being dropped */
    bool bye;                   /* leaving on purpose: reports say so */
    s_note_t notes [ZO_STATS_NOTES];    /* a ring */
    size_t n_notes;             /* kept, at most ZO_STATS_NOTES */
    size_t next_note;           /* the slot the next note takes */
    msgpack_sbuffer scratch;    /* counters, gauges, hists and notes, reused */
};


zo_stats_t *
zo_stats_new (const char *actor, const char *name)
{
    assert (actor);
    assert (name);
    zo_stats_t *self = (zo_stats_t *) calloc (1, sizeof (zo_stats_t));
    if (!self)
        return NULL;
    msgpack_sbuffer_init (&self->scratch);
    self->actor = strdup (actor);
    self->name = strdup (name);
    if (!self->actor || !self->name)
        goto err;
    self->dropped = zo_stats_counter (self, "stats_dropped_total");
    return self;
err:
    zo_stats_destroy (&self);
    return NULL;
}

void
zo_stats_destroy (zo_stats_t **self_p)
{
    assert (self_p);
    zo_stats_t *self = *self_p;
    if (!self)
        return;
    if (self->socket)
        zmq_close (self->socket);
    for (size_t i = 0; i < self->n_hists; i++)
        free (self->hists [i].hist);
    msgpack_sbuffer_destroy (&self->scratch);
    free (self->actor);
    free (self->name);
    free (self);
    *self_p = NULL;
}

static void
s_name_copy (char *dest, const char *name)
{
    assert (strlen (name) < S_NAME_MAX);
    strcpy (dest, name);
}

uint64_t *
zo_stats_counter (zo_stats_t *self, const char *name)
{
    assert (self);
    assert (name);
    for (size_t i = 0; i < self->n_counters; i++)
        if (streq (self->counters [i].name, name))
            return &self->counters [i].value;
    assert (self->n_counters < ZO_STATS_MAX);
    s_counter_t *counter = &self->counters [self->n_counters++];
    s_name_copy (counter->name, name);
    counter->value = 0;
    return &counter->value;
}

double *
zo_stats_gauge (zo_stats_t *self, const char *name)
{
    assert (self);
    assert (name);
    for (size_t i = 0; i < self->n_gauges; i++)
        if (streq (self->gauges [i].name, name))
            return &self->gauges [i].value;
    assert (self->n_gauges < ZO_STATS_MAX);
    s_gauge_t *gauge = &self->gauges [self->n_gauges++];
    s_name_copy (gauge->name, name);
    gauge->value = 0;
    return &gauge->value;
}

zo_hist_t *
zo_stats_hist (zo_stats_t *self, const char *name)
{
    assert (self);
    assert (name);
    for (size_t i = 0; i < self->n_hists; i++)
        if (streq (self->hists [i].name, name))
            return self->hists [i].hist;
    assert (self->n_hists < ZO_STATS_MAX);
    zo_hist_t *hist = (zo_hist_t *) malloc (sizeof (zo_hist_t));
    //  Metrics are made at start-up; no memory then is not recoverable.
    assert (hist);
    zo_hist_reset (hist);
    s_hist_t *entry = &self->hists [self->n_hists++];
    s_name_copy (entry->name, name);
    entry->hist = hist;
    return hist;
}

void
zo_stats_note (zo_stats_t *self, const char *fmt, ...)
{
    assert (self);
    assert (fmt);
    //  Room for the byte after the cut, to see whether it splits a
    //  character.
    char full [ZO_STATS_NOTE_MAX + 8];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (full, sizeof (full), fmt, args);
    va_end (args);
    size_t len = n < 0 ? 0 : (size_t) n;
    if (len > ZO_STATS_NOTE_MAX) {
        len = ZO_STATS_NOTE_MAX;
        //  full [len] continues a character begun before it: cut before
        //  that character.
        while (len > 0 && ((unsigned char) full [len] & 0xC0) == 0x80)
            len--;
    }
    s_note_t *note = &self->notes [self->next_note];
    note->ts_ms = zo_clock_wall_ns () / 1000000u;
    note->len = (uint32_t) len;
    memcpy (note->text, full, len);
    self->next_note = (self->next_note + 1) % ZO_STATS_NOTES;
    if (self->n_notes < ZO_STATS_NOTES)
        self->n_notes++;
}

void
zo_stats_bye (zo_stats_t *self)
{
    assert (self);
    self->bye = true;
    if (self->socket) {
        int linger = ZO_STATS_BYE_LINGER;
        zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof (linger));
    }
}

int
zo_stats_connect (zo_stats_t *self, void *zmq_ctx, const char *endpoint)
{
    assert (self);
    assert (zmq_ctx);
    assert (endpoint);
    void *socket = zmq_socket (zmq_ctx, ZMQ_PUSH);
    if (!socket)
        return -1;
    int hwm = 16, linger = 0;
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof (hwm));
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof (linger));
    if (zmq_connect (socket, endpoint)) {
        zmq_close (socket);
        return -1;
    }
    if (self->socket)
        zmq_close (self->socket);
    self->socket = socket;
    return 0;
}

char *
zo_stats_encode (zo_stats_t *self, uint64_t wall_ms, uint64_t seq, size_t *size)
{
    assert (self);
    assert (size);
    //  The three maps go into one scratch buffer first; their spans are
    //  taken only once it is complete, since packing may move it.
    msgpack_sbuffer_clear (&self->scratch);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->scratch, msgpack_sbuffer_write);

    msgpack_pack_map (&pk, (uint32_t) self->n_counters);
    for (size_t i = 0; i < self->n_counters; i++) {
        zo_proto_pack_str (&pk, self->counters [i].name);
        msgpack_pack_uint64 (&pk, self->counters [i].value);
    }
    size_t gauges_at = self->scratch.size;
    msgpack_pack_map (&pk, (uint32_t) self->n_gauges);
    for (size_t i = 0; i < self->n_gauges; i++) {
        zo_proto_pack_str (&pk, self->gauges [i].name);
        msgpack_pack_double (&pk, self->gauges [i].value);
    }
    size_t hists_at = self->scratch.size;
    msgpack_pack_map (&pk, (uint32_t) self->n_hists);
    for (size_t i = 0; i < self->n_hists; i++) {
        zo_proto_pack_str (&pk, self->hists [i].name);
        zo_hist_pack (self->hists [i].hist, &pk);
    }
    size_t notes_at = self->scratch.size;
    if (self->n_notes) {
        msgpack_pack_array (&pk, (uint32_t) self->n_notes);
        for (size_t i = 1; i <= self->n_notes; i++) {
            //  Newest first: back from the slot before next_note.
            const s_note_t *note = &self->notes [(self->next_note + ZO_STATS_NOTES - i) % ZO_STATS_NOTES];
            msgpack_pack_map (&pk, 2);
            zo_proto_pack_str (&pk, "ts_ms");
            msgpack_pack_uint64 (&pk, note->ts_ms);
            zo_proto_pack_str (&pk, "text");
            msgpack_pack_str (&pk, note->len);
            msgpack_pack_str_body (&pk, note->text, note->len);
        }
    }
    size_t end = self->scratch.size;
    const uint8_t *base = (const uint8_t *) self->scratch.data;

    uint64_t rss = 0;
    double cpu = 0;
    zo_proc_usage (0, &rss, &cpu);

    zo_msg_t msg;
    memset (&msg, 0, sizeof (msg));
    msg.cmd = ZO_CMD_STATS;
    msg.seq = seq;
    msg.name = zo_span_str (self->name);
    msg.actor = zo_span_str (self->actor);
    msg.version = zo_span_str (zo_version_full ());
    msg.pid = (uint64_t) getpid ();
    msg.ts_ms = wall_ms;
    msg.rss_bytes = rss;
    msg.cpu_seconds = cpu;
    msg.counters = (zo_span_t) { base, (uint32_t) gauges_at };
    msg.gauges = (zo_span_t) { base + gauges_at, (uint32_t) (hists_at - gauges_at) };
    msg.hists = (zo_span_t) { base + hists_at, (uint32_t) (notes_at - hists_at) };
    msg.notes = (zo_span_t) { base + notes_at, (uint32_t) (end - notes_at) };
    msg.bye = self->bye;

    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    msgpack_packer_init (&pk, &out, msgpack_sbuffer_write);
    zo_proto_encode (&pk, &msg);
    *size = out.size;
    return msgpack_sbuffer_release (&out);
}

int
zo_stats_send (zo_stats_t *self, uint64_t wall_ms)
{
    assert (self);
    if (!self->socket)
        return -1;              //  reporting is off: nothing to count
    int rc = -1;
    size_t size;
    char *data = zo_stats_encode (self, wall_ms, 0, &size);
    if (data) {
        //  Counted below, with the log line that goes with it.
        zo_wire_t wire;
        zo_wire_init (&wire, NULL, 0);
        rc = zo_wire_send (&wire, self->socket, NULL, 0, data, size);
        free (data);
    }
    if (rc == 0) {
        if (self->dropping)
            zsys_info ("stats: reports reach the monitor again");
        self->dropping = false;
    }
    else {
        (*self->dropped)++;
        if (!self->dropping)
            zsys_warning ("stats: no monitor is taking reports; dropping them "
                          "(counted in stats_dropped_total)");
        self->dropping = true;
    }
    return rc;
}

int
zo_proc_usage (int pid, uint64_t *rss_bytes, double *cpu_seconds)
{
    assert (rss_bytes);
    assert (cpu_seconds);
    char path [64];

    if (pid > 0)
        snprintf (path, sizeof (path), "/proc/%d/statm", pid);
    else
        snprintf (path, sizeof (path), "/proc/self/statm");
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    unsigned long long size_pages = 0, resident_pages = 0;
    int fields = fscanf (file, "%llu %llu", &size_pages, &resident_pages);
    fclose (file);
    if (fields != 2)
        return -1;
    long page_size = sysconf (_SC_PAGESIZE);
    *rss_bytes = (uint64_t) resident_pages * (uint64_t) (page_size > 0? page_size: 4096);

    if (pid > 0)
        snprintf (path, sizeof (path), "/proc/%d/stat", pid);
    else
        snprintf (path, sizeof (path), "/proc/self/stat");
    return zo_proc_cpu_read (path, cpu_seconds);
}

int
zo_proc_cpu_read (const char *path, double *cpu_seconds)
{
    assert (path);
    assert (cpu_seconds);
    char buffer [1024];
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    size_t length = fread (buffer, 1, sizeof (buffer) - 1, file);
    fclose (file);
    buffer [length] = 0;
    //  The command name (field 2) is in parentheses and may hold spaces
    //  or parentheses itself: fields are counted from the last ')'.
    char *rest = strrchr (buffer, ')');
    if (!rest)
        return -1;
    unsigned long long utime = 0, stime = 0;
    //  Fields 3..13 are skipped; 14 is utime, 15 stime (clock ticks).
    if (sscanf (rest + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                &utime, &stime) != 2)
        return -1;
    long ticks = sysconf (_SC_CLK_TCK);
    *cpu_seconds = (double) (utime + stime) / (double) (ticks > 0? ticks: 100);
    return 0;
}
