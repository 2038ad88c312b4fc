/*  zo_input: events as people write them, turned into encoded event maps
    ready for a SUBMIT (zo_event_t.raw).

    People write an event as a JSON object:
        {"type": "github.push", "source": "github", "payload": <any JSON>,
         "id": "optional", "priority": "high|normal|low",
         "deadline_ms": 30000, "max_attempts": 3, "ts_ns": 0}
    Only "type" is required. A missing id is generated (zo_input_id_new),
    a missing ts_ns is set to the wall clock. Other keys are passed through
    (PROTOCOL.md: unknown keys reach the worker). Every field is checked
    against the protocol's limits here, so that one bad event is reported
    with its line number instead of making the broker refuse a whole batch.

    A zo_input_t is a source of such events: a JSON array (from flags or a
    file) or an NDJSON stream read without blocking.
*/
#ifndef ZO_INPUT_H_INCLUDED
#define ZO_INPUT_H_INCLUDED

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "zo_proto.h"

#define ZO_INPUT_ID_LEN   16      /* generated ids */
#define ZO_INPUT_MAX_LINE (16 * 1024 * 1024)
/*  Deepest payload accepted: the protocol allows 32 levels in a whole
    message, and a payload sits 3 levels down (SUBMIT map, events array,
    event map); a result echoing it sits as deep.  */
#define ZO_INPUT_MAX_DEPTH (ZO_MP_MAX_DEPTH - 4)

/*  Writes a fresh 16-character id (lowercase Crockford base32) and a NUL
    into id: 40 bits of wall-clock milliseconds, then a per-process counter
    that starts at a random 40-bit value. Unique within a process; across
    processes a clash needs the same millisecond and overlapping random
    ranges. Thread-safe.  */
void zo_input_id_new (char id [ZO_INPUT_ID_LEN + 1]);

/*  Checks the event object json and appends its msgpack event map to out.
    id gets the event's id (given or generated) and type (may be NULL) its
    type, both NUL-terminated. When fresh_id is true a given id is
    replaced by a generated one (used for repeated copies). Returns 0, or
    -1 with a sentence in err and nothing appended.  */
int zo_input_encode (const json_t *json, bool fresh_id, msgpack_sbuffer *out,
                     char id [ZO_MAX_ID + 1], char type [ZO_MAX_TYPE + 1],
                     char *err, size_t errlen);

/*  Loads a JSON file holding one event object or an array of them ("-" is
    stdin). Returns a new array (caller owns it), or NULL with a sentence
    naming the line and column in err.  */
json_t *zo_input_load_file (const char *path, char *err, size_t errlen);

typedef struct _zo_input_t zo_input_t;

/*  A source over the events of a JSON array (takes the reference *array_p
    and nulls it). With count > 0 the array is repeated until count events
    were produced (copies after the first round get fresh ids); count 0 =
    each event once. Every element is checked when it is produced.  */
zo_input_t *zo_input_new_list (json_t **array_p, uint64_t count);
/*  A source reading NDJSON from fd (one event object per line; blank lines
    are skipped), never blocking. own_fd: close it on destroy. count > 0
    stops after that many events.  */
zo_input_t *zo_input_new_ndjson (int fd, bool own_fd, uint64_t count);
void zo_input_destroy (zo_input_t **self_p);

/*  Keys of the object defaults fill in what an event lacks (the flags
    --type, --source, ... given with --file or --ndjson). Takes a reference
    of its own.  */
void zo_input_set_defaults (zo_input_t *self, json_t *defaults);

/*  Produces the next event into out, id and type as zo_input_encode does.
    Returns 1 (an event was appended), 0 (none available now: wait for
    zo_input_fd to be readable), -1 (the input is finished), or -2 (a bad
    line or element: err names it; it is counted and skipped, call again).  */
int zo_input_next (zo_input_t *self, msgpack_sbuffer *out, char id [ZO_MAX_ID + 1],
                   char type [ZO_MAX_TYPE + 1], char *err, size_t errlen);

/*  The fd to wait on after zo_input_next returned 0; -1 for a list.  */
int zo_input_fd (const zo_input_t *self);
/*  How many events the source will produce, if known (0 = unknown).  */
uint64_t zo_input_total (const zo_input_t *self);
/*  Bad lines / elements skipped so far.  */
uint64_t zo_input_bad (const zo_input_t *self);

#endif
