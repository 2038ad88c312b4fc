/*  jrec: journal records. See jrec.h.  */
#include "jrec.h"

#include <string.h>

#include "dlq.h"
#include "zo_proto.h"

//  ---------------------------------------------------------------------
//  CRC-32C: the SSE 4.2 instruction where the CPU has it (about 40 ns for
//  a 300-byte event), else a table (a few hundred ns).

static uint32_t s_table [256];
static bool s_hw;

__attribute__ ((constructor)) static void
s_crc_init (void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
        s_table [i] = c;
    }
#if defined (__x86_64__)
    s_hw = __builtin_cpu_supports ("sse4.2");
#endif
}

#if defined (__x86_64__)
__attribute__ ((target ("sse4.2"))) static uint32_t
s_crc_hw (uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy (&v, p, 8);
        c = __builtin_ia32_crc32di (c, v);
    }
    crc = (uint32_t) c;
    while (len--)
        crc = __builtin_ia32_crc32qi (crc, *p++);
    return crc;
}
#endif

uint32_t
zo_jrec_crc (const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t crc = 0xffffffff;
#if defined (__x86_64__)
    if (s_hw)
        return ~s_crc_hw (crc, p, len);
#endif
    while (len--)
        crc = s_table [(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

//  ---------------------------------------------------------------------
//  Records

//  Ends the record that starts at byte start of buf with its checksum.
static void
s_seal (msgpack_sbuffer *buf, size_t start)
{
    uint32_t crc = zo_jrec_crc (buf->data + start, buf->size - start);
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_fix_uint32 (&pk, crc);
}

void
zo_jrec_add (msgpack_sbuffer *buf, zo_span_t event, uint32_t attempts, uint64_t deadline_ms)
{
    size_t start = buf->size;
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 5);
    msgpack_pack_uint8 (&pk, ZO_JREC_ADD);
    //  The event is a msgpack map already: written as it is.
    msgpack_sbuffer_write (buf, (const char *) event.ptr, event.len);
    msgpack_pack_uint32 (&pk, attempts);
    msgpack_pack_uint64 (&pk, deadline_ms);
    s_seal (buf, start);
}

void
zo_jrec_del (msgpack_sbuffer *buf, zo_span_t id)
{
    size_t start = buf->size;
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 3);
    msgpack_pack_uint8 (&pk, ZO_JREC_DEL);
    msgpack_pack_str_with_body (&pk, id.ptr, id.len);
    s_seal (buf, start);
}

int
zo_jrec_read (zo_mp_t *cur, zo_jrec_t *rec)
{
    memset (rec, 0, sizeof (*rec));
    const uint8_t *start = cur->pos;
    uint32_t n;
    uint64_t tag, value, crc;
    if (zo_mp_read_array (cur, &n) || zo_mp_read_u64 (cur, &tag))
        return -1;
    if (tag == ZO_JREC_ADD && n == 5) {
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
    if (tag == ZO_JREC_DEL && n == 3) {
        rec->kind = ZO_JREC_DEL;
        if (zo_mp_read_str (cur, &rec->id))
            return -1;
    }
    else
        return -1;
    size_t len = (size_t) (cur->pos - start);
    if (zo_mp_read_u64 (cur, &crc) || crc != zo_jrec_crc (start, len))
        return -1;
    return rec->id.len >= 1 && rec->id.len <= ZO_MAX_ID ? 0 : -1;
}
