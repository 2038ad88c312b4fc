/*  template: see template.h.  */
#include "template.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_json.h"
#include "zo_mp.h"

static int
s_why (char *why, size_t why_size, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static int
s_why (char *why, size_t why_size, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (why, why_size, fmt, args);
    va_end (args);
    return -1;
}

static bool
s_root (const char *name, size_t len, const char *root)
{
    size_t n = strlen (root);
    return len == n && memcmp (name, root, n) == 0;
}

//  Walks tmpl, calling hole (name, len) for every hole and text for the
//  rest. -1 when a brace is unbalanced or a callback said so.
typedef int (s_part_fn) (const char *text, size_t len, bool hole, void *arg);

static int
s_walk (const char *tmpl, s_part_fn *fn, void *arg, char *why, size_t why_size)
{
    const char *p = tmpl;
    while (*p) {
        if ((p [0] == '{' && p [1] == '{') || (p [0] == '}' && p [1] == '}')) {
            if (fn (p, 1, false, arg))
                return -1;
            p += 2;
            continue;
        }
        if (*p == '}')
            return s_why (why, why_size, "a lone '}' at %d in '%s'", (int) (p - tmpl), tmpl);
        if (*p == '{') {
            const char *end = strchr (p + 1, '}');
            if (!end)
                return s_why (why, why_size, "an unclosed '{' in '%s'", tmpl);
            if (fn (p + 1, (size_t) (end - p - 1), true, arg))
                return -1;
            p = end + 1;
            continue;
        }
        size_t n = strcspn (p, "{}");
        if (fn (p, n, false, arg))
            return -1;
        p += n;
    }
    return 0;
}

typedef struct {
    char *why;
    size_t why_size;
} s_check_t;

static int
s_check_part (const char *text, size_t len, bool hole, void *arg)
{
    s_check_t *c = arg;
    if (!hole)
        return 0;
    if (s_root (text, len, "id") || s_root (text, len, "type") || s_root (text, len, "source")
    ||  s_root (text, len, "payload")
    ||  (len > 8 && memcmp (text, "payload.", 8) == 0 && text [len - 1] != '.'))
        return 0;
    return s_why (c->why, c->why_size, "{%.*s} is not id, type, source, payload or payload.<field>",
                  (int) len, text);
}

int
zo_template_check (const char *tmpl, char *why, size_t why_size)
{
    s_check_t c = { why, why_size };
    return s_walk (tmpl, s_check_part, &c, why, why_size);
}

int
zo_template_lookup (zo_span_t map, const char *path, size_t path_len, zo_span_t *value)
{
    zo_span_t at = map;
    while (path_len) {
        const char *dot = memchr (path, '.', path_len);
        size_t key_len = dot ? (size_t) (dot - path) : path_len;
        zo_mp_t cur;
        zo_mp_init (&cur, at.ptr, at.len);
        uint32_t count;
        if (at.len == 0 || zo_mp_peek (&cur) != ZO_MP_MAP || zo_mp_read_map (&cur, &count))
            return -1;
        bool found = false;
        for (uint32_t i = 0; i < count && !found; i++) {
            zo_span_t key = { NULL, 0 };
            if (zo_mp_peek (&cur) == ZO_MP_STR ? zo_mp_read_str (&cur, &key) : zo_mp_skip (&cur, NULL))
                return -1;
            found = key.ptr && key.len == key_len && memcmp (key.ptr, path, key_len) == 0;
            if (zo_mp_skip (&cur, found ? &at : NULL))
                return -1;
        }
        if (!found)
            return -1;
        path += key_len + (dot ? 1 : 0);
        path_len -= key_len + (dot ? 1 : 0);
    }
    *value = at;
    return 0;
}

typedef struct {
    const zo_event_t *event;
    char *out;
    size_t size, len;
    char *why;
    size_t why_size;
} s_fill_t;

static int
s_put (s_fill_t *f, const void *text, size_t len)
{
    if (f->len + len + 1 > f->size)
        return s_why (f->why, f->why_size, "the text is over %zu bytes", f->size - 1);
    memcpy (f->out + f->len, text, len);
    f->len += len;
    return 0;
}

//  A msgpack value as text: a string as it is, the rest as JSON.
static int
s_put_value (s_fill_t *f, zo_span_t value)
{
    zo_mp_t cur;
    zo_mp_init (&cur, value.ptr, value.len);
    zo_span_t str;
    if (zo_mp_peek (&cur) == ZO_MP_STR && zo_mp_read_str (&cur, &str) == 0)
        return s_put (f, str.ptr, str.len);
    json_t *json = zo_json_from_span (value);
    char *text = json ? json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref (json);
    if (!text)
        return s_why (f->why, f->why_size, "a value that is not JSON");
    int rc = s_put (f, text, strlen (text));
    free (text);
    return rc;
}

static int
s_fill_part (const char *text, size_t len, bool hole, void *arg)
{
    s_fill_t *f = arg;
    if (!hole)
        return s_put (f, text, len);
    const zo_event_t *e = f->event;
    if (s_root (text, len, "id"))
        return s_put (f, e->id.ptr, e->id.len);
    if (s_root (text, len, "type"))
        return s_put (f, e->type.ptr, e->type.len);
    if (s_root (text, len, "source"))
        return s_put (f, e->source.ptr, e->source.len);
    if (s_root (text, len, "payload")) {
        if (!e->payload.len)
            return s_why (f->why, f->why_size, "the event has no payload for {payload}");
        return s_put_value (f, e->payload);
    }
    zo_span_t value;
    if (len > 8 && zo_template_lookup (e->payload, text + 8, len - 8, &value) == 0)
        return s_put_value (f, value);
    return s_why (f->why, f->why_size, "the event has no {%.*s}", (int) len, text);
}

int
zo_template_expand (const char *tmpl, const zo_event_t *event, char *out, size_t size,
                    char *why, size_t why_size)
{
    s_fill_t f = { event, out, size, 0, why, why_size };
    if (size == 0 || s_walk (tmpl, s_fill_part, &f, why, why_size))
        return -1;
    out [f.len] = 0;
    return (int) f.len;
}
