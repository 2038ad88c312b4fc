/*  zo_input: JSON events from people -> msgpack event maps.  */
#include "zo_input.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "zo_json.h"

/*  ---------------------------------------------------------------------
    Ids  */

static const char s_b32 [] = "0123456789abcdefghjkmnpqrstvwxyz";
static uint64_t s_id_counter;
static pid_t s_id_pid;         /* the process that seeded the counter */

void
zo_input_id_new (char id [ZO_INPUT_ID_LEN + 1])
{
    //  (Re)seed on first use and in a forked child, which would otherwise
    //  continue the parent's sequence.
    pid_t pid = getpid ();
    if (__atomic_load_n (&s_id_pid, __ATOMIC_ACQUIRE) != pid) {
        uint64_t seed = 0;
        if (getrandom (&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t) sizeof seed) {
            struct timespec ts;
            clock_gettime (CLOCK_MONOTONIC, &ts);
            seed = (uint64_t) ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t) pid << 32;
        }
        __atomic_store_n (&s_id_counter, seed, __ATOMIC_RELEASE);
        __atomic_store_n (&s_id_pid, pid, __ATOMIC_RELEASE);
    }
    uint64_t n = __atomic_fetch_add (&s_id_counter, 1, __ATOMIC_RELAXED);
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
    /*  8 chars of time (40 bits), 8 chars of counter (40 bits).  */
    for (int i = 7; i >= 0; i--) {
        id [i] = s_b32 [ms & 31];
        ms >>= 5;
    }
    for (int i = 15; i >= 8; i--) {
        id [i] = s_b32 [n & 31];
        n >>= 5;
    }
    id [ZO_INPUT_ID_LEN] = 0;
}

/*  ---------------------------------------------------------------------
    One event  */

static void
s_err (char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err, errlen, fmt, ap);
    va_end (ap);
}

/*  Nesting depth of a JSON value: 0 for a scalar, 1 for a flat
    array/object, ... Stops counting past limit.  */
static int
s_depth (const json_t *json, int limit)
{
    if (limit < 0)
        return 1;
    int deepest = 0;
    if (json_is_object (json)) {
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *) json, key, value) {
            int d = s_depth (value, limit - 1);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    if (json_is_array (json)) {
        size_t i;
        json_t *value;
        json_array_foreach (json, i, value) {
            int d = s_depth (value, limit - 1);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    return 0;
}

/*  A string field: NULL when absent; *bad set when present but not a
    string or outside [min, max] bytes.  */
static const char *
s_str_field (const json_t *json, const char *key, size_t min, size_t max, bool *bad,
             char *err, size_t errlen)
{
    json_t *v = json_object_get (json, key);
    if (!v || (json_is_null (v) && min == 0))
        return NULL;
    if (!json_is_string (v)) {
        s_err (err, errlen, "\"%s\" must be a string", key);
        *bad = true;
        return NULL;
    }
    size_t len = json_string_length (v);
    if (len < min || len > max) {
        if (len < min)
            s_err (err, errlen, "\"%s\" must not be empty", key);
        else
            s_err (err, errlen, "\"%s\" is %zu bytes, more than %zu", key, len, max);
        *bad = true;
        return NULL;
    }
    if (memchr (json_string_value (v), 0, len)) {
        s_err (err, errlen, "\"%s\" holds a NUL character", key);
        *bad = true;
        return NULL;
    }
    return json_string_value (v);
}

/*  An unsigned 32-bit field; -1 when present and bad.  */
static int
s_u32_field (const json_t *json, const char *key, uint32_t *value, char *err, size_t errlen)
{
    json_t *v = json_object_get (json, key);
    *value = 0;
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_integer (v) || json_integer_value (v) < 0
        || json_integer_value (v) > (json_int_t) UINT32_MAX) {
        s_err (err, errlen, "\"%s\" must be an integer from 0 to %u", key, UINT32_MAX);
        return -1;
    }
    *value = (uint32_t) json_integer_value (v);
    return 0;
}

static bool
s_known_key (const char *key)
{
    static const char *known [] = { "id", "type", "source", "payload", "priority",
                                    "deadline_ms", "max_attempts", "ts_ns", NULL };
    for (int i = 0; known [i]; i++)
        if (streq (key, known [i]))
            return true;
    return false;
}

/*  zo_input_encode, also telling where in the encoding the id's bytes and
    the ts_ns value's lead byte are (offsets from where the event starts),
    so that copies can be made by patching those two fields alone.  */
static int
s_encode (const json_t *json, bool fresh_id, msgpack_sbuffer *out,
          char id [ZO_MAX_ID + 1], char type [ZO_MAX_TYPE + 1],
          char *err, size_t errlen, size_t *id_off, size_t *ts_off)
{
    assert (out);
    assert (id);
    if (!json_is_object (json)) {
        s_err (err, errlen, "an event must be a JSON object");
        return -1;
    }
    bool bad = false;
    const char *id_s = s_str_field (json, "id", 1, ZO_MAX_ID, &bad, err, errlen);
    if (bad)
        return -1;
    const char *type_s = s_str_field (json, "type", 1, ZO_MAX_TYPE, &bad, err, errlen);
    if (bad)
        return -1;
    if (!type_s) {
        s_err (err, errlen, "\"type\" is required");
        return -1;
    }
    const char *source = s_str_field (json, "source", 0, ZO_MAX_SOURCE, &bad, err, errlen);
    if (bad)
        return -1;
    const char *prio = s_str_field (json, "priority", 0, 16, &bad, err, errlen);
    if (bad || (prio && !streq (prio, "high") && !streq (prio, "normal")
                && !streq (prio, "low"))) {
        if (!bad)
            s_err (err, errlen, "\"priority\" must be \"high\", \"normal\" or \"low\"");
        return -1;
    }
    uint32_t deadline_ms, max_attempts;
    if (s_u32_field (json, "deadline_ms", &deadline_ms, err, errlen)
        || s_u32_field (json, "max_attempts", &max_attempts, err, errlen))
        return -1;
    int64_t ts_ns = 0;
    json_t *ts = json_object_get (json, "ts_ns");
    if (ts && !json_is_null (ts)) {
        if (!json_is_integer (ts)) {
            s_err (err, errlen, "\"ts_ns\" must be an integer");
            return -1;
        }
        ts_ns = json_integer_value (ts);
    }
    else {
        struct timespec now;
        clock_gettime (CLOCK_REALTIME, &now);
        ts_ns = (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
    }
    json_t *payload = json_object_get (json, "payload");
    size_t n_keys = 3;   /* id, type, ts_ns */
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) json, key, value) {
        if (s_known_key (key)) {
            if (streq (key, "payload") && s_depth (value, ZO_INPUT_MAX_DEPTH) > ZO_INPUT_MAX_DEPTH) {
                s_err (err, errlen, "\"payload\" nests deeper than %d levels", ZO_INPUT_MAX_DEPTH);
                return -1;
            }
            continue;
        }
        if (s_depth (value, ZO_INPUT_MAX_DEPTH) > ZO_INPUT_MAX_DEPTH) {
            s_err (err, errlen, "\"%s\" nests deeper than %d levels", key, ZO_INPUT_MAX_DEPTH);
            return -1;
        }
        n_keys++;
    }
    n_keys += (source != NULL) + (payload != NULL) + (prio != NULL)
              + (deadline_ms > 0) + (max_attempts > 0);

    if (fresh_id || !id_s) {
        zo_input_id_new (id);
        id_s = id;
    }
    else
        snprintf (id, ZO_MAX_ID + 1, "%s", id_s);
    if (type)
        snprintf (type, ZO_MAX_TYPE + 1, "%s", type_s);

    size_t mark = out->size;
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, n_keys);
    zo_proto_pack_str (&pk, "id");
    msgpack_pack_str (&pk, strlen (id));
    *id_off = out->size - mark;
    msgpack_pack_str_body (&pk, id, strlen (id));
    zo_proto_pack_str (&pk, "type");
    zo_proto_pack_str (&pk, type_s);
    if (source) {
        zo_proto_pack_str (&pk, "source");
        zo_proto_pack_str (&pk, source);
    }
    if (payload) {
        zo_proto_pack_str (&pk, "payload");
        if (zo_json_pack (&pk, payload))
            goto too_deep;
    }
    if (prio) {
        zo_proto_pack_str (&pk, "priority");
        zo_proto_pack_str (&pk, prio);
    }
    if (deadline_ms) {
        zo_proto_pack_str (&pk, "deadline_ms");
        msgpack_pack_uint32 (&pk, deadline_ms);
    }
    if (max_attempts) {
        zo_proto_pack_str (&pk, "max_attempts");
        msgpack_pack_uint32 (&pk, max_attempts);
    }
    //  Always 9 bytes (0xd3 + big-endian int64), so a copy can patch it.
    zo_proto_pack_str (&pk, "ts_ns");
    *ts_off = out->size - mark;
    msgpack_pack_fix_int64 (&pk, ts_ns);
    json_object_foreach ((json_t *) json, key, value) {
        if (s_known_key (key))
            continue;
        zo_proto_pack_str (&pk, key);
        if (zo_json_pack (&pk, value))
            goto too_deep;
    }
    return 0;
too_deep:
    out->size = mark;
    s_err (err, errlen, "the event nests too deep");
    return -1;
}

int
zo_input_encode (const json_t *json, bool fresh_id, msgpack_sbuffer *out,
                 char id [ZO_MAX_ID + 1], char type [ZO_MAX_TYPE + 1],
                 char *err, size_t errlen)
{
    size_t id_off, ts_off;
    return s_encode (json, fresh_id, out, id, type, err, errlen, &id_off, &ts_off);
}

json_t *
zo_input_load_file (const char *path, char *err, size_t errlen)
{
    assert (path);
    json_error_t jerr;
    json_t *json;
    if (streq (path, "-"))
        json = json_loadf (stdin, JSON_REJECT_DUPLICATES, &jerr);
    else
        json = json_load_file (path, JSON_REJECT_DUPLICATES, &jerr);
    if (!json) {
        if (jerr.line > 0)
            s_err (err, errlen, "%s: line %d, column %d: %s", path, jerr.line, jerr.column,
                   jerr.text);
        else
            s_err (err, errlen, "%s: %s", path, jerr.text);
        return NULL;
    }
    if (json_is_object (json)) {
        json_t *array = json_array ();
        json_array_append_new (array, json);
        return array;
    }
    if (!json_is_array (json)) {
        s_err (err, errlen, "%s: expected an event object or an array of them", path);
        json_decref (json);
        return NULL;
    }
    return json;
}

/*  ---------------------------------------------------------------------
    Sources  */

/*  A list element's encoding with a generated id, kept so that further
    copies (--count) cost a memcpy and two patches, not a JSON walk.  */
typedef struct {
    char *bytes;
    size_t size;
    size_t id_off, ts_off;
    char type [ZO_MAX_TYPE + 1];
} s_copy_t;

struct _zo_input_t {
    json_t *array;             /* list source */
    s_copy_t *copies;          /* per element, made on its first copy */
    json_t *defaults;          /* fill in missing keys, or NULL */
    size_t index;              /* next element */
    uint64_t count;            /* 0 = unlimited / each once */
    uint64_t produced;
    uint64_t bad;
    int fd;                    /* NDJSON source, else -1 */
    bool own_fd;
    bool eof;
    char *buf;                 /* NDJSON read buffer */
    size_t buf_size, buf_len, buf_pos;
    uint64_t line;             /* lines consumed */
    bool skipping;             /* inside an over-long line */
};

zo_input_t *
zo_input_new_list (json_t **array_p, uint64_t count)
{
    assert (array_p && json_is_array (*array_p));
    zo_input_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->array = *array_p;
    *array_p = NULL;
    self->count = count;
    if (count > json_array_size (self->array) && json_array_size (self->array))
        self->copies = calloc (json_array_size (self->array), sizeof (s_copy_t));
    self->fd = -1;
    return self;
}

zo_input_t *
zo_input_new_ndjson (int fd, bool own_fd, uint64_t count)
{
    assert (fd >= 0);
    zo_input_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->fd = fd;
    self->own_fd = own_fd;
    self->count = count;
    self->buf_size = 64 * 1024;
    self->buf = malloc (self->buf_size);
    if (!self->buf) {
        free (self);
        return NULL;
    }
    return self;
}

void
zo_input_destroy (zo_input_t **self_p)
{
    assert (self_p);
    zo_input_t *self = *self_p;
    if (!self)
        return;
    if (self->copies)
        for (size_t i = 0; i < json_array_size (self->array); i++)
            free (self->copies [i].bytes);
    free (self->copies);
    json_decref (self->array);
    json_decref (self->defaults);
    if (self->own_fd && self->fd >= 0)
        close (self->fd);
    free (self->buf);
    free (self);
    *self_p = NULL;
}

void
zo_input_set_defaults (zo_input_t *self, json_t *defaults)
{
    assert (self);
    json_decref (self->defaults);
    self->defaults = json_is_object (defaults) ? json_incref (defaults) : NULL;
}

int
zo_input_fd (const zo_input_t *self)
{
    assert (self);
    return self->eof ? -1 : self->fd;
}

uint64_t
zo_input_total (const zo_input_t *self)
{
    assert (self);
    if (self->array)
        return self->count ? self->count : json_array_size (self->array);
    return self->count;
}

uint64_t
zo_input_bad (const zo_input_t *self)
{
    assert (self);
    return self->bad;
}

static int
s_next_list (zo_input_t *self, msgpack_sbuffer *out, char *id, char *type, char *err,
             size_t errlen)
{
    size_t n = json_array_size (self->array);
    if (n == 0)
        return -1;
    if (self->count ? self->produced + self->bad >= self->count : self->index >= n)
        return -1;
    size_t i = self->index % n;
    bool fresh = self->index >= n;
    self->index++;
    char why [256];
    s_copy_t *copy = self->copies && fresh ? &self->copies [i] : NULL;
    if (copy && copy->bytes) {
        //  A further copy: same bytes, a fresh id and the time now.
        size_t at = out->size;
        msgpack_sbuffer_write (out, copy->bytes, copy->size);
        zo_input_id_new (id);
        memcpy (out->data + at + copy->id_off, id, ZO_INPUT_ID_LEN);
        struct timespec now;
        clock_gettime (CLOCK_REALTIME, &now);
        uint64_t ts = (uint64_t) now.tv_sec * 1000000000u + (uint64_t) now.tv_nsec;
        for (int b = 0; b < 8; b++)
            out->data [at + copy->ts_off + 1 + b] = (char) (ts >> (56 - 8 * b));
        if (type)
            memcpy (type, copy->type, sizeof copy->type);
        self->produced++;
        return 1;
    }
    json_t *event = json_array_get (self->array, i);
    if (self->defaults && json_is_object (event))
        json_object_update_missing (event, self->defaults);
    size_t at = out->size, id_off, ts_off;
    char etype [ZO_MAX_TYPE + 1];
    if (s_encode (event, fresh, out, id, etype, why, sizeof why, &id_off, &ts_off)) {
        self->bad++;
        s_err (err, errlen, "event %zu: %s", i + 1, why);
        return -2;
    }
    if (type)
        memcpy (type, etype, sizeof etype);
    if (copy && strlen (id) == ZO_INPUT_ID_LEN) {
        copy->bytes = malloc (out->size - at);
        if (copy->bytes) {
            memcpy (copy->bytes, out->data + at, out->size - at);
            copy->size = out->size - at;
            copy->id_off = id_off;
            copy->ts_off = ts_off;
            memcpy (copy->type, etype, sizeof etype);
        }
    }
    self->produced++;
    return 1;
}

/*  Reads what is there without blocking. 1 read something, 0 nothing now,
    -1 end of input.  */
static int
s_fill (zo_input_t *self)
{
    if (self->eof)
        return -1;
    struct pollfd pfd = { self->fd, POLLIN, 0 };
    if (poll (&pfd, 1, 0) <= 0)
        return 0;
    if (self->buf_pos > 0) {
        memmove (self->buf, self->buf + self->buf_pos, self->buf_len - self->buf_pos);
        self->buf_len -= self->buf_pos;
        self->buf_pos = 0;
    }
    if (self->buf_len == self->buf_size) {
        if (self->buf_size >= ZO_INPUT_MAX_LINE) {
            /*  An over-long line: drop what we hold and skip to its end.  */
            self->buf_len = 0;
            self->skipping = true;
        }
        else {
            char *bigger = realloc (self->buf, self->buf_size * 2);
            if (!bigger)
                return 0;
            self->buf = bigger;
            self->buf_size *= 2;
        }
    }
    ssize_t got = read (self->fd, self->buf + self->buf_len, self->buf_size - self->buf_len);
    if (got < 0)
        return (errno == EAGAIN || errno == EINTR) ? 0 : (self->eof = true, -1);
    if (got == 0) {
        self->eof = true;
        return -1;
    }
    self->buf_len += (size_t) got;
    return 1;
}

static int
s_next_ndjson (zo_input_t *self, msgpack_sbuffer *out, char *id, char *type, char *err,
               size_t errlen)
{
    while (true) {
        if (self->count && self->produced >= self->count)
            return -1;
        char *start = self->buf + self->buf_pos;
        char *nl = memchr (start, '\n', self->buf_len - self->buf_pos);
        size_t len;
        if (nl)
            len = (size_t) (nl - start);
        else {
            int rc = s_fill (self);
            if (rc > 0)
                continue;
            if (rc == 0)
                return 0;
            /*  End of input: a last line without a newline still counts.  */
            len = self->buf_len - self->buf_pos;
            if (len == 0)
                return -1;
        }
        self->buf_pos += len + (nl != NULL);
        self->line++;
        if (self->skipping) {
            self->skipping = false;
            self->bad++;
            s_err (err, errlen, "line %" PRIu64 ": longer than %d bytes", self->line,
                   ZO_INPUT_MAX_LINE);
            return -2;
        }
        size_t i = 0;
        while (i < len && (start [i] == ' ' || start [i] == '\t' || start [i] == '\r'))
            i++;
        if (i == len)
            continue;   /* blank line */
        json_error_t jerr;
        json_t *json = json_loadb (start, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json) {
            self->bad++;
            s_err (err, errlen, "line %" PRIu64 ", column %d: %s", self->line, jerr.column,
                   jerr.text);
            return -2;
        }
        char why [256];
        if (self->defaults && json_is_object (json))
            json_object_update_missing (json, self->defaults);
        int rc = zo_input_encode (json, false, out, id, type, why, sizeof why);
        json_decref (json);
        if (rc) {
            self->bad++;
            s_err (err, errlen, "line %" PRIu64 ": %s", self->line, why);
            return -2;
        }
        self->produced++;
        return 1;
    }
}

int
zo_input_next (zo_input_t *self, msgpack_sbuffer *out, char id [ZO_MAX_ID + 1],
               char type [ZO_MAX_TYPE + 1], char *err, size_t errlen)
{
    assert (self);
    if (self->array)
        return s_next_list (self, out, id, type, err, errlen);
    return s_next_ndjson (self, out, id, type, err, errlen);
}
