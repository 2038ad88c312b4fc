/*  fuzz_journal: libFuzzer target for the broker journal's record reader,
    zo_jrec_read (broker/jrec.c), which recovery trusts with whatever a
    crash left in a segment file.

    The first byte picks how the rest is read: even, as a segment (records
    one after the other, as recovery reads them); odd, as the body of one
    record to which a matching CRC-32C is appended first, so that the
    fuzzer gets past the checksum to the structure behind it. Every record
    read must lie inside the input, with an id of 1..128 bytes; an add's
    event must be a map holding that id, and a record re-encoded from what
    was read must read back the same.
*/
#include <assert.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jrec.h"

static void
s_check_span (zo_span_t span, const uint8_t *data, size_t size)
{
    assert (span.len == 0 || (span.ptr >= data && span.ptr + span.len <= data + size));
}

static void
s_check (const zo_jrec_t *rec, const uint8_t *data, size_t size)
{
    s_check_span (rec->id, data, size);
    s_check_span (rec->event, data, size);
    assert (rec->id.len >= 1 && rec->id.len <= 128);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    if (rec->kind == ZO_JREC_ADD) {
        zo_mp_t event;
        zo_mp_init (&event, rec->event.ptr, rec->event.len);
        assert (zo_mp_peek (&event) == ZO_MP_MAP);
        assert (rec->id.ptr > rec->event.ptr);
        zo_jrec_add (&buf, rec->event, rec->attempts, rec->deadline_ms);
    }
    else {
        assert (rec->kind == ZO_JREC_DEL);
        zo_jrec_del (&buf, rec->id);
    }
    zo_mp_t cur;
    zo_mp_init (&cur, buf.data, buf.size);
    zo_jrec_t again;
    assert (zo_jrec_read (&cur, &again) == 0 && zo_mp_left (&cur) == 0);
    assert (again.kind == rec->kind && again.attempts == rec->attempts
            && again.deadline_ms == rec->deadline_ms && again.id.len == rec->id.len
            && memcmp (again.id.ptr, rec->id.ptr, rec->id.len) == 0);
    msgpack_sbuffer_destroy (&buf);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool seal = data [0] & 1;
    data++;
    size--;
    uint8_t *copy = malloc (size + 5);
    assert (copy);
    memcpy (copy, data, size);
    if (seal) {
        uint32_t crc = zo_jrec_crc (copy, size);
        copy [size] = 0xce;
        for (int i = 0; i < 4; i++)
            copy [size + 1 + i] = (uint8_t) (crc >> (24 - 8 * i));
        size += 5;
    }
    zo_mp_t cur;
    zo_mp_init (&cur, copy, size);
    zo_jrec_t rec;
    while (zo_mp_left (&cur) && zo_jrec_read (&cur, &rec) == 0)
        s_check (&rec, copy, size);
    free (copy);
    return 0;
}
