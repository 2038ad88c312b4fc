/*  jrec: journal records. See jrec.h.  */
#include "jrec.h"

#include <string.h>

#include "dlq.h"
#include "zo_proto.h"

void
zo_jrec_pack_add (msgpack_packer *pk, zo_span_t event, uint32_t attempts,
                  uint64_t deadline_ms)
{
    msgpack_pack_array (pk, 4);
    msgpack_pack_uint8 (pk, ZO_JREC_ADD);
    //  The event is a msgpack map already: written as it is.
    pk->callback (pk->data, (const char *) event.ptr, event.len);
    msgpack_pack_uint32 (pk, attempts);
    msgpack_pack_uint64 (pk, deadline_ms);
}

void
zo_jrec_pack_del (msgpack_packer *pk, zo_span_t id)
{
    msgpack_pack_array (pk, 2);
    msgpack_pack_uint8 (pk, ZO_JREC_DEL);
    msgpack_pack_str_with_body (pk, id.ptr, id.len);
}

int
zo_jrec_read (zo_mp_t *cur, zo_jrec_t *rec)
{
    memset (rec, 0, sizeof (*rec));
    uint32_t n;
    uint64_t tag, value;
    if (zo_mp_read_array (cur, &n) || zo_mp_read_u64 (cur, &tag))
        return -1;
    if (tag == ZO_JREC_ADD && n == 4) {
        rec->kind = ZO_JREC_ADD;
        if (zo_mp_peek (cur) != ZO_MP_MAP || zo_mp_skip (cur, &rec->event))
            return -1;
        if (zo_mp_read_u64 (cur, &value) || value > UINT32_MAX)
            return -1;
        rec->attempts = (uint32_t) value;
        if (zo_mp_read_u64 (cur, &rec->deadline_ms))
            return -1;
        rec->id = zo_dlq_event_id (rec->event);
    }
    else
    if (tag == ZO_JREC_DEL && n == 2) {
        rec->kind = ZO_JREC_DEL;
        if (zo_mp_read_str (cur, &rec->id))
            return -1;
    }
    else
        return -1;
    return rec->id.len >= 1 && rec->id.len <= ZO_MAX_ID ? 0 : -1;
}
