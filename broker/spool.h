/*  spool: what a stopping broker could not finish, kept for the next start.

    On SIGTERM the broker drains for broker/grace; whatever is still queued,
    waiting for a retry or held by a worker then goes to
    <data_dir>/spool.msgpack, one msgpack map per event: {event: <raw event
    map>, attempts: uint (deliveries so far), deadline_ms: uint (time that
    was left, 0 = none)}. The file is written atomically and fsync'd. The
    next broker loads it into its queue and deletes it. A corrupt tail is
    logged and skipped.
*/
#ifndef ZO_SPOOL_H_INCLUDED
#define ZO_SPOOL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "zo_mp.h"

#define ZO_SPOOL_FILE "spool.msgpack"

typedef struct _zo_spool_t zo_spool_t;

/*  An empty spool being built in memory. NULL when out of memory.  */
zo_spool_t *zo_spool_new (void);
void zo_spool_destroy (zo_spool_t **self_p);

/*  Adds one event (raw event map, copied).  */
void zo_spool_add (zo_spool_t *self, zo_span_t event, uint32_t attempts,
                   uint64_t deadline_left_ms);
size_t zo_spool_count (const zo_spool_t *self);
/*  Writes dir/spool.msgpack atomically (fsync'd). With no events it
    removes any old file instead. 0 or -1 (logged).  */
int zo_spool_save (zo_spool_t *self, const char *dir);

/*  Called for each spooled event when loading.  */
typedef void (zo_spool_fn) (zo_span_t event, uint32_t attempts,
                            uint64_t deadline_left_ms, void *arg);
/*  Reads dir/spool.msgpack, if any, calling fn for each valid record, then
    deletes the file. Returns how many records were read (0 without a
    file), or -1 if the file exists but cannot be read (it is then left).  */
int zo_spool_load (const char *dir, zo_spool_fn *fn, void *arg);

#endif
