/*  zo_proto: the zorch wire protocol as data, and its codec. See zo_proto.h
    and PROTOCOL.md.

    s_commands and s_fields below are the protocol. Decoding walks a map and
    looks each key up in the fields of the command (or object) being read;
    encoding writes the fields of a command in table order; the field tables
    of PROTOCOL.md are printed from the same arrays. Adding a field is one
    line in s_fields plus a member in the struct it fills.
*/

#include "zo_proto.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Objects that are not commands; they share the field table.
typedef enum {
    OBJ_EVENT = ZO_CMD_COUNT,
    OBJ_RESULT,
    OBJ_ITEM,
    OBJ_DEAD,
    OBJ_COUNT
} s_obj_t;

typedef enum {
    T_U32, T_U64, T_I64, T_F64, T_BOOL,
    T_STR,          //  span, max bytes in `max`; `min` bytes at least
    T_ANY,          //  raw span of any value
    T_MAP,          //  raw span of a map
    T_PRIO,         //  "high" | "normal" | "low"
    T_EVENTS,       //  array of OBJ_EVENT into the flat events array
    T_RESULTS,      //  array of OBJ_RESULT
    T_ITEMS,        //  array of OBJ_ITEM
    T_DEADS,        //  array of OBJ_DEAD
    T_IDS,          //  array of str (ids)
    T_KEYS,         //  array of str (cache keys), into ids
    T_BYTES,        //  bin (or str) of at most `max` bytes (0: the frame)
    T_VALUES,       //  array of bin or nil
    T_EVENT,        //  one inline OBJ_EVENT
    T_EMIT          //  array of OBJ_EVENT inside a result
} s_type_t;

typedef struct {
    int obj;
    const char *key;
    s_type_t type;
    bool required;
    uint32_t min, max;
    size_t offset;
    const char *doc;
} s_field_t;

typedef struct {
    const char *name;
    const char *flow;
    const char *doc;
} s_command_t;

static const s_command_t s_commands [OBJ_COUNT] = {
    [ZO_CMD_SUBMIT]     = { "SUBMIT", "producer → broker", "Submit a batch of events, accepted whole or not at all. Reply: ACK, NACK or ERROR." },
    [ZO_CMD_ACK]        = { "ACK", "broker → producer", "Every event of the SUBMIT `seq` is queued (or was a duplicate); with the broker's journal on, also durable." },
    [ZO_CMD_NACK]       = { "NACK", "broker → producer, worker", "Nothing of SUBMIT `seq` was taken: `queue_full`, `shutting_down` or `journal_failed`. To a worker (`seq` 0): the follow-up events of a DONE did not fit the queue (`queue_full`)." },
    [ZO_CMD_RESULT]     = { "RESULT", "broker → producer", "Outcomes of events submitted with `results: true`." },
    [ZO_CMD_ERROR]      = { "ERROR", "any → peer", "The message `seq` (if known) was rejected; `code` says why." },
    [ZO_CMD_PING]       = { "PING", "any → peer", "Liveness probe. Reply: PONG with the same `seq`." },
    [ZO_CMD_PONG]       = { "PONG", "any → peer", "Reply to PING." },
    [ZO_CMD_READY]      = { "READY", "worker → broker", "Register (again) and grant `credit` events." },
    [ZO_CMD_CREDIT]     = { "CREDIT", "worker → broker", "Grant `credit` more events." },
    [ZO_CMD_DISPATCH]   = { "DISPATCH", "broker → worker", "Events to run; never more than the unused credit." },
    [ZO_CMD_DONE]       = { "DONE", "worker → broker", "Outcomes, plus `credit` more events granted." },
    [ZO_CMD_HEARTBEAT]  = { "HEARTBEAT", "broker ↔ worker", "Sent after 1 s of silence; 3 missed = dead." },
    [ZO_CMD_BYE]        = { "BYE", "worker → broker", "The worker leaves; the broker takes back what it holds." },
    [ZO_CMD_DLQ_LIST]   = { "DLQ_LIST", "client → broker", "List the oldest `limit` dead letters. Reply: DLQ_ITEMS." },
    [ZO_CMD_DLQ_ITEMS]  = { "DLQ_ITEMS", "broker → client", "Dead letters, `total` of them in the store." },
    [ZO_CMD_DLQ_REPLAY] = { "DLQ_REPLAY", "client → broker", "Queue the listed dead letters again (all if `ids` is absent). Reply: DLQ_DONE." },
    [ZO_CMD_DLQ_PURGE]  = { "DLQ_PURGE", "client → broker", "Delete the listed dead letters (all if `ids` is absent). Reply: DLQ_DONE." },
    [ZO_CMD_DLQ_DONE]   = { "DLQ_DONE", "broker → client", "`count` dead letters were replayed or purged." },
    [ZO_CMD_STATS]      = { "STATS", "actor → monitor, client", "An actor's counters, gauges and histograms, once a second; or the reply to GET_STATS (with its `seq`)." },
    [ZO_CMD_GET_STATS]  = { "GET_STATS", "client → actor", "Ask an actor that serves requests (the cache) for its STATS now. Reply: STATS with the same `seq`." },
    [ZO_CMD_GET]        = { "GET", "client → cache", "Look a key up, level by level; a hit below memory fills the levels above. Reply: VALUE." },
    [ZO_CMD_MGET]       = { "MGET", "client → cache", "Look several keys up. Reply: VALUES, in the order of `keys`." },
    [ZO_CMD_SET]        = { "SET", "client → cache", "Store a value at every level (replacing any), for `ttl_ms` or for ever. Reply: OK." },
    [ZO_CMD_DEL]        = { "DEL", "client → cache", "Remove a key from every level. Reply: OK, `count` 1 if it was there." },
    [ZO_CMD_INVALIDATE] = { "INVALIDATE", "client → cache", "Remove every key matching a glob (`*`, `?`, `[...]`, `\\` escapes) from every level, and from every other cache actor's memory. Reply: OK." },
    [ZO_CMD_TOUCH]      = { "TOUCH", "client → cache", "Give a key a new time to live at every level (0: none). Reply: OK, `count` 1 if it was there." },
    [ZO_CMD_VALUE]      = { "VALUE", "cache → client", "The answer to GET." },
    [ZO_CMD_VALUES]     = { "VALUES", "cache → client", "The answer to MGET." },
    [ZO_CMD_OK]         = { "OK", "cache → client", "A change was made at every level that is up." },
    [ZO_CMD_REQUEST]    = { "REQUEST", "client → pool", "An HTTP request to a configured service, sent on one of its pooled connections, retried and paced by its rules. Reply: RESPONSE, or ERROR `unavailable` (circuit open), `timeout`, `upstream` (no HTTP response)." },
    [ZO_CMD_RESPONSE]   = { "RESPONSE", "pool → client", "The service's answer (any HTTP status: a 4xx or a 5xx after the retries is a RESPONSE too)." },
    [ZO_CMD_QUERY]      = { "QUERY", "client → pool", "One statement on a configured database, with parameters as text. Reply: ROWS, or ERROR `unavailable` (database down), `timeout`, `upstream` (the server's error in `reason`)." },
    [ZO_CMD_ROWS]       = { "ROWS", "pool → client", "The statement's result: its columns and rows (values: nil, bool, integers, floats, text)." },
    [ZO_CMD_QUIET]      = { "QUIET", "client → broker, broker → worker", "Client: dispatch nothing more to the worker `name` (what it holds runs to its end), before it is stopped. Reply: WORKERS. The broker then sends QUIET (no `name`) to that worker, which may say so in its stats." },
    [ZO_CMD_WORKERS]    = { "WORKERS", "client → broker, broker → client", "Client (no `workers`): ask for the broker's view of its workers. Reply: WORKERS with `workers`, one map per worker: `name` str, `capacity` uint, `credit` uint (unused), `held` uint (events it runs now), `dispatched` uint (events sent to it in all), `quiet` bool." },
    [ZO_CMD_SCALE]      = { "SCALE", "client → autoscaler", "Run `size` workers and stop autoscaling, or (`auto: true`) size by the load again. Reply: STATS of the autoscaler." },
    [OBJ_EVENT]         = { "event", "", "An event." },
    [OBJ_RESULT]        = { "result", "", "The outcome of one event." },
    [OBJ_ITEM]          = { "item", "", "One event handed to a worker." },
    [OBJ_DEAD]          = { "dead letter", "", "One event in the dead-letter store." },
};

#define M(member) offsetof (zo_msg_t, member)
#define E(member) offsetof (zo_event_t, member)
#define R(member) offsetof (zo_result_t, member)
#define I(member) offsetof (zo_item_t, member)
#define D(member) offsetof (zo_dead_t, member)

static const s_field_t s_fields [] = {
    { ZO_CMD_SUBMIT, "seq", T_U64, true, 0, 0, M (seq), "request id, echoed in the reply" },
    { ZO_CMD_SUBMIT, "events", T_EVENTS, true, 1, ZO_MAX_BATCH, M (events), "the events" },
    { ZO_CMD_SUBMIT, "results", T_BOOL, false, 0, 0, M (results), "send a RESULT for each event when it ends" },
    { ZO_CMD_ACK, "seq", T_U64, true, 0, 0, M (seq), "the SUBMIT's seq" },
    { ZO_CMD_ACK, "accepted", T_U32, true, 0, 0, M (accepted), "new events queued" },
    { ZO_CMD_ACK, "duplicates", T_U32, false, 0, 0, M (duplicates), "events whose id was seen inside the dedupe window" },
    { ZO_CMD_NACK, "seq", T_U64, true, 0, 0, M (seq), "the SUBMIT's seq" },
    { ZO_CMD_NACK, "code", T_STR, true, 1, ZO_MAX_CODE, M (code), "`queue_full`, `shutting_down` or `journal_failed`" },
    { ZO_CMD_NACK, "reason", T_STR, false, 0, ZO_MAX_TEXT, M (reason), "human-readable" },
    { ZO_CMD_NACK, "retry_ms", T_U32, false, 0, 0, M (retry_ms), "wait at least this long before resending" },
    { ZO_CMD_RESULT, "results", T_RESULTS, true, 1, ZO_MAX_BATCH, M (results_), "outcomes" },
    { ZO_CMD_ERROR, "seq", T_U64, false, 0, 0, M (seq), "the rejected message's seq, when it could be read" },
    { ZO_CMD_ERROR, "code", T_STR, true, 1, ZO_MAX_CODE, M (code), "an error code" },
    { ZO_CMD_ERROR, "reason", T_STR, false, 0, ZO_MAX_TEXT, M (reason), "human-readable, names the field at fault" },
    { ZO_CMD_PING, "seq", T_U64, false, 0, 0, M (seq), "echoed in PONG" },
    { ZO_CMD_PONG, "seq", T_U64, false, 0, 0, M (seq), "the PING's seq" },
    { ZO_CMD_READY, "name", T_STR, true, 1, ZO_MAX_NAME, M (name), "the worker's name, for logs and stats" },
    { ZO_CMD_READY, "capacity", T_U32, true, 0, 0, M (capacity), "most events it can hold at once" },
    { ZO_CMD_READY, "credit", T_U32, true, 0, 0, M (credit), "events it may be sent now (replaces any earlier credit)" },
    { ZO_CMD_CREDIT, "credit", T_U32, true, 0, 0, M (credit), "more events it may be sent" },
    { ZO_CMD_DISPATCH, "items", T_ITEMS, true, 1, ZO_MAX_BATCH, M (items), "events to run" },
    { ZO_CMD_DONE, "results", T_RESULTS, true, 1, ZO_MAX_BATCH, M (results_), "outcomes" },
    { ZO_CMD_DONE, "credit", T_U32, false, 0, 0, M (credit), "more events it may be sent" },
    { ZO_CMD_DLQ_LIST, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_DLQ_LIST, "limit", T_U32, false, 0, 0, M (limit), "at most this many (0 = 1000)" },
    { ZO_CMD_DLQ_ITEMS, "seq", T_U64, true, 0, 0, M (seq), "the DLQ_LIST's seq" },
    { ZO_CMD_DLQ_ITEMS, "total", T_U32, true, 0, 0, M (total), "dead letters in the store" },
    { ZO_CMD_DLQ_ITEMS, "items", T_DEADS, false, 0, ZO_MAX_BATCH, M (dead), "the oldest ones" },
    { ZO_CMD_DLQ_REPLAY, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_DLQ_REPLAY, "ids", T_IDS, false, 0, ZO_MAX_BATCH, M (ids), "event ids; absent = all" },
    { ZO_CMD_DLQ_PURGE, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_DLQ_PURGE, "ids", T_IDS, false, 0, ZO_MAX_BATCH, M (ids), "event ids; absent = all" },
    { ZO_CMD_DLQ_DONE, "seq", T_U64, true, 0, 0, M (seq), "the request's seq" },
    { ZO_CMD_DLQ_DONE, "count", T_U32, true, 0, 0, M (count), "dead letters replayed or purged" },
    { ZO_CMD_STATS, "actor", T_STR, true, 1, ZO_MAX_NAME, M (actor), "kind: `broker`, `worker`, ..." },
    { ZO_CMD_STATS, "name", T_STR, true, 1, ZO_MAX_NAME, M (name), "instance name" },
    { ZO_CMD_STATS, "version", T_STR, false, 0, ZO_MAX_NAME, M (version), "the actor's build: version and git revision, `0.1.0 (a1b2c3d4e5)`" },
    { ZO_CMD_STATS, "pid", T_U64, false, 0, 0, M (pid), "process id" },
    { ZO_CMD_STATS, "ts_ms", T_U64, true, 0, 0, M (ts_ms), "wall clock, ms since the epoch" },
    { ZO_CMD_STATS, "rss_bytes", T_U64, false, 0, 0, M (rss_bytes), "resident memory" },
    { ZO_CMD_STATS, "cpu_seconds", T_F64, false, 0, 0, M (cpu_seconds), "CPU time used (user + system)" },
    { ZO_CMD_STATS, "counters", T_MAP, false, 0, 0, M (counters), "str → uint, cumulative" },
    { ZO_CMD_STATS, "gauges", T_MAP, false, 0, 0, M (gauges), "str → f64, current" },
    { ZO_CMD_STATS, "hists", T_MAP, false, 0, 0, M (hists), "str → histogram (see Stats)" },
    { ZO_CMD_STATS, "seq", T_U64, false, 0, 0, M (seq), "the GET_STATS's seq, in a reply" },
    { ZO_CMD_STATS, "notes", T_ANY, false, 0, 0, M (notes), "array of `{ts_ms, text}`, newest first: the actor's recent decisions (the autoscaler's), at most 32" },
    { ZO_CMD_STATS, "bye", T_BOOL, false, 0, 0, M (bye), "the actor is leaving on purpose: forget it now, no `actor_down`" },
    { ZO_CMD_GET_STATS, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_GET, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_GET, "key", T_STR, true, 1, ZO_MAX_KEY, M (key), "the key" },
    { ZO_CMD_MGET, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_MGET, "keys", T_KEYS, true, 1, ZO_MAX_BATCH, M (ids), "the keys, 1..1024 bytes each" },
    { ZO_CMD_SET, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_SET, "key", T_STR, true, 1, ZO_MAX_KEY, M (key), "the key" },
    { ZO_CMD_SET, "value", T_BYTES, true, 0, 0, M (value), "opaque bytes, at most `cache/max_value`" },
    { ZO_CMD_SET, "ttl_ms", T_U64, false, 0, 0, M (ttl_ms), "time to live; 0 or absent: `cache/ttl`" },
    { ZO_CMD_DEL, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_DEL, "key", T_STR, true, 1, ZO_MAX_KEY, M (key), "the key" },
    { ZO_CMD_INVALIDATE, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_INVALIDATE, "pattern", T_STR, true, 1, ZO_MAX_KEY, M (pattern), "a glob over keys" },
    { ZO_CMD_TOUCH, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_TOUCH, "key", T_STR, true, 1, ZO_MAX_KEY, M (key), "the key" },
    { ZO_CMD_TOUCH, "ttl_ms", T_U64, false, 0, 0, M (ttl_ms), "the new time to live; 0 or absent: none" },
    { ZO_CMD_VALUE, "seq", T_U64, true, 0, 0, M (seq), "the GET's seq" },
    { ZO_CMD_VALUE, "found", T_BOOL, true, 0, 0, M (found), "whether the key was there" },
    { ZO_CMD_VALUE, "value", T_BYTES, false, 0, 0, M (value), "the value, when found" },
    { ZO_CMD_VALUE, "ttl_ms", T_U64, false, 0, 0, M (ttl_ms), "time left; absent: none" },
    { ZO_CMD_VALUE, "level", T_STR, false, 0, ZO_MAX_NAME, M (level), "where it was found: `memory`, `redis` or `postgres`" },
    { ZO_CMD_VALUES, "seq", T_U64, true, 0, 0, M (seq), "the MGET's seq" },
    { ZO_CMD_VALUES, "values", T_VALUES, true, 0, ZO_MAX_BATCH, M (values), "one per key: bin, or nil for a miss" },
    { ZO_CMD_OK, "seq", T_U64, true, 0, 0, M (seq), "the request's seq" },
    { ZO_CMD_OK, "count", T_U32, false, 0, 0, M (count), "keys changed (INVALIDATE: the most one level removed)" },
    { ZO_CMD_REQUEST, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_REQUEST, "service", T_STR, true, 1, ZO_MAX_NAME, M (service), "a service of `pool/services`" },
    { ZO_CMD_REQUEST, "method", T_STR, true, 1, ZO_MAX_METHOD, M (method), "`GET`, `POST`, ..." },
    { ZO_CMD_REQUEST, "path", T_STR, true, 1, ZO_MAX_TEXT, M (path), "after the service's url: `/repos/octo/hello`" },
    { ZO_CMD_REQUEST, "headers", T_MAP, false, 0, 0, M (headers), "str → str, beside the service's own" },
    { ZO_CMD_REQUEST, "body", T_BYTES, false, 0, 0, M (body), "the request's body" },
    { ZO_CMD_REQUEST, "timeout_ms", T_U32, false, 0, 0, M (timeout_ms), "the deadline, retries included; 0: the service's timeout" },
    { ZO_CMD_RESPONSE, "seq", T_U64, true, 0, 0, M (seq), "the REQUEST's seq" },
    { ZO_CMD_RESPONSE, "status", T_U32, true, 0, 0, M (status), "the HTTP status" },
    { ZO_CMD_RESPONSE, "headers", T_MAP, false, 0, 0, M (headers), "str → str (lower-case names)" },
    { ZO_CMD_RESPONSE, "body", T_BYTES, false, 0, 0, M (body), "the response's body" },
    { ZO_CMD_RESPONSE, "attempts", T_U32, false, 0, 0, M (attempts), "tries it took (1: no retry)" },
    { ZO_CMD_RESPONSE, "took_ns", T_U64, false, 0, 0, M (took_ns), "from the REQUEST to the RESPONSE, waits included" },
    { ZO_CMD_QUERY, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_QUERY, "database", T_STR, true, 1, ZO_MAX_NAME, M (database), "a database of `pool/databases`" },
    { ZO_CMD_QUERY, "sql", T_STR, true, 1, ZO_MAX_SQL, M (sql), "one statement; `$1`, `$2`... for params" },
    { ZO_CMD_QUERY, "params", T_VALUES, false, 0, ZO_MAX_BATCH, M (values), "text (bin or str) or nil (SQL NULL), one per `$n`" },
    { ZO_CMD_QUERY, "timeout_ms", T_U32, false, 0, 0, M (timeout_ms), "0: the database's statement timeout" },
    { ZO_CMD_ROWS, "seq", T_U64, true, 0, 0, M (seq), "the QUERY's seq" },
    { ZO_CMD_ROWS, "columns", T_ANY, true, 0, 0, M (columns), "array of column names" },
    { ZO_CMD_ROWS, "rows", T_ANY, true, 0, 0, M (rows), "array of rows, each an array of values in column order" },
    { ZO_CMD_ROWS, "count", T_U32, false, 0, 0, M (count), "rows returned, or changed by an INSERT/UPDATE/DELETE" },
    { ZO_CMD_ROWS, "took_ns", T_U64, false, 0, 0, M (took_ns), "from the QUERY to the ROWS" },
    { ZO_CMD_QUIET, "seq", T_U64, false, 0, 0, M (seq), "request id (client → broker)" },
    { ZO_CMD_QUIET, "name", T_STR, false, 1, ZO_MAX_NAME, M (name), "the worker, as it named itself in READY (client → broker)" },
    { ZO_CMD_WORKERS, "seq", T_U64, false, 0, 0, M (seq), "request id; the reply echoes it" },
    { ZO_CMD_WORKERS, "workers", T_ANY, false, 0, 0, M (workers), "reply: array of `{name, capacity, credit, held, dispatched, quiet}`" },
    { ZO_CMD_SCALE, "seq", T_U64, true, 0, 0, M (seq), "request id" },
    { ZO_CMD_SCALE, "size", T_U32, false, 0, 0, M (size), "workers to run (within 0..`autoscaler/max`)" },
    { ZO_CMD_SCALE, "auto", T_BOOL, false, 0, 0, M (autoscale), "true: autoscale again (`size` ignored)" },

    { OBJ_EVENT, "id", T_STR, true, 1, ZO_MAX_ID, E (id), "unique id" },
    { OBJ_EVENT, "type", T_STR, true, 1, ZO_MAX_TYPE, E (type), "dotted type, routed on by glob" },
    { OBJ_EVENT, "source", T_STR, false, 0, ZO_MAX_SOURCE, E (source), "origin" },
    { OBJ_EVENT, "payload", T_ANY, false, 0, 0, E (payload), "body, carried verbatim" },
    { OBJ_EVENT, "priority", T_PRIO, false, 0, 0, E (priority), "`high`, `normal` or `low`" },
    { OBJ_EVENT, "deadline_ms", T_U32, false, 0, 0, E (deadline_ms), "ms after acceptance; 0 = default" },
    { OBJ_EVENT, "max_attempts", T_U32, false, 0, 0, E (max_attempts), "deliveries before dead; 0 = default" },
    { OBJ_EVENT, "ts_ns", T_I64, false, 0, 0, E (ts_ns), "producer's timestamp" },

    { OBJ_RESULT, "id", T_STR, true, 1, ZO_MAX_ID, R (id), "the event's id" },
    { OBJ_RESULT, "ok", T_BOOL, true, 0, 0, R (ok), "success" },
    { OBJ_RESULT, "result", T_ANY, false, 0, 0, R (result), "what the handler returned" },
    { OBJ_RESULT, "error", T_STR, false, 0, ZO_MAX_TEXT, R (error), "why it failed" },
    { OBJ_RESULT, "took_ns", T_U64, false, 0, 0, R (took_ns), "handler time" },
    { OBJ_RESULT, "attempts", T_U32, false, 0, 0, R (attempts), "RESULT: deliveries it took" },
    { OBJ_RESULT, "final", T_BOOL, false, 0, 0, R (final), "DONE: do not retry this failure" },
    { OBJ_RESULT, "emit", T_EMIT, false, 0, ZO_MAX_BATCH, R (emit_first), "DONE: follow-up events" },

    { OBJ_ITEM, "event", T_EVENT, true, 0, 0, I (event), "the event, byte for byte as submitted" },
    { OBJ_ITEM, "attempt", T_U32, true, 0, 0, I (attempt), "1 on first delivery" },
    { OBJ_ITEM, "deadline_ms", T_U32, false, 0, 0, I (deadline_ms), "ms left until its deadline; 0 = none" },

    { OBJ_DEAD, "event", T_EVENT, true, 0, 0, D (event), "the event" },
    { OBJ_DEAD, "error", T_STR, false, 0, ZO_MAX_TEXT, D (error), "its last error" },
    { OBJ_DEAD, "attempts", T_U32, false, 0, 0, D (attempts), "deliveries made" },
    { OBJ_DEAD, "failed_ms", T_U64, false, 0, 0, D (failed_ms), "when it died, ms since the epoch" },
};

#define S_NFIELDS (sizeof s_fields / sizeof s_fields [0])

static const char *s_err_names [ZO_ERR_COUNT] = {
    [ZO_ERR_NONE] = "none",
    [ZO_ERR_BAD_MSGPACK] = "bad_msgpack",
    [ZO_ERR_BAD_VERSION] = "bad_version",
    [ZO_ERR_UNKNOWN_COMMAND] = "unknown_command",
    [ZO_ERR_MISSING_FIELD] = "missing_field",
    [ZO_ERR_BAD_TYPE] = "bad_type",
    [ZO_ERR_BAD_VALUE] = "bad_value",
    [ZO_ERR_TOO_LARGE] = "too_large",
    [ZO_ERR_QUEUE_FULL] = "queue_full",
    [ZO_ERR_SHUTTING_DOWN] = "shutting_down",
    [ZO_ERR_NOT_READY] = "not_ready",
    [ZO_ERR_UNEXPECTED] = "unexpected",
    [ZO_ERR_JOURNAL_FAILED] = "journal_failed",
    [ZO_ERR_UNAVAILABLE] = "unavailable",
    [ZO_ERR_TIMEOUT] = "timeout",
    [ZO_ERR_UPSTREAM] = "upstream",
};

static const char *s_prio_names [] = { "normal", "high", "low" };

//  Each object's fields as a contiguous index range in s_fields, and the
//  length of every key and command name, so the hot paths never strlen.
static struct { uint16_t first, count; } s_index [OBJ_COUNT];
static uint8_t s_key_len [S_NFIELDS];
static uint8_t s_name_len [OBJ_COUNT];
static bool s_indexed;

static void
s_build_index (void)
{
    if (s_indexed)
        return;
    for (int obj = 0; obj < OBJ_COUNT; obj++)
        s_name_len [obj] = s_commands [obj].name ? (uint8_t) strlen (s_commands [obj].name) : 0;
    for (size_t i = 0; i < S_NFIELDS; i++) {
        s_key_len [i] = (uint8_t) strlen (s_fields [i].key);
        int obj = s_fields [i].obj;
        if (s_index [obj].count == 0)
            s_index [obj].first = (uint16_t) i;
        //  The table keeps an object's fields together.
        assert (s_index [obj].first + s_index [obj].count == i);
        s_index [obj].count++;
        //  Required-field bookkeeping uses a 32-bit mask per object.
        assert (s_index [obj].count <= 32);
    }
    s_indexed = true;
}

//  Built before main, so that decoders in several threads never race to
//  build it.
static void s_build_index_early (void) __attribute__ ((constructor));
static void
s_build_index_early (void)
{
    s_build_index ();
}

struct _zo_proto_t {
    size_t max_frame;
    zo_err_t err;
    char errstr [192];
    zo_event_t *events;
    uint32_t n_events, cap_events;
    zo_result_t *results;
    uint32_t n_results, cap_results;
    zo_item_t *items;
    uint32_t n_items, cap_items;
    zo_dead_t *dead;
    uint32_t n_dead, cap_dead;
    zo_span_t *ids;
    uint32_t n_ids, cap_ids;
    zo_span_t *values;
    uint32_t n_values, cap_values;
};

zo_proto_t *
zo_proto_new (void)
{
    s_build_index ();
    zo_proto_t *self = (zo_proto_t *) calloc (1, sizeof (zo_proto_t));
    if (self)
        self->max_frame = ZO_MAX_FRAME;
    return self;
}

void
zo_proto_destroy (zo_proto_t **self_p)
{
    assert (self_p);
    zo_proto_t *self = *self_p;
    if (self) {
        free (self->events);
        free (self->results);
        free (self->items);
        free (self->dead);
        free (self->ids);
        free (self->values);
        free (self);
        *self_p = NULL;
    }
}

void
zo_proto_set_max_frame (zo_proto_t *self, size_t max_frame)
{
    self->max_frame = max_frame;
}

zo_err_t
zo_proto_err (const zo_proto_t *self)
{
    return self->err;
}

const char *
zo_proto_errstr (const zo_proto_t *self)
{
    return self->errstr;
}

static int
s_fail (zo_proto_t *self, zo_err_t err, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (zo_proto_t *self, zo_err_t err, const char *fmt, ...)
{
    //  Keep the first, innermost error.
    if (self->err == ZO_ERR_NONE) {
        self->err = err;
        va_list args;
        va_start (args, fmt);
        vsnprintf (self->errstr, sizeof self->errstr, fmt, args);
        va_end (args);
    }
    return -1;
}

//  Grows one of the decoder's arrays to hold one more element.
static void *
s_slot (void **array, uint32_t *n, uint32_t *cap, size_t size)
{
    if (*n == *cap) {
        uint32_t new_cap = *cap ? *cap * 2 : 64;
        void *grown = realloc (*array, (size_t) new_cap * size);
        if (!grown)
            return NULL;
        *array = grown;
        *cap = new_cap;
    }
    char *slot = (char *) *array + (size_t) (*n)++ * size;
    memset (slot, 0, size);
    return slot;
}

#define SLOT(self, name) \
    s_slot ((void **) &self->name, &self->n_##name, &self->cap_##name, sizeof *self->name)

static int s_decode_object (zo_proto_t *self, zo_mp_t *cur, int obj, void *base);

//  Reads an array header of at most max elements (and at least min).
static int
s_array (zo_proto_t *self, zo_mp_t *cur, const s_field_t *f, uint32_t *count)
{
    if (zo_mp_peek (cur) != ZO_MP_ARRAY)
        return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s: not an array", s_commands [f->obj].name, f->key);
    if (zo_mp_read_array (cur, count))
        return s_fail (self, ZO_ERR_BAD_MSGPACK, "%s.%s: truncated array", s_commands [f->obj].name, f->key);
    if (*count > f->max)
        return s_fail (self, ZO_ERR_TOO_LARGE, "%s.%s: %u elements, limit %u",
                       s_commands [f->obj].name, f->key, *count, f->max);
    if (*count < f->min)
        return s_fail (self, ZO_ERR_BAD_VALUE, "%s.%s: empty", s_commands [f->obj].name, f->key);
    return 0;
}

static int
s_decode_field (zo_proto_t *self, zo_mp_t *cur, const s_field_t *f, void *base)
{
    char *at = (char *) base + f->offset;
    const char *on = s_commands [f->obj].name;
    zo_mp_type_t type = zo_mp_peek (cur);
    uint64_t u;
    uint32_t count;
    switch (f->type) {
        case T_U32:
        case T_U64:
            if (type != ZO_MP_UINT && type != ZO_MP_INT)
                return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s: not an integer", on, f->key);
            if (zo_mp_read_u64 (cur, &u))
                return s_fail (self, type == ZO_MP_INT ? ZO_ERR_BAD_VALUE : ZO_ERR_BAD_MSGPACK,
                               "%s.%s: negative or truncated", on, f->key);
            if (f->type == T_U32) {
                if (u > UINT32_MAX)
                    return s_fail (self, ZO_ERR_BAD_VALUE, "%s.%s: above 2^32-1", on, f->key);
                *(uint32_t *) at = (uint32_t) u;
            }
            else
                *(uint64_t *) at = u;
            return 0;
        case T_I64:
            if (type != ZO_MP_UINT && type != ZO_MP_INT)
                return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s: not an integer", on, f->key);
            if (zo_mp_read_i64 (cur, (int64_t *) at))
                return s_fail (self, ZO_ERR_BAD_VALUE, "%s.%s: out of int64 range", on, f->key);
            return 0;
        case T_F64:
            if (type != ZO_MP_UINT && type != ZO_MP_INT && type != ZO_MP_FLOAT)
                return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s: not a number", on, f->key);
            if (zo_mp_read_f64 (cur, (double *) at))
                return s_fail (self, ZO_ERR_BAD_MSGPACK, "%s.%s: truncated", on, f->key);
            return 0;
        case T_BOOL:
            if (type != ZO_MP_BOOL)
                return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s: not a bool", on, f->key);
            return zo_mp_read_bool (cur, (bool *) at);
        case T_STR:
        case T_PRIO: {
            zo_span_t s;
            if (type != ZO_MP_STR)
                return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s: not a string", on, f->key);
            if (zo_mp_read_str (cur, &s))
                return s_fail (self, ZO_ERR_BAD_MSGPACK, "%s.%s: truncated string", on, f->key);
            if (f->type == T_PRIO) {
                for (int p = 0; p < 3; p++)
                    if (zo_span_eq (s, s_prio_names [p])) {
                        *(zo_prio_t *) at = (zo_prio_t) p;
                        return 0;
                    }
                return s_fail (self, ZO_ERR_BAD_VALUE, "%s.%s: not high, normal or low", on, f->key);
            }
            if (s.len > f->max)
                return s_fail (self, ZO_ERR_TOO_LARGE, "%s.%s: %u bytes, limit %u", on, f->key, s.len, f->max);
            if (s.len < f->min)
                return s_fail (self, ZO_ERR_BAD_VALUE, "%s.%s: empty", on, f->key);
            *(zo_span_t *) at = s;
            return 0;
        }
        case T_ANY:
        case T_MAP:
            if (f->type == T_MAP && type != ZO_MP_MAP)
                return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s: not a map", on, f->key);
            if (zo_mp_skip (cur, (zo_span_t *) at))
                return s_fail (self, ZO_ERR_BAD_MSGPACK, "%s.%s: malformed or too deep", on, f->key);
            return 0;
        case T_EVENT:
            if (type != ZO_MP_MAP)
                return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s: not a map", on, f->key);
            return s_decode_object (self, cur, OBJ_EVENT, at);
        case T_EVENTS:
        case T_EMIT: {
            if (s_array (self, cur, f, &count))
                return -1;
            uint32_t first = self->n_events;
            uint32_t invalid = 0;
            for (uint32_t i = 0; i < count; i++) {
                const uint8_t *start = cur->pos;
                zo_event_t *event = (zo_event_t *) SLOT (self, events);
                if (!event)
                    return s_fail (self, ZO_ERR_TOO_LARGE, "out of memory");
                int rc = zo_mp_peek (cur) == ZO_MP_MAP
                       ? s_decode_object (self, cur, OBJ_EVENT, event)
                       : s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s[%u]: not a map", on, f->key, i);
                if (rc && f->type == T_EMIT) {
                    //  A bad follow-up event must not sink the outcomes
                    //  it travels with: it is dropped and counted, as long
                    //  as it is well-formed msgpack that can be skipped.
                    cur->pos = start;
                    if (zo_mp_skip (cur, NULL))
                        return -1;
                    self->err = ZO_ERR_NONE;
                    self->errstr [0] = 0;
                    self->n_events--;
                    invalid++;
                }
                else
                if (rc)
                    return -1;
            }
            if (f->type == T_EMIT) {
                zo_result_t *result = (zo_result_t *) base;
                result->emit_first = first;
                result->emit_count = count - invalid;
                result->emit_invalid = invalid;
            }
            else
                ((zo_msg_t *) base)->n_events = count;
            return 0;
        }
        case T_BYTES: {
            zo_span_t b;
            if (type != ZO_MP_BIN && type != ZO_MP_STR)
                return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s: not bin or str", on, f->key);
            if ((type == ZO_MP_BIN ? zo_mp_read_bin (cur, &b) : zo_mp_read_str (cur, &b)))
                return s_fail (self, ZO_ERR_BAD_MSGPACK, "%s.%s: truncated", on, f->key);
            if (f->max && b.len > f->max)
                return s_fail (self, ZO_ERR_TOO_LARGE, "%s.%s: %u bytes, limit %u", on, f->key, b.len, f->max);
            //  An empty value still points into the frame: ptr NULL means
            //  absent (VALUE, VALUES).
            if (!b.ptr)
                b.ptr = cur->pos;
            *(zo_span_t *) at = b;
            return 0;
        }
        case T_VALUES: {
            if (s_array (self, cur, f, &count))
                return -1;
            for (uint32_t i = 0; i < count; i++) {
                zo_span_t *v = (zo_span_t *) SLOT (self, values);
                if (!v)
                    return s_fail (self, ZO_ERR_TOO_LARGE, "out of memory");
                zo_mp_type_t t = zo_mp_peek (cur);
                int rc = t == ZO_MP_NIL ? zo_mp_read_nil (cur)
                       : t == ZO_MP_BIN ? zo_mp_read_bin (cur, v)
                       : t == ZO_MP_STR ? zo_mp_read_str (cur, v)
                       : s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s[%u]: not bin or nil", on, f->key, i);
                if (rc)
                    return s_fail (self, ZO_ERR_BAD_MSGPACK, "%s.%s[%u]: truncated", on, f->key, i);
                if (t != ZO_MP_NIL && !v->ptr)
                    v->ptr = cur->pos;
            }
            return 0;
        }
        case T_RESULTS:
        case T_ITEMS:
        case T_DEADS:
        case T_KEYS:
        case T_IDS: {
            if (s_array (self, cur, f, &count))
                return -1;
            for (uint32_t i = 0; i < count; i++) {
                void *slot;
                int obj;
                if (f->type == T_RESULTS) { slot = SLOT (self, results); obj = OBJ_RESULT; }
                else if (f->type == T_ITEMS) { slot = SLOT (self, items); obj = OBJ_ITEM; }
                else if (f->type == T_DEADS) { slot = SLOT (self, dead); obj = OBJ_DEAD; }
                else { slot = SLOT (self, ids); obj = -1; }
                if (!slot)
                    return s_fail (self, ZO_ERR_TOO_LARGE, "out of memory");
                if (obj < 0) {
                    zo_span_t *id = (zo_span_t *) slot;
                    if (zo_mp_peek (cur) != ZO_MP_STR)
                        return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s[%u]: not a string", on, f->key, i);
                    if (zo_mp_read_str (cur, id))
                        return s_fail (self, ZO_ERR_BAD_MSGPACK, "%s.%s[%u]: truncated", on, f->key, i);
                    uint32_t max = f->type == T_KEYS ? ZO_MAX_KEY : ZO_MAX_ID;
                    if (id->len > max)
                        return s_fail (self, ZO_ERR_TOO_LARGE, "%s.%s[%u]: %u bytes, limit %u",
                                       on, f->key, i, id->len, max);
                    if (id->len == 0)
                        return s_fail (self, ZO_ERR_BAD_VALUE, "%s.%s[%u]: empty", on, f->key, i);
                    continue;
                }
                if (zo_mp_peek (cur) != ZO_MP_MAP)
                    return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s[%u]: not a map", on, f->key, i);
                if (s_decode_object (self, cur, obj, slot))
                    return -1;
            }
            return 0;
        }
    }
    return s_fail (self, ZO_ERR_BAD_TYPE, "%s.%s: unhandled type", on, f->key);
}

//  Reads one key and returns its field in obj's table, or NULL for an
//  unknown key (the caller skips its value). -1 on malformed input.
static int
s_lookup_key (zo_proto_t *self, zo_mp_t *cur, int obj, const s_field_t **field, int *index)
{
    zo_span_t key;
    if (zo_mp_peek (cur) != ZO_MP_STR || zo_mp_read_str (cur, &key))
        return s_fail (self, ZO_ERR_BAD_MSGPACK, "%s: a key is not a string", s_commands [obj].name);
    *field = NULL;
    int first = s_index [obj].first;
    for (int i = 0; i < s_index [obj].count; i++) {
        if (key.len == s_key_len [first + i]
        &&  memcmp (key.ptr, s_fields [first + i].key, key.len) == 0) {
            *field = &s_fields [first + i];
            *index = i;
            break;
        }
    }
    return 0;
}

static int
s_check_required (zo_proto_t *self, int obj, uint32_t seen)
{
    for (int i = 0; i < s_index [obj].count; i++) {
        const s_field_t *f = &s_fields [s_index [obj].first + i];
        if (f->required && !(seen & (1u << i)))
            return s_fail (self, ZO_ERR_MISSING_FIELD, "%s: missing field '%s'", s_commands [obj].name, f->key);
    }
    return 0;
}

static int
s_decode_object (zo_proto_t *self, zo_mp_t *cur, int obj, void *base)
{
    const uint8_t *start = cur->pos;
    uint32_t count, seen = 0;
    if (zo_mp_read_map (cur, &count))
        return s_fail (self, ZO_ERR_BAD_MSGPACK, "%s: truncated map", s_commands [obj].name);
    for (uint32_t i = 0; i < count; i++) {
        const s_field_t *f;
        int index;
        if (s_lookup_key (self, cur, obj, &f, &index))
            return -1;
        if (!f) {
            if (zo_mp_skip (cur, NULL))
                return s_fail (self, ZO_ERR_BAD_MSGPACK, "%s: malformed value", s_commands [obj].name);
            continue;
        }
        if (s_decode_field (self, cur, f, base))
            return -1;
        seen |= 1u << index;
    }
    if (s_check_required (self, obj, seen))
        return -1;
    if (obj == OBJ_EVENT) {
        zo_event_t *event = (zo_event_t *) base;
        event->raw.ptr = start;
        event->raw.len = (uint32_t) (cur->pos - start);
    }
    return 0;
}

//  First pass: finds "v", "cmd" and, if it comes early, "seq" among the
//  top-level keys, skipping other values. Encoders put v and cmd first, so
//  this normally reads two keys.
static int
s_read_header (zo_proto_t *self, zo_mp_t cur, zo_msg_t *msg)
{
    uint32_t count;
    uint64_t version = 0;
    bool have_v = false;
    zo_span_t unknown = { NULL, 0 };
    if (zo_mp_read_map (&cur, &count))
        return s_fail (self, ZO_ERR_BAD_MSGPACK, "the message is not a msgpack map");
    for (uint32_t i = 0; i < count && !(have_v && msg->cmd != ZO_CMD_INVALID); i++) {
        zo_span_t key;
        if (zo_mp_peek (&cur) != ZO_MP_STR || zo_mp_read_str (&cur, &key))
            return s_fail (self, ZO_ERR_BAD_MSGPACK, "a key is not a string");
        if (zo_span_eq (key, "v")) {
            if (zo_mp_read_u64 (&cur, &version))
                return s_fail (self, ZO_ERR_BAD_VERSION, "'v' is not an unsigned integer");
            have_v = true;
        }
        else
        if (zo_span_eq (key, "cmd")) {
            zo_span_t name;
            if (zo_mp_peek (&cur) != ZO_MP_STR || zo_mp_read_str (&cur, &name))
                return s_fail (self, ZO_ERR_UNKNOWN_COMMAND, "'cmd' is not a string");
            msg->cmd = zo_cmd_lookup (name);
            if (msg->cmd == ZO_CMD_INVALID && !unknown.ptr)
                unknown = name;     //  reported after "seq" was looked for
        }
        else
        if (zo_span_eq (key, "seq") && zo_mp_peek (&cur) == ZO_MP_UINT)
            zo_mp_read_u64 (&cur, &msg->seq);
        else
        if (zo_mp_skip (&cur, NULL))
            return s_fail (self, ZO_ERR_BAD_MSGPACK, "malformed value");
    }
    if (unknown.ptr)
        return s_fail (self, ZO_ERR_UNKNOWN_COMMAND, "unknown command '%.*s'",
                       (int) (unknown.len > 32 ? 32 : unknown.len), (const char *) unknown.ptr);
    if (!have_v)
        return s_fail (self, ZO_ERR_BAD_VERSION, "missing 'v'");
    if (version != ZO_PROTO_VERSION)
        return s_fail (self, ZO_ERR_BAD_VERSION, "version %" PRIu64 ", this peer speaks %d",
                       version, ZO_PROTO_VERSION);
    if (msg->cmd == ZO_CMD_INVALID)
        return s_fail (self, ZO_ERR_UNKNOWN_COMMAND, "missing 'cmd'");
    return 0;
}

int
zo_proto_decode (zo_proto_t *self, const void *data, size_t size, zo_msg_t *msg)
{
    assert (self && msg);
    memset (msg, 0, sizeof *msg);
    self->err = ZO_ERR_NONE;
    self->errstr [0] = 0;
    self->n_events = self->n_results = self->n_items = self->n_dead = self->n_ids = 0;
    self->n_values = 0;

    if (size > self->max_frame)
        return s_fail (self, ZO_ERR_TOO_LARGE, "message of %zu bytes, limit %zu", size, self->max_frame);
    zo_mp_t cur;
    zo_mp_init (&cur, data, size);
    if (s_read_header (self, cur, msg))
        return -1;

    uint32_t count, seen = 0;
    int obj = msg->cmd;
    zo_mp_read_map (&cur, &count);
    for (uint32_t i = 0; i < count; i++) {
        const s_field_t *f;
        int index;
        if (s_lookup_key (self, &cur, obj, &f, &index))
            return -1;
        if (!f) {
            //  "v" and "cmd" were read by s_read_header; other unknown keys
            //  are ignored.
            if (zo_mp_skip (&cur, NULL))
                return s_fail (self, ZO_ERR_BAD_MSGPACK, "malformed value");
            continue;
        }
        if (s_decode_field (self, &cur, f, msg))
            return -1;
        seen |= 1u << index;
    }
    if (zo_mp_left (&cur) != 0)
        return s_fail (self, ZO_ERR_BAD_MSGPACK, "%zu bytes after the message", zo_mp_left (&cur));
    if (s_check_required (self, obj, seen))
        return -1;

    //  Arrays may have moved while growing; hand out their final addresses.
    msg->events = self->events;
    msg->n_events = self->n_events;
    msg->results_ = self->results;
    msg->n_results = self->n_results;
    msg->items = self->items;
    msg->n_items = self->n_items;
    msg->dead = self->dead;
    msg->n_dead = self->n_dead;
    msg->ids = self->ids;
    msg->n_ids = self->n_ids;
    msg->values = self->values;
    msg->n_values = self->n_values;
    return 0;
}

//  --------------------------------------------------------------------------
//  Encoding

static void s_encode_object (msgpack_packer *pk, int obj, const void *base);

void
zo_proto_pack_str (msgpack_packer *pk, const char *str)
{
    size_t len = strlen (str);
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, str, len);
}

static void
s_pack_span (msgpack_packer *pk, zo_span_t span)
{
    msgpack_pack_str (pk, span.len);
    if (span.len)
        msgpack_pack_str_body (pk, span.ptr, span.len);
}

static void
s_pack_raw (msgpack_packer *pk, zo_span_t raw)
{
    //  Raw msgpack goes through the packer's writer, after what it wrote.
    pk->callback (pk->data, (const char *) raw.ptr, raw.len);
}

//  Whether an optional field has a value worth writing.
static bool
s_present (const s_field_t *f, const void *base)
{
    const char *at = (const char *) base + f->offset;
    const zo_msg_t *msg = (const zo_msg_t *) base;
    switch (f->type) {
        case T_U32: return *(const uint32_t *) at != 0;
        case T_U64: return *(const uint64_t *) at != 0;
        case T_I64: return *(const int64_t *) at != 0;
        case T_F64: return *(const double *) at != 0;
        case T_BOOL: return *(const bool *) at;
        case T_STR:
        case T_ANY:
        case T_MAP: return ((const zo_span_t *) at)->len > 0;
        case T_PRIO: return *(const zo_prio_t *) at != ZO_PRIO_NORMAL;
        case T_EVENTS: return msg->n_events > 0;
        case T_RESULTS: return msg->n_results > 0;
        case T_ITEMS: return msg->n_items > 0;
        case T_DEADS: return msg->n_dead > 0;
        case T_IDS:
        case T_KEYS: return msg->n_ids > 0;
        case T_BYTES: return ((const zo_span_t *) at)->ptr != NULL;
        case T_VALUES: return true;
        case T_EVENT: return true;
        case T_EMIT: return ((const zo_result_t *) base)->emit_count > 0;
    }
    return false;
}

static void
s_encode_value (msgpack_packer *pk, const s_field_t *f, const void *base)
{
    const char *at = (const char *) base + f->offset;
    const zo_msg_t *msg = (const zo_msg_t *) base;
    uint32_t i;
    switch (f->type) {
        case T_U32: msgpack_pack_uint32 (pk, *(const uint32_t *) at); break;
        case T_U64: msgpack_pack_uint64 (pk, *(const uint64_t *) at); break;
        case T_I64: msgpack_pack_int64 (pk, *(const int64_t *) at); break;
        case T_F64: msgpack_pack_double (pk, *(const double *) at); break;
        case T_BOOL:
            if (*(const bool *) at) msgpack_pack_true (pk);
            else msgpack_pack_false (pk);
            break;
        case T_STR: {
            zo_span_t span = *(const zo_span_t *) at;
            assert (span.len <= f->max);
            s_pack_span (pk, span);
            break;
        }
        case T_PRIO: zo_proto_pack_str (pk, zo_prio_name (*(const zo_prio_t *) at)); break;
        case T_ANY:
        case T_MAP: {
            zo_span_t raw = *(const zo_span_t *) at;
            if (raw.len) s_pack_raw (pk, raw);
            else msgpack_pack_nil (pk);
            break;
        }
        case T_EVENT: s_encode_object (pk, OBJ_EVENT, at); break;
        case T_EVENTS:
            msgpack_pack_array (pk, msg->n_events);
            for (i = 0; i < msg->n_events; i++)
                s_encode_object (pk, OBJ_EVENT, &msg->events [i]);
            break;
        case T_EMIT: {
            const zo_result_t *result = (const zo_result_t *) base;
            assert (result->emit);
            msgpack_pack_array (pk, result->emit_count);
            for (i = 0; i < result->emit_count; i++)
                s_encode_object (pk, OBJ_EVENT, &result->emit [i]);
            break;
        }
        case T_RESULTS:
            msgpack_pack_array (pk, msg->n_results);
            for (i = 0; i < msg->n_results; i++)
                s_encode_object (pk, OBJ_RESULT, &msg->results_ [i]);
            break;
        case T_ITEMS:
            msgpack_pack_array (pk, msg->n_items);
            for (i = 0; i < msg->n_items; i++)
                s_encode_object (pk, OBJ_ITEM, &msg->items [i]);
            break;
        case T_DEADS:
            msgpack_pack_array (pk, msg->n_dead);
            for (i = 0; i < msg->n_dead; i++)
                s_encode_object (pk, OBJ_DEAD, &msg->dead [i]);
            break;
        case T_IDS:
        case T_KEYS:
            msgpack_pack_array (pk, msg->n_ids);
            for (i = 0; i < msg->n_ids; i++)
                s_pack_span (pk, msg->ids [i]);
            break;
        case T_BYTES: {
            zo_span_t span = *(const zo_span_t *) at;
            msgpack_pack_bin_with_body (pk, span.ptr, span.len);
            break;
        }
        case T_VALUES:
            msgpack_pack_array (pk, msg->n_values);
            for (i = 0; i < msg->n_values; i++)
                if (msg->values [i].ptr)
                    msgpack_pack_bin_with_body (pk, msg->values [i].ptr, msg->values [i].len);
                else
                    msgpack_pack_nil (pk);
            break;
    }
}

//  Writes a command's or object's fields: required ones always, optional
//  ones when present. A command starts with "v" and "cmd".
static void
s_encode_object (msgpack_packer *pk, int obj, const void *base)
{
    //  Events and results made elsewhere are written as they are.
    if (obj == OBJ_EVENT && ((const zo_event_t *) base)->raw.len) {
        s_pack_raw (pk, ((const zo_event_t *) base)->raw);
        return;
    }
    if (obj == OBJ_RESULT && ((const zo_result_t *) base)->raw.len) {
        s_pack_raw (pk, ((const zo_result_t *) base)->raw);
        return;
    }
    uint32_t n = obj < ZO_CMD_COUNT ? 2 : 0;
    for (int i = 0; i < s_index [obj].count; i++) {
        const s_field_t *f = &s_fields [s_index [obj].first + i];
        if (f->required || s_present (f, base))
            n++;
    }
    msgpack_pack_map (pk, n);
    if (obj < ZO_CMD_COUNT) {
        msgpack_pack_str_with_body (pk, "v", 1);
        msgpack_pack_uint8 (pk, ZO_PROTO_VERSION);
        msgpack_pack_str_with_body (pk, "cmd", 3);
        msgpack_pack_str_with_body (pk, s_commands [obj].name, s_name_len [obj]);
    }
    int first = s_index [obj].first;
    for (int i = 0; i < s_index [obj].count; i++) {
        const s_field_t *f = &s_fields [first + i];
        if (f->required || s_present (f, base)) {
            msgpack_pack_str_with_body (pk, f->key, s_key_len [first + i]);
            s_encode_value (pk, f, base);
        }
    }
}

void
zo_proto_encode (msgpack_packer *pk, const zo_msg_t *msg)
{
    assert (pk && msg);
    assert (msg->cmd > ZO_CMD_INVALID && msg->cmd < ZO_CMD_COUNT);
    s_build_index ();
    s_encode_object (pk, msg->cmd, msg);
}

void
zo_proto_encode_result (msgpack_packer *pk, const zo_result_t *result)
{
    assert (pk && result);
    s_encode_object (pk, OBJ_RESULT, result);
}

//  --------------------------------------------------------------------------
//  Names

const char *
zo_cmd_name (zo_cmd_t cmd)
{
    return cmd > ZO_CMD_INVALID && cmd < ZO_CMD_COUNT ? s_commands [cmd].name : "?";
}

const char *
zo_err_name (zo_err_t err)
{
    return err >= 0 && err < ZO_ERR_COUNT ? s_err_names [err] : "?";
}

const char *
zo_prio_name (zo_prio_t prio)
{
    return prio >= 0 && prio <= ZO_PRIO_LOW ? s_prio_names [prio] : "?";
}

zo_cmd_t
zo_cmd_lookup (zo_span_t name)
{
    for (int cmd = ZO_CMD_INVALID + 1; cmd < ZO_CMD_COUNT; cmd++)
        if (name.len == s_name_len [cmd] && memcmp (name.ptr, s_commands [cmd].name, name.len) == 0)
            return (zo_cmd_t) cmd;
    return ZO_CMD_INVALID;
}

zo_err_t
zo_err_lookup (zo_span_t name)
{
    for (int err = 0; err < ZO_ERR_COUNT; err++)
        if (zo_span_eq (name, s_err_names [err]))
            return (zo_err_t) err;
    return ZO_ERR_COUNT;
}

zo_span_t
zo_span_str (const char *str)
{
    zo_span_t span = { (const uint8_t *) str, str ? (uint32_t) strlen (str) : 0 };
    return span;
}

//  --------------------------------------------------------------------------
//  Documentation

static void
s_print_type (const s_field_t *f)
{
    switch (f->type) {
        case T_U32: printf ("uint32"); break;
        case T_U64: printf ("uint64"); break;
        case T_I64: printf ("int64"); break;
        case T_F64: printf ("f64"); break;
        case T_BOOL: printf ("bool"); break;
        case T_STR:
            if (f->min)
                printf ("str %u..%u", f->min, f->max);
            else
                printf ("str ≤%u", f->max);
            break;
        case T_PRIO: printf ("str"); break;
        case T_ANY: printf ("any"); break;
        case T_MAP: printf ("map"); break;
        case T_EVENT: printf ("event"); break;
        case T_EVENTS: case T_EMIT: printf ("[event] %s%u", f->min ? "1.." : "≤", f->max); break;
        case T_RESULTS: printf ("[result] %s%u", f->min ? "1.." : "≤", f->max); break;
        case T_ITEMS: printf ("[item] %s%u", f->min ? "1.." : "≤", f->max); break;
        case T_DEADS: printf ("[dead letter] ≤%u", f->max); break;
        case T_IDS: printf ("[str 1..%d] ≤%u", ZO_MAX_ID, f->max); break;
        case T_KEYS: printf ("[str 1..%d] 1..%u", ZO_MAX_KEY, f->max); break;
        case T_BYTES: printf ("bin"); break;
        case T_VALUES: printf ("[bin | nil] ≤%u", f->max); break;
    }
}

void
zo_proto_print_doc (void)
{
    s_build_index ();
    for (int obj = ZO_CMD_INVALID + 1; obj < OBJ_COUNT; obj++) {
        if (obj < ZO_CMD_COUNT)
            printf ("### %s (%s)\n\n%s\n\n", s_commands [obj].name, s_commands [obj].flow,
                    s_commands [obj].doc);
        else
            printf ("### %s\n\n%s\n\n", s_commands [obj].name, s_commands [obj].doc);
        if (s_index [obj].count == 0) {
            printf ("No fields besides `v` and `cmd`.\n\n");
            continue;
        }
        printf ("| key | type | | meaning |\n|---|---|---|---|\n");
        for (int i = 0; i < s_index [obj].count; i++) {
            const s_field_t *f = &s_fields [s_index [obj].first + i];
            printf ("| `%s` | ", f->key);
            s_print_type (f);
            printf (" | %s | %s |\n", f->required ? "✔" : "", f->doc);
        }
        printf ("\n");
    }
}
