/*  zo_mp: a bounded, zero-copy msgpack cursor.

    The decoder every actor trusts with bytes from the network. It never
    allocates and never reads past the buffer it was given: every read checks
    the remaining length, nesting is limited by ZO_MP_MAX_DEPTH, and counts
    are checked against what is left, so a hostile "array of 4 billion"
    header fails at once instead of looping.

    Encoding is done with msgpack-c's msgpack_packer; this module only reads.
*/
#ifndef ZO_MP_H_INCLUDED
#define ZO_MP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZO_MP_MAX_DEPTH 32

/*  A borrowed byte range. Valid while the buffer it points into lives.  */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} zo_span_t;

typedef enum {
    ZO_MP_NIL, ZO_MP_BOOL, ZO_MP_UINT, ZO_MP_INT, ZO_MP_FLOAT, ZO_MP_STR,
    ZO_MP_BIN, ZO_MP_ARRAY, ZO_MP_MAP, ZO_MP_EXT, ZO_MP_INVALID
} zo_mp_type_t;

typedef struct {
    const uint8_t *pos;
    const uint8_t *end;
} zo_mp_t;

/*  Starts a cursor over [data, data + size).  */
void zo_mp_init (zo_mp_t *self, const void *data, size_t size);

/*  Bytes not yet read.  */
size_t zo_mp_left (const zo_mp_t *self);

/*  Type of the next value, ZO_MP_INVALID at the end or on a reserved byte.  */
zo_mp_type_t zo_mp_peek (const zo_mp_t *self);

/*  Each reader returns 0 and advances on success; on a type mismatch or a
    truncated value it returns -1 and leaves the cursor where it was.  */
int zo_mp_read_nil (zo_mp_t *self);
int zo_mp_read_bool (zo_mp_t *self, bool *value);
/*  Accepts any integer that fits (positive or negative encodings).  */
int zo_mp_read_u64 (zo_mp_t *self, uint64_t *value);
int zo_mp_read_i64 (zo_mp_t *self, int64_t *value);
/*  Accepts float32, float64 and integers.  */
int zo_mp_read_f64 (zo_mp_t *self, double *value);
/*  The string's bytes (not NUL-terminated), borrowed.  */
int zo_mp_read_str (zo_mp_t *self, zo_span_t *value);
int zo_mp_read_bin (zo_mp_t *self, zo_span_t *value);
/*  Header only: the caller then reads *count elements (2 * *count for maps).
    Fails if fewer bytes remain than the count could possibly need.  */
int zo_mp_read_array (zo_mp_t *self, uint32_t *count);
int zo_mp_read_map (zo_mp_t *self, uint32_t *count);

/*  Skips one whole value, nested at most ZO_MP_MAX_DEPTH deep, and returns
    its raw encoding in *raw (may be NULL). -1 if it is malformed.  */
int zo_mp_skip (zo_mp_t *self, zo_span_t *raw);

/*  True if the span equals the NUL-terminated string.  */
bool zo_span_eq (zo_span_t span, const char *str);

#endif
