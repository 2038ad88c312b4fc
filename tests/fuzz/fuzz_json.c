/*  fuzz_json: libFuzzer target for msgpack -> JSON (zo_json_from_span),
    the path every result and dead letter takes to `zorch inject --results`
    and `zorch dlq list --json`.

    Any bytes must give either NULL or a JSON value; a value must print,
    and packing it back to msgpack (zo_json_pack) must succeed and convert
    to JSON again equal to the first one (bin and ext aside, which do not
    survive the trip, the conversion is lossless).
*/
#include <assert.h>
#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "zo_json.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zo_span_t span = { data, (uint32_t) (size > UINT32_MAX ? UINT32_MAX : size) };
    json_t *json = zo_json_from_span (span);
    if (!json)
        return 0;
    char *text = json_dumps (json, JSON_ENCODE_ANY | JSON_COMPACT);
    assert (text);
    free (text);

    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    if (zo_json_pack (&pk, json) == 0) {
        zo_span_t again_span = { (const uint8_t *) buf.data, (uint32_t) buf.size };
        json_t *again = zo_json_from_span (again_span);
        assert (again);
        /*  Floats may lose nothing (float64 both ways), so the two must be
            equal; jansson compares reals exactly.  */
        assert (json_equal (json, again));
        json_decref (again);
    }
    msgpack_sbuffer_destroy (&buf);
    json_decref (json);
    return 0;
}
