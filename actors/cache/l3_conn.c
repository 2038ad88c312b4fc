/*  l3_conn: the PostgreSQL level's connection (see l3_int.h): the setup
    after a connect, the retries after the backoff, the watchdog over a
    connection that stopped answering, and the cleanup of expired rows.
*/
#include "l3_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_actor.h"

static int s_on_retry (zo_loop_t *loop, int id, void *arg);

//  A retry after the backoff, jittered to between half of it and all of
//  it (so that the levels of many actors do not come back in step).
static void
s_retry_later (zo_l3_t *self)
{
    if (self->retry_timer)
        return;
    self->retry_timer = zo_loop_timer (self->loop, zo_backoff_next (&self->backoff), s_on_retry,
                                       self);
    if (self->retry_timer < 0) {
        self->retry_timer = 0;
        zo_log_error ("l3: out of memory for the reconnect timer: staying down");
    }
}

//  The connect failed, the setup failed, or the connection went down.
static void
s_down (zo_l3_t *self, const char *why)
{
    bool was_up = self->up;
    self->up = false;
    *self->g_up = 0;
    if (was_up || !self->down_told)
        zo_log_warning ("l3: %s: %s", was_up? "down": "cannot come up", why);
    if (!self->down_told) {
        self->down_told = true;
        if (self->opts.on_state) {
            self->opts.on_state (self->opts.arg, false, why);
            if (self->doomed)
                return;
        }
    }
    s_retry_later (self);
}

//  The setup failed on a working connection (an SQL error): close it, and
//  try again later on a new one.
static void
s_setup_failed (zo_l3_t *self, const char *why)
{
    (*self->errors)++;
    char text [256];
    snprintf (text, sizeof (text), "setup: %s", why);
    size_t len = strlen (text);
    while (len && text [len - 1] == '\n')
        text [--len] = 0;
    //  The setup's other requests come back, NULL, to a connection that is
    //  no longer self->pq: they are dropped.
    zo_pq_destroy (&self->pq);
    s_down (self, text);
}

void
zo__l3_on_setup (zo_l3_t *self, l3_op_t *op, zo_pq_t *pq, const PGresult *res, const char *error)
{
    zo__l3_unlink (self, op);
    zo__l3_op_free (op);
    if (pq != self->pq || !res)
        return;                     //  dropped, or going down: on_state will say
    if (error) {
        s_setup_failed (self, error);
        return;
    }
    if (--self->setup_left)
        return;
    self->up = true;
    self->down_told = false;
    zo_backoff_reset (&self->backoff);
    *self->g_up = 1;
    zo_log_info ("l3: up, table \"%s\"", self->opts.table);
    if (self->opts.on_state)
        self->opts.on_state (self->opts.arg, true, NULL);
}

//  Connected: make the table and prepare the statements, all at once in
//  the pipeline.
static void
s_setup (zo_l3_t *self)
{
    self->setup_left = 0;
    for (int i = 0; i < Q_COUNT + P_COUNT; i++) {
        l3_op_t *op = (l3_op_t *) calloc (1, sizeof (l3_op_t));
        int rc = -1;
        if (op) {
            op->self = self;
            op->kind = K_SETUP;
            if (i < Q_COUNT)
                rc = zo_pq_send (self->pq, self->setup [i], 0, NULL, NULL, NULL, NULL, 0,
                                 zo__l3_on_result, op);
            else {
                const zo__l3_stmt_t *stmt = &zo__l3_stmts [i - Q_COUNT];
                rc = zo_pq_prepare (self->pq, stmt->name, self->sql [i - Q_COUNT],
                                    stmt->n_params, stmt->types, zo__l3_on_result, op);
            }
        }
        else
            errno = ENOMEM;
        if (rc) {
            free (op);
            s_setup_failed (self, strerror (errno));
            return;
        }
        zo__l3_link (self, op);
        self->setup_left++;
    }
}

void
zo__l3_on_pq_state (zo_pq_t *pq, bool up, const char *error, void *arg)
{
    zo_l3_t *self = (zo_l3_t *) arg;
    self->depth++;
    self->pq_dying = false;
    if (pq == self->pq && !self->doomed) {
        if (up)
            s_setup (self);
        else
            s_down (self, error);
    }
    zo__l3_leave (self);
}

static int
s_on_retry (zo_loop_t *loop, int id, void *arg)
{
    zo_l3_t *self = (zo_l3_t *) arg;
    self->retry_timer = 0;
    (*self->reconnects)++;
    if (!self->pq) {
        zo_pq_opts_t opts = { .on_state = zo__l3_on_pq_state, .arg = self,
                              .connect_timeout_ms = self->opts.connect_timeout_ms,
                              .max_inflight = self->opts.max_inflight + ZO_L3_HEADROOM };
        self->pq = zo_pq_new (self->loop, self->conninfo, &opts);
    }
    if (!self->pq || zo_pq_connect (self->pq))
        s_retry_later (self);
    return 0;
}

//  A connection that answers nothing for this long while requests wait is
//  taken for dead (a stopped server, a network that drops everything):
//  on a working server every statement ends within statement_timeout.
uint64_t
zo__l3_hung_ms (const zo_l3_t *self)
{
    return 2 * self->opts.statement_timeout_ms + 1000;
}

int
zo__l3_on_watchdog (zo_loop_t *loop, int id, void *arg)
{
    zo_l3_t *self = (zo_l3_t *) arg;
    if (!self->pq || !self->ops
    ||  zo_loop_now_ms (loop) - self->answered_ms < zo__l3_hung_ms (self))
        return 0;
    char why [96];
    snprintf (why, sizeof (why), "no answer from the server in %" PRIu64 " ms",
              zo__l3_hung_ms (self));
    self->depth++;
    //  Fails every request: the callers hear ERROR, and may destroy us.
    zo_pq_destroy (&self->pq);
    if (!self->doomed)
        s_down (self, why);
    zo__l3_leave (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Cleanup

static int
s_cleanup_send (zo_l3_t *self, l3_op_t *op)
{
    unsigned char limit [8];
    zo__l3_put64 (limit, self->opts.cleanup_batch);
    const char *values [] = { (const char *) limit };
    int lengths [] = { 8 };
    return zo__l3_send (self, op, P_CLEANUP, values, lengths);
}

int
zo__l3_on_cleanup_tick (zo_loop_t *loop, int id, void *arg)
{
    zo_l3_t *self = (zo_l3_t *) arg;
    if (!self->up || self->cleaning)
        return 0;
    l3_op_t *op = (l3_op_t *) calloc (1, sizeof (l3_op_t));
    if (!op)
        return 0;
    op->self = self;
    op->kind = K_CLEANUP;
    if (s_cleanup_send (self, op)) {
        free (op);
        return 0;
    }
    zo__l3_link (self, op);
    self->cleaning = true;
    return 0;
}

//  A batch of the cleanup done: another while they come full.
void
zo__l3_on_cleanup (zo_l3_t *self, l3_op_t *op, const PGresult *res, const char *error)
{
    if (res && !error) {
        uint64_t rows = zo__l3_rows (res);
        *self->expired += rows;
        if (rows >= self->opts.cleanup_batch && self->up && s_cleanup_send (self, op) == 0)
            return;
    }
    else
    if (res) {
        (*self->errors)++;
        zo_log_warning ("l3: cleanup: %s", error);
    }
    self->cleaning = false;
    zo__l3_unlink (self, op);
    zo__l3_op_free (op);
}
