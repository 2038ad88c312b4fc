/*  Tests for broker/evtab.c: records and the id table.  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "evtab.h"

static zo_rec_t *
s_rec (const char *id)
{
    //  The id sits inside a larger "raw" buffer, as in a real event map.
    char raw [200];
    int len = snprintf (raw, sizeof (raw), "<<%s>>", id);
    zo_span_t rspan = { (const uint8_t *) raw, (uint32_t) len };
    zo_span_t ispan = { (const uint8_t *) raw + 2, (uint32_t) strlen (id) };
    zo_rec_t *rec = zo_rec_new (rspan, ispan, "prod", 4);
    cr_assert (rec);
    return rec;
}

static zo_span_t
s_span (const char *s)
{
    zo_span_t span = { (const uint8_t *) s, (uint32_t) strlen (s) };
    return span;
}

Test (evtab, record_holds_copies)
{
    zo_rec_t *rec = s_rec ("abc");
    cr_assert_eq (rec->raw_len, 7);
    cr_assert_eq (memcmp (zo_rec_raw (rec).ptr, "<<abc>>", 7), 0);
    cr_assert_eq (zo_rec_id (rec).len, 3);
    cr_assert_eq (memcmp (zo_rec_id (rec).ptr, "abc", 3), 0);
    cr_assert_eq (rec->ident_len, 4);
    cr_assert_eq (memcmp (zo_rec_ident (rec), "prod", 4), 0);
    cr_assert_eq (rec->hash, zo_evtab_hash (s_span ("abc")));
    zo_rec_set_error (rec, s_span ("boom"));
    cr_assert_str_eq (rec->error, "boom");
    zo_rec_set_error (rec, s_span ("bang"));
    cr_assert_str_eq (rec->error, "bang");
    zo_rec_destroy (&rec);
    cr_assert_null (rec);
}

Test (evtab, insert_find_remove_many)
{
    zo_evtab_t *t = zo_evtab_new ();
    enum { N = 20000 };
    static zo_rec_t *recs [N];
    char id [32];
    for (int i = 0; i < N; i++) {
        snprintf (id, sizeof (id), "ev-%d", i);
        recs [i] = s_rec (id);
        cr_assert_eq (zo_evtab_insert (t, recs [i]), 0);
    }
    cr_assert_eq (zo_evtab_size (t), N);
    //  Same id again is refused.
    zo_rec_t *dup = s_rec ("ev-7");
    cr_assert_eq (zo_evtab_insert (t, dup), -1);
    zo_rec_destroy (&dup);
    //  Remove every third, then check all lookups.
    for (int i = 0; i < N; i += 3) {
        zo_evtab_remove (t, recs [i]);
        zo_rec_destroy (&recs [i]);
    }
    for (int i = 0; i < N; i++) {
        snprintf (id, sizeof (id), "ev-%d", i);
        zo_rec_t *found = zo_evtab_find (t, s_span (id), zo_evtab_hash (s_span (id)));
        if (i % 3 == 0)
            cr_assert_null (found, "%s", id);
        else
            cr_assert_eq (found, recs [i], "%s", id);
    }
    cr_assert_null (zo_evtab_find (t, s_span ("nope"), zo_evtab_hash (s_span ("nope"))));
    zo_evtab_destroy (&t);           //  frees what is left
    cr_assert_null (t);
}

static void
s_count (zo_rec_t *rec, void *arg)
{
    (*(int *) arg)++;
}

Test (evtab, lists_and_foreach)
{
    zo_evtab_t *t = zo_evtab_new ();
    zo_rlist_t list = { 0 };
    zo_rec_t *a = s_rec ("a"), *b = s_rec ("b"), *c = s_rec ("c");
    zo_evtab_insert (t, a);
    zo_evtab_insert (t, b);
    zo_evtab_insert (t, c);
    zo_rlist_push_tail (&list, b);
    zo_rlist_push_head (&list, a);
    zo_rlist_push_tail (&list, c);
    cr_assert_eq (list.count, 3);
    zo_rlist_remove (&list, b);
    cr_assert_eq (zo_rlist_pop_head (&list), a);
    cr_assert_eq (zo_rlist_pop_head (&list), c);
    cr_assert_null (zo_rlist_pop_head (&list));
    int n = 0;
    zo_evtab_foreach (t, s_count, &n);
    cr_assert_eq (n, 3);
    zo_evtab_destroy (&t);
}
