/*  dlq: the dead-letter store. See dlq.h.  */
#include "dlq.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zo_file.h"
#include "zo_proto.h"

struct _zo_dlq_t {
    char *path;
    FILE *file;              /* opened for append */
    bool dirty;              /* appends not yet flushed */
    bool stale;              /* the file lacks entries: rewrite next time */
    zo_dlq_entry_t *entries; /* oldest first */
    size_t size, cap;
    size_t invalid;          /* records skipped at load */
};

zo_span_t
zo_dlq_event_id (zo_span_t event)
{
    zo_span_t none = { NULL, 0 };
    zo_mp_t cur;
    zo_mp_init (&cur, event.ptr, event.len);
    uint32_t n;
    if (zo_mp_read_map (&cur, &n))
        return none;
    for (uint32_t i = 0; i < n; i++) {
        zo_span_t key, value;
        if (zo_mp_read_str (&cur, &key))
            return none;
        if (zo_span_eq (key, "id") && zo_mp_peek (&cur) == ZO_MP_STR) {
            if (zo_mp_read_str (&cur, &value) == 0)
                return value;
            return none;
        }
        if (zo_mp_skip (&cur, NULL))
            return none;
    }
    return none;
}

//  Parses one stored record (which must be a whole map) into entry, whose
//  spans then point into buf. -1 if it is not a valid dead letter.
static int
s_parse (const uint8_t *buf, size_t len, zo_dlq_entry_t *entry)
{
    memset (entry, 0, sizeof (*entry));
    zo_mp_t cur;
    zo_mp_init (&cur, buf, len);
    uint32_t n;
    if (zo_mp_read_map (&cur, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        zo_span_t key;
        if (zo_mp_read_str (&cur, &key))
            return -1;
        uint64_t value;
        if (zo_span_eq (key, "event")) {
            if (zo_mp_peek (&cur) != ZO_MP_MAP || zo_mp_skip (&cur, &entry->event))
                return -1;
        }
        else
        if (zo_span_eq (key, "error")) {
            if (zo_mp_read_str (&cur, &entry->error))
                return -1;
            //  Written by us within the limit; longer means the file was
            //  changed or damaged. The event matters more than its last
            //  error's text: keep the record, cut the text to what the
            //  protocol carries.
            if (entry->error.len > ZO_MAX_TEXT)
                entry->error.len = ZO_MAX_TEXT;
        }
        else
        if (zo_span_eq (key, "attempts")) {
            if (zo_mp_read_u64 (&cur, &value) || value > UINT32_MAX)
                return -1;
            entry->attempts = (uint32_t) value;
        }
        else
        if (zo_span_eq (key, "failed_ms")) {
            if (zo_mp_read_u64 (&cur, &value))
                return -1;
            entry->failed_ms = value;
        }
        else
        if (zo_mp_skip (&cur, NULL))
            return -1;
    }
    if (!entry->event.len || zo_mp_left (&cur))
        return -1;
    entry->id = zo_dlq_event_id (entry->event);
    //  An id the protocol cannot carry cannot be listed or replayed.
    if (entry->id.len == 0 || entry->id.len > ZO_MAX_ID)
        return -1;
    return 0;
}

//  Keeps a copy of one stored record. -1 when out of memory, -2 if it is
//  not a valid dead letter.
static int
s_keep (zo_dlq_t *self, const uint8_t *rec, size_t len)
{
    if (self->size == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        zo_dlq_entry_t *entries = realloc (self->entries, cap * sizeof (zo_dlq_entry_t));
        if (!entries)
            return -1;
        self->entries = entries;
        self->cap = cap;
    }
    uint8_t *buf = malloc (len);
    if (!buf)
        return -1;
    memcpy (buf, rec, len);
    zo_dlq_entry_t *entry = &self->entries [self->size];
    if (s_parse (buf, len, entry)) {
        free (buf);
        return -2;
    }
    entry->buf = buf;
    entry->len = (uint32_t) len;
    self->size++;
    return 0;
}

static int
s_load (zo_dlq_t *self)
{
    size_t size = 0;
    uint8_t *buf = zo_file_read (self->path, &size);
    if (!buf)
        return errno == ENOENT ? 0 : -1;
    zo_mp_t cur;
    zo_mp_init (&cur, buf, size);
    size_t good = 0, invalid = 0;
    while (zo_mp_left (&cur)) {
        zo_span_t rec;
        if (zo_mp_skip (&cur, &rec))
            break;              //  a torn tail
        int rc = s_keep (self, rec.ptr, rec.len);
        if (rc == -1)
            break;
        //  A whole value that is no dead letter (a changed or damaged
        //  file): skipped alone, so the records after it are kept.
        if (rc == -2)
            invalid++;
        good = (size_t) (cur.pos - buf);
    }
    if (invalid)
        zsys_warning ("%s: %zu invalid records skipped", self->path, invalid);
    self->invalid = invalid;
    if (good < size) {
        zsys_warning ("%s: corrupt tail at byte %zu, %zu bytes skipped",
                      self->path, good, size - good);
        if (truncate (self->path, (off_t) good))
            zsys_error ("%s: cannot cut the corrupt tail: %s", self->path, strerror (errno));
    }
    free (buf);
    if (self->size)
        zsys_info ("%s: %zu dead letters", self->path, self->size);
    return 0;
}

zo_dlq_t *
zo_dlq_new (const char *dir)
{
    if (zo_file_mkdir_p (dir)) {
        zsys_error ("cannot create data directory %s: %s", dir, strerror (errno));
        return NULL;
    }
    zo_dlq_t *self = calloc (1, sizeof (zo_dlq_t));
    if (!self)
        return NULL;
    size_t len = strlen (dir) + sizeof (ZO_DLQ_FILE) + 2;
    self->path = malloc (len);
    if (!self->path)
        goto err;
    snprintf (self->path, len, "%s/%s", dir, ZO_DLQ_FILE);
    if (s_load (self))
        goto err;
    self->file = fopen (self->path, "ab");
    if (!self->file) {
        zsys_error ("cannot open %s: %s", self->path, strerror (errno));
        goto err;
    }
    return self;
err:
    zo_dlq_destroy (&self);
    return NULL;
}

void
zo_dlq_destroy (zo_dlq_t **self_p)
{
    assert (self_p);
    zo_dlq_t *self = *self_p;
    if (!self)
        return;
    if (self->file) {
        zo_dlq_flush (self);
        fclose (self->file);
    }
    for (size_t i = 0; i < self->size; i++)
        free (self->entries [i].buf);
    free (self->entries);
    free (self->path);
    free (self);
    *self_p = NULL;
}

int
zo_dlq_add (zo_dlq_t *self, zo_span_t event, const char *error,
            uint32_t attempts, uint64_t failed_ms)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 4);
    zo_proto_pack_str (&pk, "event");
    msgpack_sbuffer_write (&sbuf, (const char *) event.ptr, event.len);
    //  The error is cut to what the protocol carries (DLQ_ITEMS), so that
    //  what is stored can always be listed.
    size_t error_len = error ? strnlen (error, ZO_MAX_TEXT) : 0;
    zo_proto_pack_str (&pk, "error");
    msgpack_pack_str (&pk, error_len);
    msgpack_pack_str_body (&pk, error ? error : "", error_len);
    zo_proto_pack_str (&pk, "attempts");
    msgpack_pack_uint32 (&pk, attempts);
    zo_proto_pack_str (&pk, "failed_ms");
    msgpack_pack_uint64 (&pk, failed_ms);

    int rc = 0;
    if (s_keep (self, (const uint8_t *) sbuf.data, sbuf.size)) {
        //  Only an event map that does not parse gets here (a bug upstream);
        //  it is still written so that nothing is lost.
        zsys_error ("dead letter kept on disk only (malformed or out of memory)");
        rc = -1;
    }
    if (fwrite (sbuf.data, 1, sbuf.size, self->file) != sbuf.size) {
        zsys_error ("%s: write failed: %s", self->path, strerror (errno));
        self->stale = true;
        rc = -1;
    }
    self->dirty = true;
    msgpack_sbuffer_destroy (&sbuf);
    return rc;
}

//  Writes every entry to a fresh file and reopens it for appending.
static int
s_rewrite (zo_dlq_t *self)
{
    size_t total = 0;
    for (size_t i = 0; i < self->size; i++)
        total += self->entries [i].len;
    uint8_t *buf = malloc (total ? total : 1);
    if (!buf)
        return -1;
    size_t at = 0;
    for (size_t i = 0; i < self->size; i++) {
        memcpy (buf + at, self->entries [i].buf, self->entries [i].len);
        at += self->entries [i].len;
    }
    if (self->file)
        fclose (self->file);
    int rc = zo_file_write_atomic (self->path, buf, total);
    free (buf);
    self->file = fopen (self->path, "ab");
    if (!self->file) {
        zsys_error ("cannot reopen %s: %s", self->path, strerror (errno));
        rc = -1;
    }
    self->stale = rc != 0;
    self->dirty = false;
    return rc;
}

int
zo_dlq_flush (zo_dlq_t *self)
{
    if (self->stale)
        return s_rewrite (self);
    if (!self->dirty || !self->file)
        return 0;
    self->dirty = false;
    if (fflush (self->file) || fdatasync (fileno (self->file))) {
        zsys_error ("%s: flush failed: %s", self->path, strerror (errno));
        self->stale = true;
        return -1;
    }
    return 0;
}

size_t
zo_dlq_invalid (const zo_dlq_t *self)
{
    return self->invalid;
}

size_t
zo_dlq_size (const zo_dlq_t *self)
{
    return self->size;
}

const zo_dlq_entry_t *
zo_dlq_at (const zo_dlq_t *self, size_t i)
{
    assert (i < self->size);
    return &self->entries [i];
}

static bool
s_listed (zo_span_t id, const zo_span_t *ids, size_t n_ids)
{
    if (!n_ids)
        return true;
    for (size_t i = 0; i < n_ids; i++)
        if (ids [i].len == id.len && memcmp (ids [i].ptr, id.ptr, id.len) == 0)
            return true;
    return false;
}

size_t
zo_dlq_take (zo_dlq_t *self, const zo_span_t *ids, size_t n_ids,
             zo_dlq_take_fn *fn, void *arg)
{
    //  At most 1000 ids (the protocol's limit) against the store: a linear
    //  check per entry is cheap next to the rewrite that follows.
    size_t kept = 0, taken = 0;
    for (size_t i = 0; i < self->size; i++) {
        zo_dlq_entry_t *entry = &self->entries [i];
        if (s_listed (entry->id, ids, n_ids) && (!fn || fn (entry, arg) == 0)) {
            free (entry->buf);
            taken++;
        }
        else
            self->entries [kept++] = *entry;
    }
    self->size = kept;
    if (taken)
        self->stale = true;          //  pending appends are part of the rewrite
    return taken;
}
