/*  template: text with holes filled from an event, for the route options
    of built-in handlers (the cache's key, next the pool's path and body).

        "repo:{payload.repository.full_name}"   ->  "repo:octo/hello"

    A hole is {id}, {type}, {source}, {payload} (the whole payload as
    JSON) or {payload.a.b} (a field of the payload, by keys of nested maps:
    a string as it is, anything else as JSON). {{ and }} are literal
    braces. A hole naming a field the event does not have is an error: the
    caller fails the event, finally, since a retry would fail the same way.
*/
#ifndef ZO_TEMPLATE_H_INCLUDED
#define ZO_TEMPLATE_H_INCLUDED

#include <stddef.h>

#include "zo_proto.h"

/*  Checks a template when a route is read: balanced braces, holes that
    name id, type, source or payload[.path]. 0, or -1 with why.  */
int zo_template_check (const char *tmpl, char *why, size_t why_size);

/*  Fills tmpl from event into out (NUL-terminated). Returns the length,
    or -1 with why: a field missing, or the text over size - 1 bytes.  */
int zo_template_expand (const char *tmpl, const zo_event_t *event, char *out, size_t size,
                        char *why, size_t why_size);

/*  The value at a dotted path of keys into a msgpack map ("a.b"), as a
    span of its msgpack bytes. 0 found, -1 not.  */
int zo_template_lookup (zo_span_t map, const char *path, size_t path_len, zo_span_t *value);

#endif
