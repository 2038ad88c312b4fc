/*  zo_loop: the one event loop of an actor process (see zo_loop.h).

    Watched items live in two parallel arrays: the zmq_pollitem_t array
    handed to zmq_poll as is, and our handler records. Removing an item
    while handlers run only marks it; the arrays are compacted after the
    dispatch pass, so indexes stay valid while we walk them.

    Timers live in a slot array (stable records) ordered by a binary
    min-heap of slot numbers keyed by (deadline, sequence); the sequence
    makes ties run in creation order. Timer ids are a 31-bit counter, so
    an id comes back only after two billion timers; a small open-addressing
    map finds the slot of an id, which makes cancel O(log n) with no lazy
    garbage left in the heap.

    Nothing here allocates per iteration: the arrays only grow when items
    or timers are added.
*/
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_loop.h"

#define ZO_LOOP_MAX_ITEMS   4096        /* sockets + fds watched at once */
#define ZO_LOOP_MAX_TIMERS  (1 << 24)   /* timers pending at once */
#define ZO_LOOP_MAX_SIGNALS 65

typedef struct {
    zo_loop_socket_fn *socket_fn;
    zo_loop_fd_fn *fd_fn;
    void *arg;
    bool dead;                  /* removed; compacted after dispatch */
} s_item_t;

typedef struct {
    uint64_t deadline;          /* ns, by the loop's clock */
    uint64_t seq;               /* creation order, breaks deadline ties */
    uint64_t interval;          /* ns; 0 for a one-shot timer */
    zo_loop_timer_fn *fn;
    void *arg;
    int id;                     /* 0 while the slot is free */
    uint32_t heap_pos;
    uint32_t next_free;
} s_timer_t;

struct _zo_loop_t {
    //  Watched sockets and fds
    zmq_pollitem_t *pollset;
    s_item_t *items;
    size_t n_items;
    size_t max_items;
    bool dispatching;           /* inside the dispatch pass */
    bool need_compact;

    //  Timers
    s_timer_t *slots;
    uint32_t n_slots;
    uint32_t max_slots;
    uint32_t free_head;         /* UINT32_MAX when none */
    uint32_t *heap;             /* slot numbers */
    uint32_t heap_size;
    int *map_keys;              /* id -> slot, open addressing; 0 = empty */
    uint32_t *map_vals;
    uint32_t map_cap;           /* power of two */
    uint32_t map_used;
    int next_id;
    uint64_t next_seq;

    //  Signals
    int signal_fd;
    sigset_t signal_mask;
    zo_loop_signal_fn *signal_fn [ZO_LOOP_MAX_SIGNALS];
    void *signal_arg [ZO_LOOP_MAX_SIGNALS];

    //  Everything else
    zo_loop_hook_fn *before_sleep;
    void *before_sleep_arg;
    uint64_t spin_ns;
    zo_clock_fn *clock;
    void *clock_arg;
    uint64_t now;               /* cached once per iteration */
    bool running;
    bool stopped;
};


uint64_t
zo_clock_mono_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

uint64_t
zo_clock_wall_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static uint64_t
s_clock_mono (void *arg)
{
    (void) arg;
    return zo_clock_mono_ns ();
}

static uint64_t
s_sat_add (uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b? UINT64_MAX: a + b;
}

static uint64_t
s_ms_to_ns (uint64_t ms)
{
    return ms > UINT64_MAX / 1000000u? UINT64_MAX: ms * 1000000u;
}

void
zo_signals_block (void)
{
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGHUP);
    sigaddset (&set, SIGCHLD);
    sigaddset (&set, SIGUSR1);
    pthread_sigmask (SIG_BLOCK, &set, NULL);
    signal (SIGPIPE, SIG_IGN);
}


//  --------------------------------------------------------------------------
//  Constructor and destructor

zo_loop_t *
zo_loop_new (void)
{
    zo_loop_t *self = (zo_loop_t *) calloc (1, sizeof (zo_loop_t));
    if (!self)
        return NULL;
    self->max_items = 16;
    self->pollset = (zmq_pollitem_t *) calloc (self->max_items, sizeof (zmq_pollitem_t));
    self->items = (s_item_t *) calloc (self->max_items, sizeof (s_item_t));
    self->map_cap = 64;
    self->map_keys = (int *) calloc (self->map_cap, sizeof (int));
    self->map_vals = (uint32_t *) calloc (self->map_cap, sizeof (uint32_t));
    if (!self->pollset || !self->items || !self->map_keys || !self->map_vals)
        goto err;
    self->free_head = UINT32_MAX;
    self->next_id = 1;
    self->signal_fd = -1;
    sigemptyset (&self->signal_mask);
    self->clock = s_clock_mono;
    self->now = zo_clock_mono_ns ();
    return self;
err:
    zo_loop_destroy (&self);
    return NULL;
}

void
zo_loop_destroy (zo_loop_t **self_p)
{
    assert (self_p);
    zo_loop_t *self = *self_p;
    if (!self)
        return;
    if (self->signal_fd >= 0)
        close (self->signal_fd);
    free (self->pollset);
    free (self->items);
    free (self->slots);
    free (self->heap);
    free (self->map_keys);
    free (self->map_vals);
    free (self);
    *self_p = NULL;
}


//  --------------------------------------------------------------------------
//  Watched items

static int
s_item_add (zo_loop_t *self, void *socket, int fd, short events,
            zo_loop_socket_fn *socket_fn, zo_loop_fd_fn *fd_fn, void *arg)
{
    if (self->n_items == self->max_items) {
        if (self->max_items >= ZO_LOOP_MAX_ITEMS)
            return -1;
        size_t max = self->max_items * 2;
        zmq_pollitem_t *pollset = (zmq_pollitem_t *)
            realloc (self->pollset, max * sizeof (zmq_pollitem_t));
        if (!pollset)
            return -1;
        self->pollset = pollset;
        s_item_t *items = (s_item_t *) realloc (self->items, max * sizeof (s_item_t));
        if (!items)
            return -1;
        self->items = items;
        self->max_items = max;
    }
    self->pollset [self->n_items] = (zmq_pollitem_t) {
        .socket = socket, .fd = fd, .events = events, .revents = 0
    };
    self->items [self->n_items] = (s_item_t) {
        .socket_fn = socket_fn, .fd_fn = fd_fn, .arg = arg, .dead = false
    };
    self->n_items++;
    return 0;
}

//  Drops the items marked dead, keeping the order of the others.
static void
s_items_compact (zo_loop_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->n_items; i++) {
        if (self->items [i].dead)
            continue;
        if (kept != i) {
            self->pollset [kept] = self->pollset [i];
            self->items [kept] = self->items [i];
        }
        kept++;
    }
    self->n_items = kept;
    self->need_compact = false;
}

static void
s_item_kill (zo_loop_t *self, size_t index)
{
    self->items [index].dead = true;
    //  A dead item must not fire even if it is polled before compaction.
    self->pollset [index].events = 0;
    self->pollset [index].revents = 0;
    self->need_compact = true;
}

int
zo_loop_add_socket (zo_loop_t *self, void *socket, zo_loop_socket_fn *fn, void *arg)
{
    assert (self);
    assert (socket);
    assert (fn);
    return s_item_add (self, socket, -1, ZMQ_POLLIN, fn, NULL, arg);
}

int
zo_loop_add_fd (zo_loop_t *self, int fd, short events, zo_loop_fd_fn *fn, void *arg)
{
    assert (self);
    assert (fd >= 0);
    assert (fn);
    return s_item_add (self, NULL, fd, events, NULL, fn, arg);
}

void
zo_loop_set_fd_events (zo_loop_t *self, int fd, short events)
{
    assert (self);
    for (size_t i = 0; i < self->n_items; i++)
        if (!self->pollset [i].socket && self->pollset [i].fd == fd
        && !self->items [i].dead)
            self->pollset [i].events = events;
}

void
zo_loop_remove_socket (zo_loop_t *self, void *socket)
{
    assert (self);
    for (size_t i = 0; i < self->n_items; i++)
        if (self->pollset [i].socket == socket && !self->items [i].dead)
            s_item_kill (self, i);
    if (!self->dispatching && self->need_compact)
        s_items_compact (self);
}

void
zo_loop_remove_fd (zo_loop_t *self, int fd)
{
    assert (self);
    for (size_t i = 0; i < self->n_items; i++)
        if (!self->pollset [i].socket && self->pollset [i].fd == fd
        && !self->items [i].dead)
            s_item_kill (self, i);
    if (!self->dispatching && self->need_compact)
        s_items_compact (self);
}


//  --------------------------------------------------------------------------
//  The id -> slot map: linear probing, at most half full, deletion by
//  backward shift so no tombstones build up.

static uint32_t
s_map_home (const zo_loop_t *self, int id)
{
    return ((uint32_t) id * 2654435761u) & (self->map_cap - 1);
}

static uint32_t
s_map_find (const zo_loop_t *self, int id)
{
    uint32_t mask = self->map_cap - 1;
    for (uint32_t i = s_map_home (self, id);; i = (i + 1) & mask) {
        if (self->map_keys [i] == id)
            return self->map_vals [i];
        if (self->map_keys [i] == 0)
            return UINT32_MAX;
    }
}

static void
s_map_put_raw (zo_loop_t *self, int id, uint32_t slot)
{
    uint32_t mask = self->map_cap - 1;
    uint32_t i = s_map_home (self, id);
    while (self->map_keys [i] != 0)
        i = (i + 1) & mask;
    self->map_keys [i] = id;
    self->map_vals [i] = slot;
}

//  Makes room for one more entry (the map stays at most half full).
static int
s_map_reserve (zo_loop_t *self)
{
    if ((self->map_used + 1) * 2 <= self->map_cap)
        return 0;
    uint32_t old_cap = self->map_cap;
    int *old_keys = self->map_keys;
    uint32_t *old_vals = self->map_vals;
    int *keys = (int *) calloc ((size_t) old_cap * 2, sizeof (int));
    uint32_t *vals = (uint32_t *) calloc ((size_t) old_cap * 2, sizeof (uint32_t));
    if (!keys || !vals) {
        free (keys);
        free (vals);
        return -1;
    }
    self->map_keys = keys;
    self->map_vals = vals;
    self->map_cap = old_cap * 2;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old_keys [i])
            s_map_put_raw (self, old_keys [i], old_vals [i]);
    free (old_keys);
    free (old_vals);
    return 0;
}

static void
s_map_delete (zo_loop_t *self, int id)
{
    uint32_t mask = self->map_cap - 1;
    uint32_t i = s_map_home (self, id);
    while (self->map_keys [i] != id) {
        if (self->map_keys [i] == 0)
            return;
        i = (i + 1) & mask;
    }
    //  Shift back every following entry that would no longer be reachable.
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; self->map_keys [j] != 0; j = (j + 1) & mask) {
        uint32_t home = s_map_home (self, self->map_keys [j]);
        //  Entry j may fill the hole if its home is not in (hole, j].
        bool between = hole <= j? (home > hole && home <= j)
                                : (home > hole || home <= j);
        if (!between) {
            self->map_keys [hole] = self->map_keys [j];
            self->map_vals [hole] = self->map_vals [j];
            hole = j;
        }
    }
    self->map_keys [hole] = 0;
    self->map_used--;
}


//  --------------------------------------------------------------------------
//  The timer heap

static bool
s_timer_before (const zo_loop_t *self, uint32_t a, uint32_t b)
{
    const s_timer_t *ta = &self->slots [a];
    const s_timer_t *tb = &self->slots [b];
    return ta->deadline < tb->deadline
        || (ta->deadline == tb->deadline && ta->seq < tb->seq);
}

static void
s_heap_set (zo_loop_t *self, uint32_t pos, uint32_t slot)
{
    self->heap [pos] = slot;
    self->slots [slot].heap_pos = pos;
}

static void
s_heap_up (zo_loop_t *self, uint32_t pos)
{
    uint32_t slot = self->heap [pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!s_timer_before (self, slot, self->heap [parent]))
            break;
        s_heap_set (self, pos, self->heap [parent]);
        pos = parent;
    }
    s_heap_set (self, pos, slot);
}

static void
s_heap_down (zo_loop_t *self, uint32_t pos)
{
    uint32_t slot = self->heap [pos];
    while (true) {
        uint32_t child = pos * 2 + 1;
        if (child >= self->heap_size)
            break;
        if (child + 1 < self->heap_size
        && s_timer_before (self, self->heap [child + 1], self->heap [child]))
            child++;
        if (!s_timer_before (self, self->heap [child], slot))
            break;
        s_heap_set (self, pos, self->heap [child]);
        pos = child;
    }
    s_heap_set (self, pos, slot);
}

static void
s_heap_remove (zo_loop_t *self, uint32_t pos)
{
    assert (pos < self->heap_size);
    self->heap_size--;
    if (pos == self->heap_size)
        return;
    s_heap_set (self, pos, self->heap [self->heap_size]);
    if (pos > 0 && s_timer_before (self, self->heap [pos], self->heap [(pos - 1) / 2]))
        s_heap_up (self, pos);
    else
        s_heap_down (self, pos);
}

//  Releases a timer that is no longer in the heap.
static void
s_timer_free (zo_loop_t *self, uint32_t slot)
{
    s_map_delete (self, self->slots [slot].id);
    self->slots [slot].id = 0;
    self->slots [slot].fn = NULL;
    self->slots [slot].next_free = self->free_head;
    self->free_head = slot;
}

static void
s_refresh_now (zo_loop_t *self)
{
    self->now = self->clock (self->clock_arg);
}

static int
s_timer_new (zo_loop_t *self, uint64_t delay_ns, uint64_t interval_ns,
             zo_loop_timer_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    //  Outside zo_loop_run the cached time may be old: read the clock.
    if (!self->running)
        s_refresh_now (self);

    //  Make room first, so nothing needs undoing on failure.
    if (self->free_head == UINT32_MAX && self->n_slots == self->max_slots) {
        if (self->max_slots >= ZO_LOOP_MAX_TIMERS)
            return -1;
        uint32_t max = self->max_slots? self->max_slots * 2: 16;
        s_timer_t *slots = (s_timer_t *) realloc (self->slots, max * sizeof (s_timer_t));
        if (!slots)
            return -1;
        self->slots = slots;
        uint32_t *heap = (uint32_t *) realloc (self->heap, max * sizeof (uint32_t));
        if (!heap)
            return -1;
        self->heap = heap;
        self->max_slots = max;
    }
    if (s_map_reserve (self))
        return -1;

    //  Ids are never 0 and skip any id still in use after a wrap.
    int id;
    do {
        id = self->next_id;
        self->next_id = self->next_id == INT_MAX? 1: self->next_id + 1;
    } while (s_map_find (self, id) != UINT32_MAX);

    uint32_t slot = self->free_head;
    if (slot != UINT32_MAX)
        self->free_head = self->slots [slot].next_free;
    else
        slot = self->n_slots++;
    s_map_put_raw (self, id, slot);
    self->map_used++;

    s_timer_t *timer = &self->slots [slot];
    timer->deadline = s_sat_add (self->now, delay_ns);
    timer->seq = self->next_seq++;
    timer->interval = interval_ns;
    timer->fn = fn;
    timer->arg = arg;
    timer->id = id;
    timer->next_free = UINT32_MAX;
    self->heap [self->heap_size] = slot;
    timer->heap_pos = self->heap_size++;
    s_heap_up (self, timer->heap_pos);
    return id;
}

int
zo_loop_timer (zo_loop_t *self, uint64_t delay_ms, zo_loop_timer_fn *fn, void *arg)
{
    return s_timer_new (self, s_ms_to_ns (delay_ms), 0, fn, arg);
}

int
zo_loop_timer_ns (zo_loop_t *self, uint64_t delay_ns, zo_loop_timer_fn *fn, void *arg)
{
    return s_timer_new (self, delay_ns, 0, fn, arg);
}

int
zo_loop_ticker (zo_loop_t *self, uint64_t interval_ms, zo_loop_timer_fn *fn, void *arg)
{
    //  A zero interval would spin; the smallest ticker is 1 ms.
    uint64_t interval_ns = s_ms_to_ns (interval_ms? interval_ms: 1);
    return s_timer_new (self, interval_ns, interval_ns, fn, arg);
}

void
zo_loop_cancel (zo_loop_t *self, int id)
{
    assert (self);
    if (id <= 0)
        return;
    uint32_t slot = s_map_find (self, id);
    if (slot == UINT32_MAX)
        return;
    s_heap_remove (self, self->slots [slot].heap_pos);
    s_timer_free (self, slot);
}

//  Runs the timers due by the cached time that existed when the pass
//  began; timers made during the pass wait for the next one, so a handler
//  that re-arms a zero-delay timer cannot starve the loop.
static int
s_run_timers (zo_loop_t *self)
{
    int ran = 0;
    uint64_t seq_limit = self->next_seq;
    while (self->heap_size > 0 && !self->stopped) {
        uint32_t slot = self->heap [0];
        s_timer_t *timer = &self->slots [slot];
        if (timer->deadline > self->now || timer->seq >= seq_limit)
            break;
        int id = timer->id;
        zo_loop_timer_fn *fn = timer->fn;
        void *arg = timer->arg;
        if (timer->interval) {
            //  Tickers keep their phase; after a stall they skip the
            //  missed beats instead of firing in a burst.
            uint64_t next = s_sat_add (timer->deadline, timer->interval);
            if (next <= self->now)
                next = s_sat_add (self->now, timer->interval);
            timer->deadline = next;
            timer->seq = self->next_seq++;
            s_heap_down (self, 0);
        }
        else {
            s_heap_remove (self, 0);
            s_timer_free (self, slot);
        }
        ran++;
        if (fn (self, id, arg) == -1)
            self->stopped = true;
    }
    return ran;
}

int
zo_loop_run_timers (zo_loop_t *self)
{
    assert (self);
    s_refresh_now (self);
    if (!self->running)
        self->stopped = false;
    return s_run_timers (self);
}


//  --------------------------------------------------------------------------
//  Signals

static int
s_signal_ready (zo_loop_t *self, int fd, short revents, void *arg)
{
    struct signalfd_siginfo info [8];
    while (true) {
        ssize_t rc = read (fd, info, sizeof (info));
        if (rc <= 0)
            break;              //  EAGAIN: all read
        size_t count = (size_t) rc / sizeof (info [0]);
        for (size_t i = 0; i < count; i++) {
            int signum = (int) info [i].ssi_signo;
            if (signum > 0 && signum < ZO_LOOP_MAX_SIGNALS && self->signal_fn [signum])
                if (self->signal_fn [signum] (self, signum, self->signal_arg [signum]) == -1)
                    return -1;
        }
    }
    return 0;
}

int
zo_loop_on_signal (zo_loop_t *self, int signum, zo_loop_signal_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    if (signum <= 0 || signum >= ZO_LOOP_MAX_SIGNALS)
        return -1;
    sigset_t mask = self->signal_mask;
    sigaddset (&mask, signum);
    //  The signal must be blocked to be read from a signalfd; block it here
    //  too in case zo_signals_block was not called (or does not cover it).
    sigset_t one;
    sigemptyset (&one);
    sigaddset (&one, signum);
    pthread_sigmask (SIG_BLOCK, &one, NULL);

    int fd = signalfd (self->signal_fd, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (self->signal_fd < 0) {
        if (zo_loop_add_fd (self, fd, ZMQ_POLLIN, s_signal_ready, NULL)) {
            close (fd);
            return -1;
        }
        self->signal_fd = fd;
    }
    self->signal_mask = mask;
    self->signal_fn [signum] = fn;
    self->signal_arg [signum] = arg;
    return 0;
}


//  --------------------------------------------------------------------------
//  Running

void
zo_loop_set_before_sleep (zo_loop_t *self, zo_loop_hook_fn *fn, void *arg)
{
    assert (self);
    self->before_sleep = fn;
    self->before_sleep_arg = arg;
}

void
zo_loop_set_spin (zo_loop_t *self, uint32_t spin_us)
{
    assert (self);
    self->spin_ns = (uint64_t) spin_us * 1000u;
}

//  Milliseconds zmq_poll may block: until the next timer, rounded up so
//  we never wake before it is due; -1 when there is no timer.
static long
s_timeout_ms (zo_loop_t *self)
{
    if (self->heap_size == 0)
        return -1;
    uint64_t deadline = self->slots [self->heap [0]].deadline;
    if (deadline <= self->now)
        return 0;
    uint64_t ms = (deadline - self->now + 999999u) / 1000000u;
    return ms > (uint64_t) INT_MAX? INT_MAX: (long) ms;
}

static int
s_poll (zo_loop_t *self)
{
    long timeout = s_timeout_ms (self);
    if (self->spin_ns && timeout != 0) {
        uint64_t end = s_sat_add (self->now, self->spin_ns);
        if (self->heap_size && self->slots [self->heap [0]].deadline < end)
            end = self->slots [self->heap [0]].deadline;
        while (true) {
            int rc = zmq_poll (self->pollset, (int) self->n_items, 0);
            if (rc != 0)
                return rc;
            s_refresh_now (self);
            if (self->now >= end)
                break;
        }
        timeout = s_timeout_ms (self);
        if (timeout == 0)
            return 0;
    }
    return zmq_poll (self->pollset, (int) self->n_items, timeout);
}

static void
s_dispatch (zo_loop_t *self)
{
    self->dispatching = true;
    //  Items added by handlers go past n and wait for the next poll.
    size_t n = self->n_items;
    for (size_t i = 0; i < n && !self->stopped; i++) {
        short revents = self->pollset [i].revents;
        if (!revents || self->items [i].dead)
            continue;
        self->pollset [i].revents = 0;
        s_item_t item = self->items [i];
        int rc;
        if (item.socket_fn)
            rc = item.socket_fn (self, self->pollset [i].socket, item.arg);
        else
            rc = item.fd_fn (self, self->pollset [i].fd, revents, item.arg);
        if (rc == -1)
            self->stopped = true;
    }
    self->dispatching = false;
    if (self->need_compact)
        s_items_compact (self);
}

int
zo_loop_run (zo_loop_t *self)
{
    assert (self);
    assert (!self->running);
    self->running = true;
    self->stopped = false;
    int result = 0;
    s_refresh_now (self);
    while (!self->stopped) {
        s_run_timers (self);
        if (self->stopped)
            break;
        if (self->before_sleep
        &&  self->before_sleep (self, self->before_sleep_arg) == -1)
            break;
        if (self->stopped)
            break;
        if (self->n_items == 0 && self->heap_size == 0)
            break;              //  Nothing could ever wake us.
        int rc = s_poll (self);
        s_refresh_now (self);
        if (rc == -1) {
            if (errno == EINTR)
                continue;
            result = -1;
            break;
        }
        if (rc > 0)
            s_dispatch (self);
    }
    self->running = false;
    self->stopped = false;
    return result;
}

void
zo_loop_stop (zo_loop_t *self)
{
    assert (self);
    self->stopped = true;
}

uint64_t
zo_loop_now_ns (zo_loop_t *self)
{
    assert (self);
    if (!self->running)
        s_refresh_now (self);
    return self->now;
}

uint64_t
zo_loop_now_ms (zo_loop_t *self)
{
    return zo_loop_now_ns (self) / 1000000u;
}

void
zo_loop_set_clock (zo_loop_t *self, zo_clock_fn *fn, void *arg)
{
    assert (self);
    self->clock = fn? fn: s_clock_mono;
    self->clock_arg = fn? arg: NULL;
    s_refresh_now (self);
}
