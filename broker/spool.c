/*  spool: the shutdown spool. See spool.h.  */
#include "spool.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zo_file.h"
#include "zo_proto.h"

struct _zo_spool_t {
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    size_t count;
};

zo_spool_t *
zo_spool_new (void)
{
    zo_spool_t *self = calloc (1, sizeof (zo_spool_t));
    if (!self)
        return NULL;
    msgpack_sbuffer_init (&self->sbuf);
    msgpack_packer_init (&self->pk, &self->sbuf, msgpack_sbuffer_write);
    return self;
}

void
zo_spool_destroy (zo_spool_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        msgpack_sbuffer_destroy (&(*self_p)->sbuf);
        free (*self_p);
        *self_p = NULL;
    }
}

void
zo_spool_add (zo_spool_t *self, zo_span_t event, uint32_t attempts,
              uint64_t deadline_left_ms)
{
    msgpack_pack_map (&self->pk, 3);
    zo_proto_pack_str (&self->pk, "event");
    msgpack_sbuffer_write (&self->sbuf, (const char *) event.ptr, event.len);
    zo_proto_pack_str (&self->pk, "attempts");
    msgpack_pack_uint32 (&self->pk, attempts);
    zo_proto_pack_str (&self->pk, "deadline_ms");
    msgpack_pack_uint64 (&self->pk, deadline_left_ms);
    self->count++;
}

size_t
zo_spool_count (const zo_spool_t *self)
{
    return self->count;
}

static void
s_path (char *path, size_t size, const char *dir)
{
    snprintf (path, size, "%s/%s", dir, ZO_SPOOL_FILE);
}

int
zo_spool_save (zo_spool_t *self, const char *dir)
{
    char path [4096];
    s_path (path, sizeof (path), dir);
    if (self->count == 0) {
        if (unlink (path) && errno != ENOENT)
            zsys_warning ("cannot remove %s: %s", path, strerror (errno));
        return 0;
    }
    return zo_file_write_atomic (path, self->sbuf.data, self->sbuf.size);
}

//  One record: -1 if it is not a valid spooled event.
static int
s_parse (zo_span_t rec, zo_span_t *event, uint32_t *attempts, uint64_t *left)
{
    zo_mp_t cur;
    zo_mp_init (&cur, rec.ptr, rec.len);
    uint32_t n;
    if (zo_mp_read_map (&cur, &n))
        return -1;
    event->len = 0;
    *attempts = 0;
    *left = 0;
    for (uint32_t i = 0; i < n; i++) {
        zo_span_t key;
        uint64_t value;
        if (zo_mp_read_str (&cur, &key))
            return -1;
        if (zo_span_eq (key, "event")) {
            if (zo_mp_peek (&cur) != ZO_MP_MAP || zo_mp_skip (&cur, event))
                return -1;
        }
        else
        if (zo_span_eq (key, "attempts")) {
            if (zo_mp_read_u64 (&cur, &value) || value > UINT32_MAX)
                return -1;
            *attempts = (uint32_t) value;
        }
        else
        if (zo_span_eq (key, "deadline_ms")) {
            if (zo_mp_read_u64 (&cur, left))
                return -1;
        }
        else
        if (zo_mp_skip (&cur, NULL))
            return -1;
    }
    return event->len ? 0 : -1;
}

int
zo_spool_load (const char *dir, zo_spool_fn *fn, void *arg)
{
    char path [4096];
    s_path (path, sizeof (path), dir);
    size_t size = 0;
    uint8_t *buf = zo_file_read (path, &size);
    if (!buf)
        return errno == ENOENT ? 0 : -1;
    zo_mp_t cur;
    zo_mp_init (&cur, buf, size);
    int count = 0;
    while (zo_mp_left (&cur)) {
        const uint8_t *at = cur.pos;
        zo_span_t rec, event;
        uint32_t attempts;
        uint64_t left;
        if (zo_mp_skip (&cur, &rec)) {
            zsys_warning ("%s: corrupt tail at byte %zu, %zu bytes skipped",
                          path, (size_t) (at - buf), size - (size_t) (at - buf));
            break;
        }
        if (s_parse (rec, &event, &attempts, &left)) {
            //  A whole value that is no spooled event: skipped alone, so
            //  that the events after it are not lost with it (the file is
            //  removed once read).
            zsys_warning ("%s: invalid record at byte %zu (%u bytes) skipped",
                          path, (size_t) (at - buf), rec.len);
            continue;
        }
        fn (event, attempts, left, arg);
        count++;
    }
    free (buf);
    if (unlink (path))
        zsys_warning ("cannot remove %s: %s", path, strerror (errno));
    return count;
}
