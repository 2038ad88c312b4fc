/*  Tests for broker/dlq.c and broker/spool.c: the files under data_dir.  */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlq.h"
#include "spool.h"
#include "zo_proto.h"

static char s_dir [256];

static void
s_setup (void)
{
    snprintf (s_dir, sizeof (s_dir), "/tmp/zorch-test-dlq-XXXXXX");
    cr_assert (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    char cmd [300];
    snprintf (cmd, sizeof (cmd), "rm -rf %s", s_dir);
    cr_assert_eq (system (cmd), 0);
}

//  A raw event map {"id": id, "type": "t"} in a static buffer.
static zo_span_t
s_event (const char *id)
{
    static msgpack_sbuffer sbuf;
    msgpack_sbuffer_destroy (&sbuf);
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 2);
    msgpack_pack_str_with_body (&pk, "id", 2);
    msgpack_pack_str_with_body (&pk, id, strlen (id));
    msgpack_pack_str_with_body (&pk, "type", 4);
    msgpack_pack_str_with_body (&pk, "t", 1);
    zo_span_t span = { (const uint8_t *) sbuf.data, (uint32_t) sbuf.size };
    return span;
}

static bool
s_eq (zo_span_t span, const char *str)
{
    return span.len == strlen (str) && memcmp (span.ptr, str, span.len) == 0;
}

static void
s_path (char *path, const char *file)
{
    sprintf (path, "%s/%s", s_dir, file);
}

TestSuite (dlq, .init = s_setup, .fini = s_teardown);

Test (dlq, append_and_reload)
{
    char dir [300];
    snprintf (dir, sizeof (dir), "%s/a/b", s_dir);   //  made like mkdir -p
    zo_dlq_t *dlq = zo_dlq_new (dir);
    cr_assert (dlq);
    cr_assert_eq (zo_dlq_add (dlq, s_event ("e1"), "boom", 3, 1000), 0);
    cr_assert_eq (zo_dlq_add (dlq, s_event ("e2"), "deadline exceeded", 1, 2000), 0);
    cr_assert_eq (zo_dlq_flush (dlq), 0);
    cr_assert_eq (zo_dlq_size (dlq), 2);
    zo_dlq_destroy (&dlq);
    cr_assert_null (dlq);

    dlq = zo_dlq_new (dir);
    cr_assert_eq (zo_dlq_size (dlq), 2);
    const zo_dlq_entry_t *e = zo_dlq_at (dlq, 0);
    cr_assert (s_eq (e->id, "e1"));
    cr_assert (s_eq (e->error, "boom"));
    cr_assert_eq (e->attempts, 3);
    cr_assert_eq (e->failed_ms, 1000);
    zo_span_t ev = s_event ("e1");
    cr_assert_eq (e->event.len, ev.len);
    cr_assert_eq (memcmp (e->event.ptr, ev.ptr, ev.len), 0);
    e = zo_dlq_at (dlq, 1);
    cr_assert (s_eq (e->id, "e2"));
    cr_assert (s_eq (e->error, "deadline exceeded"));
    zo_dlq_destroy (&dlq);
}

//  A dead-letter file changed by hand or damaged: an error text far past
//  the protocol's limit used to reach an assert in the encoder when listed;
//  an id too long to carry. The text is cut, the bad record alone is
//  skipped, the records after it are kept.
Test (dlq, stored_strings_are_bounded_on_read)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    static char long_error [20000], long_id [600];
    memset (long_error, 'x', sizeof (long_error) - 1);
    memset (long_id, 'i', sizeof (long_id) - 1);
    const char *ids [] = { "ok1", long_id, "long-error", "ok2" };
    for (int i = 0; i < 4; i++) {
        const char *error = i == 2 ? long_error : "boom";
        msgpack_pack_map (&pk, 4);
        msgpack_pack_str_with_body (&pk, "event", 5);
        zo_span_t ev = s_event (ids [i]);
        msgpack_sbuffer_write (&sbuf, (const char *) ev.ptr, ev.len);
        msgpack_pack_str_with_body (&pk, "error", 5);
        msgpack_pack_str_with_body (&pk, error, strlen (error));
        msgpack_pack_str_with_body (&pk, "attempts", 8);
        msgpack_pack_uint32 (&pk, 1);
        msgpack_pack_str_with_body (&pk, "failed_ms", 9);
        msgpack_pack_uint64 (&pk, 5);
    }
    char path [300];
    s_path (path, ZO_DLQ_FILE);
    FILE *file = fopen (path, "wb");
    cr_assert (file);
    cr_assert_eq (fwrite (sbuf.data, 1, sbuf.size, file), sbuf.size);
    fclose (file);
    msgpack_sbuffer_destroy (&sbuf);

    zo_dlq_t *dlq = zo_dlq_new (s_dir);
    cr_assert (dlq);
    cr_assert_eq (zo_dlq_size (dlq), 3);
    cr_assert_eq (zo_dlq_invalid (dlq), 1);
    cr_assert (s_eq (zo_dlq_at (dlq, 0)->id, "ok1"));
    const zo_dlq_entry_t *e = zo_dlq_at (dlq, 1);
    cr_assert (s_eq (e->id, "long-error"));
    cr_assert_eq (e->error.len, ZO_MAX_TEXT);
    cr_assert (s_eq (zo_dlq_at (dlq, 2)->id, "ok2"));
    //  What a DLQ_LIST would send encodes (it asserted before).
    zo_dead_t dead = { .event.raw = e->event, .error = e->error, .attempts = e->attempts };
    zo_msg_t msg = { .cmd = ZO_CMD_DLQ_ITEMS, .seq = 1, .total = 3, .dead = &dead, .n_dead = 1 };
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    msgpack_packer opk;
    msgpack_packer_init (&opk, &out, msgpack_sbuffer_write);
    zo_proto_encode (&opk, &msg);
    cr_assert_gt (out.size, ZO_MAX_TEXT);
    msgpack_sbuffer_destroy (&out);
    zo_dlq_destroy (&dlq);
}

static int
s_take_odd (const zo_dlq_entry_t *entry, void *arg)
{
    (*(int *) arg)++;
    //  Keep e3 even though it was asked for.
    return s_eq (entry->id, "e3") ? -1 : 0;
}

Test (dlq, take_and_purge_rewrite)
{
    zo_dlq_t *dlq = zo_dlq_new (s_dir);
    char id [16];
    for (int i = 1; i <= 5; i++) {
        snprintf (id, sizeof (id), "e%d", i);
        zo_dlq_add (dlq, s_event (id), "x", 1, i);
    }
    zo_span_t ids [] = { { (const uint8_t *) "e1", 2 }, { (const uint8_t *) "e3", 2 },
                         { (const uint8_t *) "nope", 4 } };
    int called = 0;
    cr_assert_eq (zo_dlq_take (dlq, ids, 3, s_take_odd, &called), 1);
    cr_assert_eq (called, 2);
    cr_assert_eq (zo_dlq_size (dlq), 4);
    //  Appends after a rewrite land in the new file.
    zo_dlq_add (dlq, s_event ("e6"), "y", 2, 6);
    zo_dlq_destroy (&dlq);

    dlq = zo_dlq_new (s_dir);
    cr_assert_eq (zo_dlq_size (dlq), 5);
    const char *expect [] = { "e2", "e3", "e4", "e5", "e6" };
    for (int i = 0; i < 5; i++)
        cr_assert (s_eq (zo_dlq_at (dlq, i)->id, expect [i]), "%d", i);
    //  Purge all.
    cr_assert_eq (zo_dlq_take (dlq, NULL, 0, NULL, NULL), 5);
    cr_assert_eq (zo_dlq_size (dlq), 0);
    zo_dlq_destroy (&dlq);
    dlq = zo_dlq_new (s_dir);
    cr_assert_eq (zo_dlq_size (dlq), 0);
    zo_dlq_destroy (&dlq);
}

Test (dlq, corrupt_tail_is_skipped_and_cut)
{
    zo_dlq_t *dlq = zo_dlq_new (s_dir);
    zo_dlq_add (dlq, s_event ("good1"), "x", 1, 1);
    zo_dlq_add (dlq, s_event ("good2"), "x", 1, 2);
    zo_dlq_destroy (&dlq);
    char path [400];
    s_path (path, ZO_DLQ_FILE);
    //  A torn write: the start of a map, then garbage.
    FILE *f = fopen (path, "ab");
    static const char torn [] = "\x84\xa5" "event\x82\xa2id";
    fwrite (torn, 1, sizeof (torn) - 1, f);
    fclose (f);
    dlq = zo_dlq_new (s_dir);
    cr_assert (dlq);
    cr_assert_eq (zo_dlq_size (dlq), 2);
    zo_dlq_add (dlq, s_event ("good3"), "x", 1, 3);
    zo_dlq_destroy (&dlq);
    dlq = zo_dlq_new (s_dir);
    cr_assert_eq (zo_dlq_size (dlq), 3);
    cr_assert (s_eq (zo_dlq_at (dlq, 2)->id, "good3"));
    zo_dlq_destroy (&dlq);
}

Test (dlq, unusable_dir_fails_cleanly)
{
    char path [400];
    s_path (path, "plainfile");
    FILE *f = fopen (path, "w");
    fclose (f);
    cr_assert_null (zo_dlq_new (path));
}

typedef struct {
    int n;
    char ids [8][16];
    uint32_t attempts [8];
    uint64_t left [8];
} s_loaded_t;

static void
s_on_spooled (zo_span_t event, uint32_t attempts, uint64_t left, void *arg)
{
    s_loaded_t *l = arg;
    zo_span_t id = zo_dlq_event_id (event);
    snprintf (l->ids [l->n], 16, "%.*s", (int) id.len, (const char *) id.ptr);
    l->attempts [l->n] = attempts;
    l->left [l->n] = left;
    l->n++;
}

Test (dlq, spool_roundtrip_and_removal)
{
    zo_spool_t *spool = zo_spool_new ();
    zo_spool_add (spool, s_event ("s1"), 0, 5000);
    zo_spool_add (spool, s_event ("s2"), 2, 0);
    cr_assert_eq (zo_spool_count (spool), 2);
    cr_assert_eq (zo_spool_save (spool, s_dir), 0);
    zo_spool_destroy (&spool);
    //  Torn tail.
    char path [400];
    s_path (path, ZO_SPOOL_FILE);
    FILE *f = fopen (path, "ab");
    static const char torn [] = "\x83\xa5" "ev";
    fwrite (torn, 1, sizeof (torn) - 1, f);
    fclose (f);

    s_loaded_t l = { 0 };
    cr_assert_eq (zo_spool_load (s_dir, s_on_spooled, &l), 2);
    cr_assert_eq (l.n, 2);
    cr_assert_str_eq (l.ids [0], "s1");
    cr_assert_eq (l.left [0], 5000);
    cr_assert_str_eq (l.ids [1], "s2");
    cr_assert_eq (l.attempts [1], 2);
    cr_assert_eq (access (path, F_OK), -1);            //  deleted
    cr_assert_eq (zo_spool_load (s_dir, s_on_spooled, &l), 0);
}

//  An error longer than the protocol carries is cut when it is stored, so
//  that the store never holds what DLQ_ITEMS could not send.
Test (dlq, add_bounds_the_error)
{
    static char long_error [10000];
    memset (long_error, 'y', sizeof (long_error) - 1);
    zo_dlq_t *dlq = zo_dlq_new (s_dir);
    cr_assert (dlq);
    cr_assert_eq (zo_dlq_add (dlq, s_event ("big"), long_error, 2, 7), 0);
    cr_assert_eq (zo_dlq_at (dlq, 0)->error.len, ZO_MAX_TEXT);
    zo_dlq_destroy (&dlq);
    dlq = zo_dlq_new (s_dir);
    cr_assert_eq (zo_dlq_size (dlq), 1);
    cr_assert_eq (zo_dlq_invalid (dlq), 0);
    cr_assert_eq (zo_dlq_at (dlq, 0)->error.len, ZO_MAX_TEXT);
    zo_dlq_destroy (&dlq);
}

//  A spool record that is whole msgpack but no spooled event (an event
//  that is not a map) is skipped alone: the events after it still load.
Test (dlq, spool_skips_an_invalid_record)
{
    zo_spool_t *spool = zo_spool_new ();
    zo_spool_add (spool, s_event ("s1"), 0, 0);
    cr_assert_eq (zo_spool_save (spool, s_dir), 0);
    zo_spool_destroy (&spool);
    char path [400];
    s_path (path, ZO_SPOOL_FILE);
    FILE *f = fopen (path, "ab");
    static const char bad [] = "\x81\xa5" "event" "\xa3" "str";
    fwrite (bad, 1, sizeof (bad) - 1, f);
    fclose (f);
    msgpack_sbuffer tail;
    msgpack_sbuffer_init (&tail);
    //  s2's record, as zo_spool_add packs it, after the bad one.
    msgpack_packer pk;
    msgpack_packer_init (&pk, &tail, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 2);
    msgpack_pack_str_with_body (&pk, "event", 5);
    zo_span_t ev = s_event ("s2");
    msgpack_sbuffer_write (&tail, (const char *) ev.ptr, ev.len);
    msgpack_pack_str_with_body (&pk, "attempts", 8);
    msgpack_pack_uint32 (&pk, 1);
    f = fopen (path, "ab");
    fwrite (tail.data, 1, tail.size, f);
    fclose (f);
    msgpack_sbuffer_destroy (&tail);

    s_loaded_t l = { 0 };
    cr_assert_eq (zo_spool_load (s_dir, s_on_spooled, &l), 2);
    cr_assert_str_eq (l.ids [0], "s1");
    cr_assert_str_eq (l.ids [1], "s2");
    cr_assert_eq (l.attempts [1], 1);
}
