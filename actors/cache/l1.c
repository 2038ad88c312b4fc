/*  l1: see l1.h.

    Entries live in one hash table (chained, doubling) and on one of three
    LRU lists: the window (1 % of the budget), and the main part's
    probation and protected segments (protected up to 80 % of the main
    part). A new entry enters the window; the window's overflow competes
    for the main part against probation's least recent entry. A hit in
    probation promotes to protected; protected's overflow is demoted back
    to probation. With ZO_L1_LRU only the window list is used, as the
    whole budget.
*/
#include "l1.h"

#include <assert.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "zo_hash.h"

enum { S_WINDOW = 0, S_PROBATION, S_PROTECTED, S_LISTS };

typedef struct s_entry {
    struct s_entry *hnext;      /* hash chain */
    struct s_entry *prev, *next;    /* its list, MRU first */
    uint64_t hash;
    uint64_t expire_ns;         /* 0: never */
    uint32_t key_len, value_len;
    uint8_t list;
    bool stored;                /* value bytes held (else charged only) */
    uint8_t data [];            /* key, then value */
} s_entry_t;

typedef struct {
    s_entry_t *head, *tail;
    size_t bytes;
} s_list_t;

struct _zo_l1_t {
    zo_l1_policy_t policy;
    size_t budget, window_max, protected_max, main_max;
    s_entry_t **buckets;
    size_t n_buckets;           /* a power of two */
    s_list_t lists [S_LISTS];
    //  The frequency sketch: 4 rows of counters (0..15), halved every
    //  `sample` additions.
    uint8_t *sketch;
    size_t width;               /* counters per row, a power of two */
    uint64_t additions, sample;
    zo_l1_stats_t stats;
};

static size_t
s_charge (const s_entry_t *e)
{
    return ZO_L1_OVERHEAD + e->key_len + e->value_len;
}

//  ---------------------------------------------------------------------
//  The sketch

static size_t
s_slot (const zo_l1_t *self, uint64_t hash, int row)
{
    uint64_t step = (hash >> 32) | 1;
    return (size_t) row * self->width + (size_t) ((hash + (uint64_t) row * step) & (self->width - 1));
}

static void
s_record (zo_l1_t *self, uint64_t hash)
{
    for (int row = 0; row < 4; row++) {
        uint8_t *c = &self->sketch [s_slot (self, hash, row)];
        if (*c < 15)
            (*c)++;
    }
    if (++self->additions >= self->sample) {
        //  Age: halve every counter, so that old popularity fades.
        for (size_t i = 0; i < 4 * self->width; i++)
            self->sketch [i] >>= 1;
        self->additions /= 2;
    }
}

static uint8_t
s_frequency (const zo_l1_t *self, uint64_t hash)
{
    uint8_t least = 15;
    for (int row = 0; row < 4; row++) {
        uint8_t c = self->sketch [s_slot (self, hash, row)];
        if (c < least)
            least = c;
    }
    return least;
}

//  ---------------------------------------------------------------------
//  Lists

static void
s_unlink (zo_l1_t *self, s_entry_t *e)
{
    s_list_t *l = &self->lists [e->list];
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
    l->bytes -= s_charge (e);
}

static void
s_push (zo_l1_t *self, s_entry_t *e, int list)
{
    s_list_t *l = &self->lists [list];
    e->list = (uint8_t) list;
    e->prev = NULL;
    e->next = l->head;
    if (l->head)
        l->head->prev = e;
    else
        l->tail = e;
    l->head = e;
    l->bytes += s_charge (e);
}

//  ---------------------------------------------------------------------
//  The table

static s_entry_t **
s_find (zo_l1_t *self, const void *key, size_t len, uint64_t hash)
{
    s_entry_t **link = &self->buckets [hash & (self->n_buckets - 1)];
    for (; *link; link = &(*link)->hnext)
        if ((*link)->hash == hash && (*link)->key_len == len && memcmp ((*link)->data, key, len) == 0)
            return link;
    return link;
}

static void
s_grow (zo_l1_t *self)
{
    size_t n = self->n_buckets * 2;
    s_entry_t **buckets = calloc (n, sizeof *buckets);
    if (!buckets)
        return;                 //  longer chains, still correct
    for (size_t i = 0; i < self->n_buckets; i++)
        for (s_entry_t *e = self->buckets [i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = buckets [e->hash & (n - 1)];
            buckets [e->hash & (n - 1)] = e;
        }
    free (self->buckets);
    self->buckets = buckets;
    self->n_buckets = n;
}

//  Takes e out of the table and its list and frees it.
static void
s_remove (zo_l1_t *self, s_entry_t *e)
{
    s_entry_t **link = s_find (self, e->data, e->key_len, e->hash);
    assert (*link == e);
    *link = e->hnext;
    s_unlink (self, e);
    self->stats.entries--;
    free (e);
}

//  The budget's shares: the window 1 %, the main part the rest, protected
//  80 % of the main part.
static void
s_split (zo_l1_t *self, size_t budget)
{
    self->budget = budget;
    if (self->policy == ZO_L1_LRU)
        self->window_max = budget;
    else {
        self->window_max = budget / 100 > ZO_L1_OVERHEAD ? budget / 100 : ZO_L1_OVERHEAD;
        self->main_max = budget - self->window_max;
        self->protected_max = self->main_max / 5 * 4;
    }
}

//  ---------------------------------------------------------------------

zo_l1_t *
zo_l1_new (size_t budget, zo_l1_policy_t policy)
{
    if (budget < 4096)
        budget = 4096;
    zo_l1_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->policy = policy;
    s_split (self, budget);
    //  About as many counters per row as entries of ~256 bytes fit.
    self->width = 1024;
    while (self->width < budget / 256 && self->width < (1u << 26))
        self->width <<= 1;
    self->sample = 10 * (uint64_t) self->width;
    self->n_buckets = 1024;
    self->buckets = calloc (self->n_buckets, sizeof *self->buckets);
    self->sketch = policy == ZO_L1_TINYLFU ? calloc (4, self->width) : NULL;
    if (!self->buckets || (policy == ZO_L1_TINYLFU && !self->sketch)) {
        zo_l1_destroy (&self);
        return NULL;
    }
    return self;
}

void
zo_l1_destroy (zo_l1_t **self_p)
{
    assert (self_p);
    zo_l1_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; self->buckets && i < self->n_buckets; i++)
        for (s_entry_t *e = self->buckets [i], *next; e; e = next) {
            next = e->hnext;
            free (e);
        }
    free (self->buckets);
    free (self->sketch);
    free (self);
    *self_p = NULL;
}

static void
s_evict (zo_l1_t *self, s_entry_t *e)
{
    self->stats.evictions++;
    s_remove (self, e);
}

//  The window is over its share: its least recent entries move to the
//  main part if they are asked for more often than what they would push
//  out there, else they go.
static void
s_balance (zo_l1_t *self)
{
    s_list_t *window = &self->lists [S_WINDOW];
    if (self->policy == ZO_L1_LRU) {
        while (window->bytes > self->window_max && window->tail != window->head)
            s_evict (self, window->tail);
        return;
    }
    while (window->bytes > self->window_max && window->tail != window->head) {
        s_entry_t *candidate = window->tail;
        s_unlink (self, candidate);
        uint8_t wanted = s_frequency (self, candidate->hash);
        size_t charge = s_charge (candidate);
        while (self->lists [S_PROBATION].bytes + self->lists [S_PROTECTED].bytes + charge
               > self->main_max) {
            s_entry_t *victim = self->lists [S_PROBATION].tail;
            if (!victim)
                victim = self->lists [S_PROTECTED].tail;
            if (!victim)
                break;
            if (wanted > s_frequency (self, victim->hash))
                s_evict (self, victim);
            else {
                //  Not in the lists any more: s_remove's unlink must not
                //  touch one; put it back where s_unlink expects it.
                s_push (self, candidate, S_WINDOW);
                s_evict (self, candidate);
                candidate = NULL;
                break;
            }
        }
        if (candidate)
            s_push (self, candidate, S_PROBATION);
    }
}

int
zo_l1_get (zo_l1_t *self, const void *key, size_t key_len, uint64_t now_ns,
           const void **value, size_t *value_len, uint64_t *expire_ns)
{
    assert (self);
    uint64_t hash = zo_hash (key, key_len);
    if (self->sketch)
        s_record (self, hash);
    s_entry_t *e = *s_find (self, key, key_len, hash);
    if (e && e->expire_ns && e->expire_ns <= now_ns) {
        self->stats.expired++;
        s_remove (self, e);
        e = NULL;
    }
    if (!e) {
        self->stats.misses++;
        return -1;
    }
    self->stats.hits++;
    int list = e->list;
    s_unlink (self, e);
    if (list == S_PROBATION) {
        s_push (self, e, S_PROTECTED);
        //  Protected's overflow goes back to probation, most recent first.
        s_list_t *protected = &self->lists [S_PROTECTED];
        while (protected->bytes > self->protected_max && protected->tail != protected->head) {
            s_entry_t *down = protected->tail;
            s_unlink (self, down);
            s_push (self, down, S_PROBATION);
        }
    }
    else
        s_push (self, e, list);
    if (value)
        *value = e->stored ? e->data + e->key_len : NULL;
    if (value_len)
        *value_len = e->value_len;
    if (expire_ns)
        *expire_ns = e->expire_ns;
    return 0;
}

int
zo_l1_set (zo_l1_t *self, const void *key, size_t key_len, const void *value,
           size_t value_len, uint64_t expire_ns)
{
    assert (self);
    if (ZO_L1_OVERHEAD + key_len + value_len > self->budget / 4 || key_len > UINT32_MAX
    ||  value_len > UINT32_MAX) {
        self->stats.rejected++;
        return -1;
    }
    uint64_t hash = zo_hash (key, key_len);
    s_entry_t **link = s_find (self, key, key_len, hash);
    int list = S_WINDOW;
    if (*link) {
        //  A new value keeps the old one's place (its popularity earned it).
        list = (*link)->list;
        s_remove (self, *link);
    }
    s_entry_t *e = malloc (sizeof *e + key_len + (value ? value_len : 0));
    if (!e)
        return -1;
    memset (e, 0, sizeof *e);
    e->hash = hash;
    e->expire_ns = expire_ns;
    e->key_len = (uint32_t) key_len;
    e->value_len = (uint32_t) value_len;
    e->stored = value != NULL;
    memcpy (e->data, key, key_len);
    if (value)
        memcpy (e->data + key_len, value, value_len);
    link = s_find (self, key, key_len, hash);
    e->hnext = NULL;
    *link = e;
    s_push (self, e, list);
    self->stats.entries++;
    self->stats.sets++;
    if (self->stats.entries > self->n_buckets)
        s_grow (self);
    s_balance (self);
    //  A replaced entry in the main part may have grown it past its share.
    while (self->policy == ZO_L1_TINYLFU
       &&  self->lists [S_PROBATION].bytes + self->lists [S_PROTECTED].bytes > self->main_max) {
        s_entry_t *victim = self->lists [S_PROBATION].tail ? self->lists [S_PROBATION].tail
                                                            : self->lists [S_PROTECTED].tail;
        s_evict (self, victim);
    }
    return 0;
}

int
zo_l1_del (zo_l1_t *self, const void *key, size_t key_len)
{
    assert (self);
    s_entry_t *e = *s_find (self, key, key_len, zo_hash (key, key_len));
    if (!e)
        return -1;
    s_remove (self, e);
    return 0;
}

size_t
zo_l1_invalidate (zo_l1_t *self, const char *pattern)
{
    assert (self && pattern);
    size_t removed = 0;
    char small [256];
    for (size_t i = 0; i < self->n_buckets; i++)
        for (s_entry_t *e = self->buckets [i], *next; e; e = next) {
            next = e->hnext;
            //  fnmatch wants a C string: keys are bytes.
            char *key = e->key_len < sizeof small ? small : malloc (e->key_len + 1);
            if (!key)
                continue;
            memcpy (key, e->data, e->key_len);
            key [e->key_len] = 0;
            bool match = memchr (e->data, 0, e->key_len) == NULL && fnmatch (pattern, key, 0) == 0;
            if (key != small)
                free (key);
            if (match) {
                s_remove (self, e);
                removed++;
            }
        }
    return removed;
}

size_t
zo_l1_clear (zo_l1_t *self)
{
    assert (self);
    size_t removed = 0;
    for (int list = 0; list < S_LISTS; list++)
        while (self->lists [list].head) {
            s_remove (self, self->lists [list].head);
            removed++;
        }
    return removed;
}

void
zo_l1_set_budget (zo_l1_t *self, size_t budget)
{
    assert (self);
    s_split (self, budget < 4096 ? 4096 : budget);
    //  Least valuable first: probation's tail, then the window's, then
    //  protected's.
    static const int order [] = { S_PROBATION, S_WINDOW, S_PROTECTED };
    for (int i = 0; i < 3; i++) {
        s_list_t *l = &self->lists [order [i]];
        while (l->tail && self->lists [S_WINDOW].bytes + self->lists [S_PROBATION].bytes
                          + self->lists [S_PROTECTED].bytes > self->budget)
            s_evict (self, l->tail);
    }
    s_balance (self);
}

zo_l1_stats_t
zo_l1_stats (const zo_l1_t *self)
{
    assert (self);
    zo_l1_stats_t stats = self->stats;
    stats.budget = self->budget;
    stats.bytes = self->lists [S_WINDOW].bytes + self->lists [S_PROBATION].bytes
                + self->lists [S_PROTECTED].bytes;
    return stats;
}

const char *
zo_l1_policy_name (zo_l1_policy_t policy)
{
    return policy == ZO_L1_LRU ? "lru" : "tinylfu";
}

int
zo_l1_policy_parse (const char *name)
{
    if (strcmp (name, "tinylfu") == 0)
        return ZO_L1_TINYLFU;
    if (strcmp (name, "lru") == 0)
        return ZO_L1_LRU;
    return -1;
}
