/*  workers: the registry of workers. See workers.h.  */
#include "workers.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "zo_proto.h"

//  A WORKERS map's bytes beside its name: six keys (37), the map and str
//  headers (8), four integers of at most 9 bytes and a bool: 82, rounded up.
#define S_PACK_ENTRY 96

struct _zo_workers_t {
    zo_worker_t **list;
    size_t size, cap;
    zo_worker_t *last;       /* last found */
};

zo_workers_t *
zo_workers_new (void)
{
    return calloc (1, sizeof (zo_workers_t));
}

void
zo_workers_destroy (zo_workers_t **self_p)
{
    assert (self_p);
    zo_workers_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++)
        free (self->list [i]);
    free (self->list);
    free (self);
    *self_p = NULL;
}

zo_worker_t *
zo_workers_find (zo_workers_t *self, const void *ident, size_t len)
{
    zo_worker_t *w = self->last;
    if (w && w->ident_len == len && memcmp (w->ident, ident, len) == 0)
        return w;
    for (size_t i = 0; i < self->size; i++) {
        w = self->list [i];
        if (w->ident_len == len && memcmp (w->ident, ident, len) == 0)
            return self->last = w;
    }
    return NULL;
}

zo_worker_t *
zo_workers_add (zo_workers_t *self, const void *ident, size_t len)
{
    assert (len <= ZO_WORKER_IDENT_MAX);
    if (self->size == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        zo_worker_t **list = realloc (self->list, cap * sizeof (zo_worker_t *));
        if (!list)
            return NULL;
        self->list = list;
        self->cap = cap;
    }
    zo_worker_t *w = calloc (1, sizeof (zo_worker_t));
    if (!w)
        return NULL;
    memcpy (w->ident, ident, len);
    w->ident_len = (uint8_t) len;
    self->list [self->size++] = w;
    return self->last = w;
}

void
zo_workers_remove (zo_workers_t *self, zo_worker_t *worker)
{
    assert (worker->held.count == 0);
    for (size_t i = 0; i < self->size; i++)
        if (self->list [i] == worker) {
            self->list [i] = self->list [--self->size];
            break;
        }
    if (self->last == worker)
        self->last = NULL;
    free (worker);
}

size_t
zo_workers_size (const zo_workers_t *self)
{
    return self->size;
}

zo_worker_t *
zo_workers_at (zo_workers_t *self, size_t i)
{
    assert (i < self->size);
    return self->list [i];
}

uint64_t
zo_workers_credit (const zo_workers_t *self)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < self->size; i++)
        sum += self->list [i]->credit;
    return sum;
}

size_t
zo_workers_quiet (const zo_workers_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->size; i++)
        n += self->list [i]->quiet;
    return n;
}

size_t
zo_workers_pack (const zo_workers_t *self, msgpack_sbuffer *buf, size_t max_bytes)
{
    assert (buf);
    //  The count goes first in msgpack: find how many fit, then pack them.
    size_t n = 0, bytes = 5;
    while (n < self->size) {
        bytes += S_PACK_ENTRY + strlen (self->list [n]->name);
        if (bytes > max_bytes)
            break;
        n++;
    }
    if (n < self->size)
        zsys_warning ("broker: WORKERS lists %zu of %zu workers, as many as fit in %zu bytes",
                      n, self->size, max_bytes);
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, (uint32_t) n);
    for (size_t i = 0; i < n; i++) {
        const zo_worker_t *w = self->list [i];
        msgpack_pack_map (&pk, 6);
        zo_proto_pack_str (&pk, "name");
        zo_proto_pack_str (&pk, w->name);
        zo_proto_pack_str (&pk, "capacity");
        msgpack_pack_uint32 (&pk, w->capacity);
        zo_proto_pack_str (&pk, "credit");
        msgpack_pack_uint64 (&pk, w->credit);
        zo_proto_pack_str (&pk, "held");
        msgpack_pack_uint64 (&pk, w->held.count);
        zo_proto_pack_str (&pk, "dispatched");
        msgpack_pack_uint64 (&pk, w->dispatched);
        zo_proto_pack_str (&pk, "quiet");
        if (w->quiet)
            msgpack_pack_true (&pk);
        else
            msgpack_pack_false (&pk);
    }
    return n;
}
