/*  zo_proto: the zorch wire protocol, as data, and the one codec every actor
    uses.  proto/PROTOCOL.md is the specification; the tables in zo_proto.c
    (ZO_PROTO_FIELDS) drive decoding, validation, encoding and the field
    tables of PROTOCOL.md (`zorch proto-doc` prints them; a test checks the
    document still matches).

    Every message is one ZeroMQ frame holding one msgpack map with at least
    "v" (protocol version, 1) and "cmd" (a command name). Unknown keys are
    ignored; unknown commands are an error (ZO_ERR_UNKNOWN_COMMAND).

    Decoding is zero-copy: strings, payloads and raw event maps in a decoded
    message point into the frame that was decoded, and arrays of objects live
    in the decoder; both stay valid until the next zo_proto_decode on that
    decoder or until the frame is freed, whichever comes first.
*/
#ifndef ZO_PROTO_H_INCLUDED
#define ZO_PROTO_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "zo_mp.h"

#define ZO_PROTO_VERSION 1

/*  Hard limits (PROTOCOL.md "Limits").  */
#define ZO_MAX_FRAME        (1024 * 1024)  /* default of broker/max_frame */
#define ZO_MAX_FRAME_MIN    (64 * 1024)    /* broker/max_frame's range */
#define ZO_MAX_FRAME_MAX    (256 * 1024 * 1024)
/*  A DISPATCH's bytes, for keeping it within max_frame: its own fields,
    and at most this much per item beside the event's own bytes.  */
#define ZO_DISPATCH_OVERHEAD      256
#define ZO_DISPATCH_ITEM_OVERHEAD 64
#define ZO_MAX_BATCH        1000           /* events/results/items per message */
#define ZO_MAX_ID           128
#define ZO_MAX_TYPE         256
#define ZO_MAX_SOURCE       128
#define ZO_MAX_NAME         128
#define ZO_MAX_CODE         64
#define ZO_MAX_TEXT         4096           /* reason and error strings */
#define ZO_MAX_KEY          1024           /* a cache key or pattern */
#define ZO_MAX_METHOD       16             /* an HTTP method */
#define ZO_MAX_SQL          65536          /* one SQL statement */

typedef enum {
    ZO_CMD_INVALID = 0,
    ZO_CMD_SUBMIT,      /* producer -> broker */
    ZO_CMD_ACK,         /* broker -> producer */
    ZO_CMD_NACK,        /* broker -> producer */
    ZO_CMD_RESULT,      /* broker -> producer */
    ZO_CMD_ERROR,       /* any -> peer */
    ZO_CMD_PING,        /* any -> peer */
    ZO_CMD_PONG,        /* reply to PING */
    ZO_CMD_READY,       /* worker -> broker */
    ZO_CMD_CREDIT,      /* worker -> broker */
    ZO_CMD_DISPATCH,    /* broker -> worker */
    ZO_CMD_DONE,        /* worker -> broker */
    ZO_CMD_HEARTBEAT,   /* broker <-> worker */
    ZO_CMD_BYE,         /* worker -> broker */
    ZO_CMD_DLQ_LIST,    /* client -> broker */
    ZO_CMD_DLQ_ITEMS,   /* broker -> client */
    ZO_CMD_DLQ_REPLAY,  /* client -> broker */
    ZO_CMD_DLQ_PURGE,   /* client -> broker */
    ZO_CMD_DLQ_DONE,    /* broker -> client */
    ZO_CMD_STATS,       /* any actor -> monitor; actor -> client (GET_STATS) */
    ZO_CMD_GET_STATS,   /* client -> any actor */
    ZO_CMD_GET,         /* client -> cache */
    ZO_CMD_MGET,        /* client -> cache */
    ZO_CMD_SET,         /* client -> cache */
    ZO_CMD_DEL,         /* client -> cache */
    ZO_CMD_INVALIDATE,  /* client -> cache */
    ZO_CMD_TOUCH,       /* client -> cache */
    ZO_CMD_VALUE,       /* cache -> client (GET) */
    ZO_CMD_VALUES,      /* cache -> client (MGET) */
    ZO_CMD_OK,          /* cache -> client (SET, DEL, INVALIDATE, TOUCH) */
    ZO_CMD_REQUEST,     /* client -> pool: an HTTP request to a service */
    ZO_CMD_RESPONSE,    /* pool -> client */
    ZO_CMD_QUERY,       /* client -> pool: a statement on a database */
    ZO_CMD_ROWS,        /* pool -> client */
    ZO_CMD_QUIET,       /* client -> broker: stop dispatching to a worker; broker -> worker */
    ZO_CMD_WORKERS,     /* client -> broker, and its reply: the broker's view of each worker */
    ZO_CMD_SCALE,       /* client -> autoscaler: a fixed size, or back to automatic */
    ZO_CMD_COUNT
} zo_cmd_t;

/*  Error codes carried in ERROR.code and NACK.code (strings on the wire).  */
typedef enum {
    ZO_ERR_NONE = 0,
    ZO_ERR_BAD_MSGPACK,     /* not one well-formed msgpack map */
    ZO_ERR_BAD_VERSION,     /* "v" missing or not 1 */
    ZO_ERR_UNKNOWN_COMMAND, /* "cmd" missing or not a known command */
    ZO_ERR_MISSING_FIELD,   /* a required field is absent */
    ZO_ERR_BAD_TYPE,        /* a field has the wrong msgpack type */
    ZO_ERR_BAD_VALUE,       /* right type, value outside its limits */
    ZO_ERR_TOO_LARGE,       /* frame, string or array above its limit */
    ZO_ERR_QUEUE_FULL,      /* NACK: no room now; retry after retry_ms */
    ZO_ERR_SHUTTING_DOWN,   /* NACK: broker is draining */
    ZO_ERR_NOT_READY,       /* worker must send READY first */
    ZO_ERR_UNEXPECTED,      /* a known command sent on the wrong socket */
    ZO_ERR_JOURNAL_FAILED,  /* NACK: the broker cannot make events durable */
    ZO_ERR_UNAVAILABLE,     /* the pool: the service's circuit is open, or the database down */
    ZO_ERR_TIMEOUT,         /* the pool: no answer within the request's deadline */
    ZO_ERR_UPSTREAM,        /* the pool: the service or database failed (no HTTP response, an SQL error) */
    ZO_ERR_COUNT
} zo_err_t;

/*  Lanes. 0 is the default so that an absent field means "normal".  */
typedef enum {
    ZO_PRIO_NORMAL = 0,
    ZO_PRIO_HIGH = 1,
    ZO_PRIO_LOW = 2
} zo_prio_t;

/*  An event. On decode every span borrows from the frame and `raw` is the
    whole event map as received; on encode, if raw.len > 0, raw is written
    verbatim and the other fields are ignored.  */
typedef struct {
    zo_span_t raw;
    zo_span_t id;            /* required, 1..128 bytes */
    zo_span_t type;          /* required, 1..256 bytes */
    zo_span_t source;        /* optional, <= 128 bytes */
    zo_span_t payload;       /* optional, raw msgpack of any value */
    zo_prio_t priority;      /* "high" | "normal" | "low" */
    uint32_t deadline_ms;    /* relative to acceptance; 0 = broker default */
    uint32_t max_attempts;   /* 0 = broker default */
    int64_t ts_ns;           /* producer's clock, echoed; 0 = absent */
} zo_event_t;

/*  One event handed to a worker (DISPATCH.items).  */
typedef struct {
    zo_event_t event;
    uint32_t attempt;        /* 1 on first delivery */
    uint32_t deadline_ms;    /* time left; 0 = none */
} zo_item_t;

/*  The outcome of one event: worker -> broker in DONE, broker -> producer
    in RESULT.  */
typedef struct {
    zo_span_t id;
    bool ok;
    zo_span_t result;        /* optional raw msgpack of any value */
    zo_span_t error;         /* optional, when !ok */
    uint64_t took_ns;        /* handler time */
    uint32_t attempts;       /* RESULT only: deliveries it took */
    bool final;              /* DONE only: do not retry this failure */
    uint32_t emit_first;     /* DONE only: follow-up events are */
    uint32_t emit_count;     /*   msg->events[emit_first .. +emit_count) */
    uint32_t emit_invalid;   /* DONE only: follow-up events dropped as invalid */
    const zo_event_t *emit;  /* encode only: follow-up events to write */
    zo_span_t raw;           /* encode only: if set, written verbatim (a
                                result map zo_proto_encode_result made) */
} zo_result_t;

/*  One dead letter (DLQ_ITEMS.items).  */
typedef struct {
    zo_event_t event;
    zo_span_t error;
    uint32_t attempts;
    uint64_t failed_ms;      /* wall clock, ms since the epoch */
} zo_dead_t;

/*  A decoded (or to-be-encoded) message. Fields a command does not have
    stay zero. See ZO_PROTO_FIELDS in zo_proto.c for which command has
    which field.  */
typedef struct {
    zo_cmd_t cmd;
    uint64_t seq;            /* request/reply correlation, chosen by client */
    bool results;            /* SUBMIT: send RESULT for these events */
    uint32_t accepted;       /* ACK */
    uint32_t duplicates;     /* ACK */
    zo_span_t code;          /* NACK, ERROR: error code string */
    zo_span_t reason;        /* NACK, ERROR: human-readable text */
    uint32_t retry_ms;       /* NACK: hint */
    zo_span_t name;          /* READY, STATS: actor name */
    uint32_t capacity;       /* READY */
    uint32_t credit;         /* READY, CREDIT, DONE */
    uint32_t limit;          /* DLQ_LIST */
    uint32_t total;          /* DLQ_ITEMS */
    uint32_t count;          /* DLQ_DONE, OK */
    /* the cache */
    zo_span_t key;           /* GET, SET, DEL, TOUCH */
    zo_span_t value;         /* SET, VALUE: opaque bytes (bin) */
    zo_span_t pattern;       /* INVALIDATE: a glob */
    uint64_t ttl_ms;         /* SET, TOUCH; VALUE: time left (0: none) */
    bool found;              /* VALUE */
    zo_span_t level;         /* VALUE: "memory", "redis" or "postgres" */
    /* the pool */
    zo_span_t service;       /* REQUEST: a configured service's name */
    zo_span_t method;        /* REQUEST */
    zo_span_t path;          /* REQUEST: appended to the service's url */
    zo_span_t headers;       /* REQUEST, RESPONSE: raw msgpack map str -> str */
    zo_span_t body;          /* REQUEST, RESPONSE: bin */
    uint32_t timeout_ms;     /* REQUEST, QUERY: 0 = the service's or database's */
    uint32_t status;         /* RESPONSE: the HTTP status */
    uint32_t attempts;       /* RESPONSE, ROWS: tries it took */
    uint64_t took_ns;        /* RESPONSE, ROWS */
    zo_span_t database;      /* QUERY: a configured database's name */
    zo_span_t sql;           /* QUERY: one statement, $1.. for params */
    zo_span_t columns;       /* ROWS: raw msgpack array of str */
    zo_span_t rows;          /* ROWS: raw msgpack array of arrays */
    /* STATS */
    zo_span_t actor;         /* "broker", "worker", ... */
    zo_span_t version;       /* "0.1.0 (a1b2c3d4e5)" */
    uint64_t pid;
    uint64_t ts_ms;
    uint64_t rss_bytes;
    double cpu_seconds;
    zo_span_t counters;      /* raw msgpack map str -> uint */
    zo_span_t gauges;        /* raw msgpack map str -> number */
    zo_span_t hists;         /* raw msgpack map str -> histogram map */
    zo_span_t notes;         /* raw msgpack array of {ts_ms, text}, newest first */
    bool bye;                /* STATS: the actor is leaving on purpose */
    /* the autoscaler */
    zo_span_t workers;       /* WORKERS: raw msgpack array of maps (see PROTOCOL.md) */
    uint32_t size;           /* SCALE: workers to run */
    bool autoscale;          /* SCALE: back to automatic sizing */
    /* arrays of objects */
    zo_event_t *events;      /* SUBMIT.events, and all DONE emit events */
    uint32_t n_events;
    zo_result_t *results_;   /* RESULT.results, DONE.results */
    uint32_t n_results;
    zo_item_t *items;        /* DISPATCH.items */
    uint32_t n_items;
    zo_dead_t *dead;         /* DLQ_ITEMS.items */
    uint32_t n_dead;
    zo_span_t *ids;          /* DLQ_REPLAY, DLQ_PURGE (absent = all); MGET keys */
    uint32_t n_ids;
    zo_span_t *values;       /* VALUES: one per key, ptr NULL for a miss; QUERY params (NULL: SQL null) */
    uint32_t n_values;
} zo_msg_t;

typedef struct _zo_proto_t zo_proto_t;

/*  A decoder with its limits and reusable arrays. Returns NULL only when
    out of memory.  */
zo_proto_t *zo_proto_new (void);
void zo_proto_destroy (zo_proto_t **self_p);

/*  Lowers the largest frame accepted (default ZO_MAX_FRAME).  */
void zo_proto_set_max_frame (zo_proto_t *self, size_t max_frame);

/*  Decodes and validates one frame into *msg. Returns 0 on success. On
    failure returns -1, leaves msg->cmd (ZO_CMD_INVALID if unknown) and
    msg->seq (if it could be read) so the caller can address its ERROR
    reply, and sets the error, readable with zo_proto_err/zo_proto_errstr.  */
int zo_proto_decode (zo_proto_t *self, const void *data, size_t size, zo_msg_t *msg);

/*  The last decode's error code and a sentence naming the field at fault.  */
zo_err_t zo_proto_err (const zo_proto_t *self);
const char *zo_proto_errstr (const zo_proto_t *self);

/*  Appends the encoding of msg to pk's buffer. Required fields are always
    written; optional ones only when non-zero / non-empty. Asserts that the
    message is well-formed (a programming error otherwise).  */
void zo_proto_encode (msgpack_packer *pk, const zo_msg_t *msg);

/*  Appends one result map (not a whole message) to pk's buffer, for
    those that collect results over time and send them later as the raw
    results of one RESULT or DONE.  */
void zo_proto_encode_result (msgpack_packer *pk, const zo_result_t *result);
/*  Packs a NUL-terminated string as one msgpack str.  */
void zo_proto_pack_str (msgpack_packer *pk, const char *str);

/*  Names. Never NULL: unknown values give "?".  */
const char *zo_cmd_name (zo_cmd_t cmd);
const char *zo_err_name (zo_err_t err);
const char *zo_prio_name (zo_prio_t prio);
/*  Looks a command or error code up by name; ZO_CMD_INVALID / ZO_ERR_COUNT
    if there is no such name.  */
zo_cmd_t zo_cmd_lookup (zo_span_t name);
zo_err_t zo_err_lookup (zo_span_t name);

/*  A span over a NUL-terminated string (for encoding).  */
zo_span_t zo_span_str (const char *str);

/*  Prints the markdown field tables of PROTOCOL.md to stdout.  */
void zo_proto_print_doc (void);

#endif
