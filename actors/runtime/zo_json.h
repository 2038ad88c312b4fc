/*  zo_json: JSON (jansson) <-> msgpack, for the edges where people write
    events (zorch inject, exec handlers) and read results.

    JSON -> msgpack: objects become maps, arrays arrays, strings str,
    integers int, reals float64, true/false bool, null nil.
    msgpack -> JSON: the reverse; bin becomes a base64 string, ext becomes
    null, a scalar map key that is not a string is written as its JSON text
    (an array or map key as "[array]" or "{map}"), a uint above
    INT64_MAX becomes a real, NaN and infinities become null, and invalid
    UTF-8 in strings (and NUL in map keys) is replaced by U+FFFD. Nesting
    is limited to ZO_MP_MAX_DEPTH levels counted as zo_mp_skip counts
    them, so what one side accepts the other does too.
*/
#ifndef ZO_JSON_H_INCLUDED
#define ZO_JSON_H_INCLUDED

#include <jansson.h>
#include <msgpack.h>

#include "zo_mp.h"

/*  Packs a JSON value. -1, having written nothing, if it nests deeper
    than ZO_MP_MAX_DEPTH.  */
int zo_json_pack (msgpack_packer *pk, const json_t *json);

/*  Reads one msgpack value at the cursor into a new JSON value (caller
    owns it). NULL on malformed or too deeply nested input (the cursor is
    then somewhere inside the value).  */
json_t *zo_json_from_mp (zo_mp_t *cur);
/*  Same, for a span that must hold exactly one value (trailing bytes
    give NULL); a zero-length span gives JSON null.  */
json_t *zo_json_from_span (zo_span_t span);
/*  A JSON string of the bytes of text (not msgpack: the text itself),
    every invalid UTF-8 sequence replaced by U+FFFD. NULL when out of
    memory.  */
json_t *zo_json_string (zo_span_t text);

#endif
