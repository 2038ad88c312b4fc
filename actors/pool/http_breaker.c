/*  http_breaker: a service's health, its circuit breaker and its health
    probe (see http.h for what they promise, http_int.h for the state).

    The breaker counts a request's final outcome (not each attempt), so
    that breaker_failures means requests, as a user would count them.
*/
#include "http_int.h"

#include <czmq.h>

//  -------------------------------------------------------------------------
//  Health and the breaker

void
zo__http_set_health (http_service_t *svc)
{
    uint64_t now = zo_loop_now_ms (svc->owner->loop);
    zo_health_t health = svc->breaker != B_CLOSED? ZO_HEALTH_DOWN:
                         svc->degraded || svc->paused_until_ms > now? ZO_HEALTH_DEGRADED:
                         ZO_HEALTH_UP;
    if (health != svc->health)
        zsys_info ("pool: service %s is %s", svc->name, zo_health_name (health));
    svc->health = health;
    *svc->gauges [G_UP] = health != ZO_HEALTH_DOWN? 1: 0;
    *svc->gauges [G_HEALTH] = (double) health;
}

static void s_probe (http_service_t *svc);

static int
s_on_breaker (zo_loop_t *loop, int id, void *arg)
{
    http_service_t *svc = (http_service_t *) arg;
    svc->breaker_timer = 0;
    //  With a probe configured, it is the half-open trial; without, the
    //  next request is.
    if (svc->conf.health_interval_ms && !svc->probing)
        s_probe (svc);
    return 0;
}

static void
s_breaker_open (http_service_t *svc)
{
    svc->breaker = B_OPEN;
    svc->open_until_ms = zo_loop_now_ms (svc->owner->loop) + svc->conf.breaker_open_ms;
    if (svc->breaker_timer)
        zo_loop_cancel (svc->owner->loop, svc->breaker_timer);
    svc->breaker_timer = zo_loop_timer (svc->owner->loop, svc->conf.breaker_open_ms,
                                        s_on_breaker, svc);
    if (svc->breaker_timer < 0)
        svc->breaker_timer = 0;
    zsys_warning ("pool: service %s: circuit open for %" PRIu64 " ms after %u failures",
                  svc->name, svc->conf.breaker_open_ms, svc->failures);
    zo__http_set_health (svc);
    zo__http_reject_queue (svc);
}

void
zo__http_breaker_outcome (http_service_t *svc, bool ok, bool trial)
{
    if (ok) {
        svc->failures = 0;
        svc->degraded = false;
        if (svc->breaker != B_CLOSED) {
            zsys_info ("pool: service %s: circuit closed", svc->name);
            svc->breaker = B_CLOSED;
            if (svc->breaker_timer)
                zo_loop_cancel (svc->owner->loop, svc->breaker_timer);
            svc->breaker_timer = 0;
        }
        zo__http_set_health (svc);
        return;
    }
    svc->degraded = true;
    svc->failures++;
    if (svc->breaker == B_HALF_OPEN && trial)
        s_breaker_open (svc);
    else
    if (svc->breaker == B_CLOSED && svc->failures >= svc->conf.breaker_failures)
        s_breaker_open (svc);
    else
        zo__http_set_health (svc);
}

bool
zo__http_breaker_admits (http_service_t *svc, http_req_t *req)
{
    if (svc->breaker == B_CLOSED)
        return true;
    if (req->trial)
        return true;
    if (svc->breaker == B_OPEN && zo_loop_now_ms (svc->owner->loop) >= svc->open_until_ms) {
        svc->breaker = B_HALF_OPEN;
        req->trial = true;
        return true;
    }
    return false;
}

void
zo__http_reject_queue (http_service_t *svc)
{
    //  Trials are not queued: the circuit rejects whatever waits.
    while (svc->queue.head) {
        http_req_t *req = svc->queue.head;
        (*svc->counters [C_REJECTED])++;
        zo__http_fail_with (req, ZO_ERR_UNAVAILABLE, "the service's circuit is open");
        zo__http_finish (req);
    }
}

//  -------------------------------------------------------------------------
//  The probe

static void
s_on_probe (void *arg, const zo_http_result_t *result)
{
    http_service_t *svc = (http_service_t *) arg;
    svc->probing = false;
    //  The breaker counted the probe's outcome already (zo__http_on_done);
    //  a rejected probe says nothing about the server.
    if (result->error != ZO_ERR_NONE && result->error != ZO_ERR_UNAVAILABLE)
        zsys_debug ("pool: service %s: probe failed: %s", svc->name, result->reason);
}

static void
s_probe (http_service_t *svc)
{
    if (svc->probing || svc->owner->stopping)
        return;
    //  An open circuit before its time would reject the probe anyway.
    if (svc->breaker == B_HALF_OPEN
    || (svc->breaker == B_OPEN && zo_loop_now_ms (svc->owner->loop) < svc->open_until_ms))
        return;
    const char *method = svc->health_path? "GET": "HEAD";
    const char *path = svc->health_path? svc->health_path: "/";
    uint64_t timeout = svc->conf.timeout_ms < svc->conf.health_interval_ms?
                       svc->conf.timeout_ms: svc->conf.health_interval_ms;
    if (zo__http_request (svc, method, path, NULL, 0, NULL, 0, timeout, true,
                          s_on_probe, svc) == 0)
        svc->probing = true;
}

int
zo__http_on_probe_tick (zo_loop_t *loop, int id, void *arg)
{
    s_probe ((http_service_t *) arg);
    return 0;
}
