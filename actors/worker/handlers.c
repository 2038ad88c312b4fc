/*  handlers: see handlers.h.  */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_noop_start (zo_slot_t *slot)
{
    zo_slot_complete (slot, true, (zo_span_t) { NULL, 0 }, NULL, false);
}

static void
s_echo_start (zo_slot_t *slot)
{
    zo_slot_complete (slot, true, slot->item.event.payload, NULL, false);
}

static void
s_fail_start (zo_slot_t *slot)
{
    zo_slot_complete (slot, false, (zo_span_t) { NULL, 0 }, "fail handler", false);
}

/*  sleep: route->state holds the default ms (as an integer).  */
static int
s_sleep_bind (zo_route_t *route, char *why, size_t why_size)
{
    const char *ms = zo_route_opt (route, "ms", "0");
    int64_t value = zo_routes_parse_ms (ms);
    if (value < 0) {
        snprintf (why, why_size, "bad ms '%s'", ms);
        return -1;
    }
    route->state = (void *) (uintptr_t) value;
    return 0;
}

/*  A sleeping event's state: its timer.  */
typedef struct {
    int timer;
} s_sleep_t;

static int
s_sleep_done (zo_loop_t *loop, int id, void *arg)
{
    zo_slot_t *slot = arg;
    ((s_sleep_t *) zo_slot_state (slot))->timer = 0;
    zo_slot_complete (slot, true, (zo_span_t) { NULL, 0 }, NULL, false);
    return 0;
}

static void
s_sleep_start (zo_slot_t *slot)
{
    uint64_t ms = (uint64_t) (uintptr_t) slot->route->state;
    uint64_t from_payload;
    if (zo_handlers_map_u64 (slot->item.event.payload, "ms", &from_payload) == 0)
        ms = from_payload;
    int id = zo_loop_timer (zo_inflight_loop (slot->owner), ms, s_sleep_done, slot);
    if (id < 0)
        zo_slot_complete (slot, false, (zo_span_t) { NULL, 0 }, "sleep: out of memory", false);
    else
        ((s_sleep_t *) zo_slot_state (slot))->timer = id;
}

static void
s_sleep_cancel (zo_slot_t *slot)
{
    s_sleep_t *sleep = zo_slot_state (slot);
    if (sleep->timer)
        zo_loop_cancel (zo_inflight_loop (slot->owner), sleep->timer);
    sleep->timer = 0;
}

const zo_kind_t zo_kind_noop = { .name = "noop", .start = s_noop_start };
const zo_kind_t zo_kind_echo = { .name = "echo", .start = s_echo_start };
const zo_kind_t zo_kind_fail = { .name = "fail", .start = s_fail_start };
const zo_kind_t zo_kind_sleep = {
    .name = "sleep", .event_size = sizeof (s_sleep_t),
    .bind = s_sleep_bind, .start = s_sleep_start, .cancel = s_sleep_cancel
};

static const zo_kind_t *s_builtins [] = {
    &zo_kind_noop, &zo_kind_echo, &zo_kind_fail, &zo_kind_sleep, &zo_kind_exec, &zo_kind_cache,
    &zo_kind_http, &zo_kind_sql, &zo_kind_plugin
};

const zo_kind_t *
zo_handlers_find (const char *name)
{
    for (size_t i = 0; i < sizeof (s_builtins) / sizeof (s_builtins [0]); i++)
        if (strcmp (s_builtins [i]->name, name) == 0)
            return s_builtins [i];
    return NULL;
}

int
zo_handlers_bind (zo_route_t *route, char *why, size_t why_size)
{
    const zo_kind_t *kind = zo_handlers_find (route->handler);
    if (!kind)
        kind = &zo_kind_plugin;     /* a plugin by name, found in plugin_dir */
    if (kind->bind && kind->bind (route, why, why_size))
        return -1;
    route->kind = kind;
    return 0;
}

int
zo_handlers_map_u64 (zo_span_t map, const char *key, uint64_t *value)
{
    if (map.len == 0)
        return -1;
    zo_mp_t cur;
    zo_mp_init (&cur, map.ptr, map.len);
    uint32_t count;
    if (zo_mp_read_map (&cur, &count))
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        zo_span_t name;
        if (zo_mp_peek (&cur) == ZO_MP_STR) {
            if (zo_mp_read_str (&cur, &name))
                return -1;
            if (zo_span_eq (name, key)) {
                double real;
                if (zo_mp_read_u64 (&cur, value) == 0)
                    return 0;
                if (zo_mp_read_f64 (&cur, &real) == 0 && real >= 0 && real < 1e15) {
                    *value = (uint64_t) real;
                    return 0;
                }
                return -1;
            }
        }
        else
        if (zo_mp_skip (&cur, NULL))
            return -1;
        if (zo_mp_skip (&cur, NULL))
            return -1;
    }
    return -1;
}
