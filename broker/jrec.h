/*  jrec: the records of the broker journal (journal.h keeps them in
    files; this module only packs and reads them, so that the reader can be
    fuzzed on its own).

    A record is one msgpack array whose first element is a tag and whose
    last is a checksum:

      add   [1, event, attempts, deadline_ms, crc]
              event        map     the raw event map, byte for byte as the
                                   producer sent it (its "id" names it)
              attempts     uint32  deliveries made so far
              deadline_ms  uint64  absolute deadline, wall clock (ms since
                                   the epoch); 0 = none
      del   [2, id, crc]
              id           str     1..128 bytes: the event is done (completed,
                                   or its dead letter is durable)

    crc (uint32) is the CRC-32C of the record's bytes before it, from the
    array header on. Records follow one another with nothing in between.
    A reader takes a record only when it decodes completely, exactly as
    above, and its checksum matches: a write torn at the end of a file
    fails that, even when garbage or zeros follow and happen to complete
    the msgpack. A tag the reader does not know is refused as corrupt,
    since it cannot be told apart from garbage.
*/
#ifndef ZO_JREC_H_INCLUDED
#define ZO_JREC_H_INCLUDED

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "zo_mp.h"

typedef enum {
    ZO_JREC_ADD = 1,
    ZO_JREC_DEL = 2
} zo_jrec_kind_t;

/*  One decoded record; its spans point into the bytes it was read from.  */
typedef struct {
    zo_jrec_kind_t kind;
    zo_span_t event;         /* add: the raw event map */
    zo_span_t id;            /* add: the event's id; del: the id */
    uint32_t attempts;       /* add */
    uint64_t deadline_ms;    /* add */
} zo_jrec_t;

/*  Appends one record to buf.  */
void zo_jrec_add (msgpack_sbuffer *buf, zo_span_t event, uint32_t attempts,
                  uint64_t deadline_ms);
void zo_jrec_del (msgpack_sbuffer *buf, zo_span_t id);

/*  Reads the record at the cursor into rec and moves past it. -1 if what
    is there is not one whole valid record (truncated, garbage, an event
    map without a string id of 1..128 bytes); the cursor may then have
    moved, and rec holds nothing useful.  */
int zo_jrec_read (zo_mp_t *cur, zo_jrec_t *rec);

/*  CRC-32C (Castagnoli) of len bytes, as in iSCSI, ext4 and LevelDB.  */
uint32_t zo_jrec_crc (const void *data, size_t len);

#endif
