/*  Tests for broker/journal.c and broker/jrec.c: the broker's write-ahead
    log, on real files in a temporary directory, with its real sync thread.  */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <msgpack.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jrec.h"
#include "journal.h"
#include "jreplay.h"

static char s_dir [256];

static void
s_setup (void)
{
    char base [64];
    snprintf (base, sizeof (base), "/tmp/zorch-test-journal-XXXXXX");
    cr_assert (mkdtemp (base));
    //  A directory that does not exist yet: the journal makes it.
    snprintf (s_dir, sizeof (s_dir), "%s/journal", base);
}

static void
s_teardown (void)
{
    char cmd [300];
    snprintf (cmd, sizeof (cmd), "rm -rf %.*s", (int) (strrchr (s_dir, '/') - s_dir), s_dir);
    cr_assert_eq (system (cmd), 0);
}

TestSuite (journal, .init = s_setup, .fini = s_teardown);

//  A raw event map {"id": id, "type": "t", "payload": <pad bytes>}.
static zo_span_t
s_event (const char *id, size_t pad)
{
    static msgpack_sbuffer sbuf;
    msgpack_sbuffer_destroy (&sbuf);
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    msgpack_pack_str_with_body (&pk, "id", 2);
    msgpack_pack_str_with_body (&pk, id, strlen (id));
    msgpack_pack_str_with_body (&pk, "type", 4);
    msgpack_pack_str_with_body (&pk, "t", 1);
    msgpack_pack_str_with_body (&pk, "payload", 7);
    char body [1024];
    cr_assert_lt (pad, sizeof (body));
    memset (body, 'x', pad);
    msgpack_pack_str_with_body (&pk, body, pad);
    zo_span_t span = { (const uint8_t *) sbuf.data, (uint32_t) sbuf.size };
    return span;
}

static zo_span_t
s_id (const char *id)
{
    zo_span_t span = { (const uint8_t *) id, (uint32_t) strlen (id) };
    return span;
}

//  What recovery reported, in order.
typedef struct {
    char live [4096][32];
    uint32_t attempts [4096];
    uint64_t deadline [4096];
    size_t n_live;
    char gone [4096][32];
    size_t n_gone;
} s_seen_t;

static s_seen_t s_seen;

static void
s_on_live (zo_span_t event, uint32_t attempts, uint64_t deadline_ms, void *arg)
{
    s_seen_t *seen = arg;
    zo_mp_t cur;
    zo_mp_init (&cur, event.ptr, event.len);
    //  The event comes back byte for byte: its id is the first key.
    uint32_t n;
    zo_span_t key, id;
    cr_assert_eq (zo_mp_read_map (&cur, &n), 0);
    cr_assert_eq (zo_mp_read_str (&cur, &key), 0);
    cr_assert_eq (zo_mp_read_str (&cur, &id), 0);
    cr_assert_lt (seen->n_live, 4096);
    snprintf (seen->live [seen->n_live], 32, "%.*s", (int) id.len, (const char *) id.ptr);
    seen->attempts [seen->n_live] = attempts;
    seen->deadline [seen->n_live] = deadline_ms;
    seen->n_live++;
}

static void
s_on_gone (zo_span_t id, void *arg)
{
    s_seen_t *seen = arg;
    cr_assert_lt (seen->n_gone, 4096);
    snprintf (seen->gone [seen->n_gone++], 32, "%.*s", (int) id.len, (const char *) id.ptr);
}

//  A journal recovered from s_dir (s_seen holds what it found) and started.
static zo_journal_t *
s_open (uint64_t segment_max, zo_journal_checkpoint_fn *checkpoint, void *arg, int *recovered)
{
    zo_journal_t *journal = zo_journal_new (s_dir, segment_max, checkpoint, arg, NULL);
    cr_assert (journal);
    memset (&s_seen, 0, sizeof (s_seen));
    int n = zo_journal_recover (journal, s_on_live, s_on_gone, &s_seen);
    cr_assert_geq (n, 0);
    if (recovered)
        *recovered = n;
    cr_assert_eq (zo_journal_start (journal), 0);
    return journal;
}

//  Recovers s_dir without starting a journal (nothing on disk changes
//  but corrupt tails).
static int
s_recover_only (void)
{
    zo_journal_t *journal = zo_journal_new (s_dir, 0, NULL, NULL, NULL);
    memset (&s_seen, 0, sizeof (s_seen));
    int n = zo_journal_recover (journal, s_on_live, s_on_gone, &s_seen);
    zo_journal_destroy (&journal);
    return n;
}

static int
s_segments (char last [512])
{
    DIR *dir = opendir (s_dir);
    cr_assert (dir);
    int n = 0;
    struct dirent *entry;
    char best [256] = "";
    while ((entry = readdir (dir)))
        if (strstr (entry->d_name, ".msgpack")) {
            n++;
            if (strcmp (entry->d_name, best) > 0)
                snprintf (best, sizeof (best), "%s", entry->d_name);
        }
    closedir (dir);
    if (last)
        snprintf (last, 512, "%s/%s", s_dir, best);
    return n;
}

//  Waits for the sync thread's signal, then collects it.
static void
s_wait_collect (zo_journal_t *journal)
{
    struct pollfd pfd = { .fd = zo_journal_fd (journal), .events = POLLIN };
    cr_assert_eq (poll (&pfd, 1, 5000), 1, "the sync thread never signalled");
    cr_assert_eq (zo_journal_collect (journal), 0);
}

//  Appends to sbuf the bytes of a record body and a checksum that matches
//  them, so that only the structure can make the reader refuse it.
static void
s_sealed (msgpack_sbuffer *sbuf, const char *body, size_t len)
{
    msgpack_sbuffer_write (sbuf, body, len);
    msgpack_packer pk;
    msgpack_packer_init (&pk, sbuf, msgpack_sbuffer_write);
    msgpack_pack_fix_uint32 (&pk, zo_jrec_crc (body, len));
}

Test (journal, records_round_trip)
{
    cr_assert_eq (zo_jrec_crc ("123456789", 9), 0xe3069283, "the CRC-32C check value");
    cr_assert_eq (zo_jrec_crc ("", 0), 0);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    zo_jrec_add (&sbuf, s_event ("e1", 3), 2, 1700000000123ULL);
    zo_jrec_del (&sbuf, s_id ("e1"));
    zo_mp_t cur;
    zo_mp_init (&cur, sbuf.data, sbuf.size);
    zo_jrec_t rec;
    cr_assert_eq (zo_jrec_read (&cur, &rec), 0);
    cr_assert_eq (rec.kind, ZO_JREC_ADD);
    cr_assert_eq (rec.attempts, 2);
    cr_assert_eq (rec.deadline_ms, 1700000000123ULL);
    cr_assert (rec.id.len == 2 && memcmp (rec.id.ptr, "e1", 2) == 0);
    cr_assert_eq (zo_jrec_read (&cur, &rec), 0);
    cr_assert_eq (rec.kind, ZO_JREC_DEL);
    cr_assert (rec.id.len == 2 && memcmp (rec.id.ptr, "e1", 2) == 0);
    cr_assert_eq (zo_mp_left (&cur), 0);
    //  Every truncation of a record fails.
    zo_mp_init (&cur, sbuf.data, sbuf.size);
    cr_assert_eq (zo_jrec_read (&cur, &rec), 0);
    size_t first = (size_t) (cur.pos - (const uint8_t *) sbuf.data);
    for (size_t n = 0; n < sbuf.size; n++) {
        zo_mp_init (&cur, sbuf.data, n);
        if (n < first)
            cr_assert_eq (zo_jrec_read (&cur, &rec), -1, "first record cut at %zu read", n);
        else {
            cr_assert_eq (zo_jrec_read (&cur, &rec), 0);
            cr_assert_eq (zo_jrec_read (&cur, &rec), -1, "second record cut at %zu read", n);
        }
    }
    //  Any one byte changed is caught, wherever it is (here: by the
    //  checksum when the msgpack still decodes).
    for (size_t i = 0; i < first; i++) {
        sbuf.data [i] ^= 0x20;
        zo_mp_init (&cur, sbuf.data, first);
        cr_assert_eq (zo_jrec_read (&cur, &rec), -1, "byte %zu changed, still read", i);
        sbuf.data [i] ^= 0x20;
    }
    msgpack_sbuffer_destroy (&sbuf);

    //  Unknown tags, wrong arity, events without an id are refused even
    //  with a checksum that matches.
    static const struct { const char *bytes; size_t len; } bad [] = {
        { "\x93\x03\xa1x", 4 },                     //  [3, "x", crc]
        { "\x94\x02\xa1x\x00", 5 },                 //  [2, "x", 0, crc]
        { "\x95\x01\x80\x00\x00", 5 },             //  [1, {}, 0, 0, crc]
        { "\x93\x02\xa0", 3 },                      //  [2, "", crc]
        { "\x95\x01\x81\xa1x\x01\x00\x00", 8 },    //  [1, {"x": 1}, 0, 0, crc]
        { "\x95\x01\xa1x\x00\x00", 6 },             //  [1, "x", 0, 0, crc]
        { "\x92\x02\xa1x", 4 },                     //  [2, "x"]: no room for a crc
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad [0]); i++) {
        msgpack_sbuffer_init (&sbuf);
        s_sealed (&sbuf, bad [i].bytes, bad [i].len);
        zo_mp_init (&cur, sbuf.data, sbuf.size);
        cr_assert_eq (zo_jrec_read (&cur, &rec), -1, "bad record %zu accepted", i);
        msgpack_sbuffer_destroy (&sbuf);
    }
    //  The same sealing makes a good record that reads.
    msgpack_sbuffer_init (&sbuf);
    s_sealed (&sbuf, "\x93\x02\xa2id", 5);
    zo_mp_init (&cur, sbuf.data, sbuf.size);
    cr_assert_eq (zo_jrec_read (&cur, &rec), 0);
    msgpack_sbuffer_destroy (&sbuf);
}

static void
s_collect (const zo_jrec_t *rec, void *arg)
{
    char *out = arg;
    char item [64];
    snprintf (item, sizeof (item), "%s%.*s/%u ", rec->kind == ZO_JREC_ADD ? "+" : "-",
              (int) rec->id.len, (const char *) rec->id.ptr, rec->attempts);
    strcat (out, item);
}

Test (journal, replay_applies_in_order)
{
    zo_jreplay_t *replay = zo_jreplay_new ();
    cr_assert (replay);
    //  Spans into static strings: a replay borrows them.
    struct { zo_jrec_kind_t kind; const char *id; uint32_t attempts; } seq [] = {
        { ZO_JREC_ADD, "a", 0 }, { ZO_JREC_ADD, "b", 0 }, { ZO_JREC_DEL, "a", 0 },
        { ZO_JREC_DEL, "ghost", 0 }, { ZO_JREC_ADD, "c", 0 }, { ZO_JREC_ADD, "b", 4 },
        { ZO_JREC_DEL, "c", 0 }, { ZO_JREC_ADD, "c", 1 }, { ZO_JREC_ADD, "d", 0 },
    };
    for (size_t i = 0; i < sizeof (seq) / sizeof (seq [0]); i++) {
        zo_jrec_t rec = { .kind = seq [i].kind, .id = s_id (seq [i].id),
                          .attempts = seq [i].attempts };
        rec.event = rec.id;
        cr_assert_eq (zo_jreplay_apply (replay, &rec), 0);
    }
    //  a done; b replaced (its last add is later than c's first); c done,
    //  then back; a del of an unknown id ignored.
    char out [256] = "";
    cr_assert_eq (zo_jreplay_foreach (replay, s_collect, out), 3);
    cr_assert_str_eq (out, "-a/0 +b/4 +c/1 +d/0 ");
    zo_jreplay_destroy (&replay);
    cr_assert_null (replay);

    //  Many ids: the table grows.
    replay = zo_jreplay_new ();
    static char ids [5000][8];
    for (int i = 0; i < 5000; i++) {
        snprintf (ids [i], 8, "%d", i);
        zo_jrec_t rec = { .kind = ZO_JREC_ADD, .id = s_id (ids [i]) };
        cr_assert_eq (zo_jreplay_apply (replay, &rec), 0);
        if (i % 2) {
            rec.kind = ZO_JREC_DEL;
            cr_assert_eq (zo_jreplay_apply (replay, &rec), 0);
        }
    }
    static char big [5000 * 12];
    big [0] = 0;
    cr_assert_eq (zo_jreplay_foreach (replay, s_collect, big), 2500);
    zo_jreplay_destroy (&replay);
}

Test (journal, append_sync_reopen)
{
    int n;
    zo_journal_t *journal = s_open (0, NULL, NULL, &n);
    cr_assert_eq (n, 0);
    cr_assert_eq (s_segments (NULL), 1, "start makes the first segment");
    zo_journal_add (journal, s_event ("a", 10), 0, 1000);
    zo_journal_add (journal, s_event ("b", 10), 1, 0);
    zo_journal_add (journal, s_event ("c", 10), 2, 3000);
    zo_journal_del (journal, s_id ("b"));
    zo_journal_del (journal, s_id ("nobody"));        //  ignored at recovery
    cr_assert_eq (zo_journal_sync (journal), 0);
    cr_assert_eq (zo_journal_synced (journal), zo_journal_position (journal));
    cr_assert_eq (zo_journal_stats (journal)->appends, 5);
    zo_journal_destroy (&journal);
    cr_assert_null (journal);

    journal = s_open (0, NULL, NULL, &n);
    cr_assert_eq (n, 2);
    cr_assert_str_eq (s_seen.live [0], "a");
    cr_assert_eq (s_seen.attempts [0], 0);
    cr_assert_eq (s_seen.deadline [0], 1000);
    cr_assert_str_eq (s_seen.live [1], "c");
    cr_assert_eq (s_seen.attempts [1], 2);
    cr_assert_eq (s_seen.deadline [1], 3000);
    cr_assert_eq (s_seen.n_gone, 1);
    cr_assert_str_eq (s_seen.gone [0], "b");
    cr_assert_eq (zo_journal_stats (journal)->recovered, 2);
    zo_journal_destroy (&journal);
}

//  The checkpoint a broker writes: its live set, here a list of ids.
typedef struct {
    char ids [4096][32];
    bool live [4096];
    size_t n;
    int calls;
} s_live_t;

static void
s_checkpoint (zo_journal_t *journal, void *arg)
{
    s_live_t *live = arg;
    live->calls++;
    for (size_t i = 0; i < live->n; i++)
        if (live->live [i])
            zo_journal_add (journal, s_event (live->ids [i], 8), 7, 0);
}

Test (journal, add_replaces_and_start_compacts)
{
    s_live_t live = { .n = 0 };
    zo_journal_t *journal = s_open (0, s_checkpoint, &live, NULL);
    zo_journal_add (journal, s_event ("x", 1), 1, 0);
    zo_journal_add (journal, s_event ("x", 2), 5, 99);     //  replaces
    zo_journal_del (journal, s_id ("x"));
    zo_journal_add (journal, s_event ("x", 3), 6, 0);      //  back again
    zo_journal_destroy (&journal);

    cr_assert_eq (s_recover_only (), 1);
    cr_assert_str_eq (s_seen.live [0], "x");
    cr_assert_eq (s_seen.attempts [0], 6);
    cr_assert_eq (s_seen.n_gone, 0, "a deleted id that came back is not gone");

    //  A start writes a fresh segment holding the checkpoint and deletes
    //  the old ones once that is durable.
    char before [512], after [512];
    cr_assert_eq (s_segments (before), 1);
    snprintf (live.ids [0], 32, "x");
    live.live [0] = true;
    live.n = 1;
    live.calls = 0;
    journal = s_open (0, s_checkpoint, &live, NULL);
    cr_assert_eq (live.calls, 1);
    cr_assert_eq (s_segments (after), 1);
    cr_assert_str_neq (before, after);
    zo_journal_destroy (&journal);
    cr_assert_eq (s_recover_only (), 1);
    cr_assert_eq (s_seen.attempts [0], 7, "the checkpoint's add is the latest");
}

Test (journal, corrupt_tail_cut_and_appends_readable)
{
    zo_journal_t *journal = s_open (0, NULL, NULL, NULL);
    zo_journal_add (journal, s_event ("good1", 20), 0, 0);
    zo_journal_add (journal, s_event ("good2", 20), 0, 0);
    zo_journal_add (journal, s_event ("torn", 20), 0, 0);
    zo_journal_destroy (&journal);

    //  A write torn in the middle of the last record, then garbage.
    char path [512];
    s_segments (path);
    struct stat st;
    cr_assert_eq (stat (path, &st), 0);
    cr_assert_eq (truncate (path, st.st_size - 7), 0);
    FILE *f = fopen (path, "ab");
    fwrite ("\xde\xad\xbe\xef\x94\x01", 1, 6, f);
    fclose (f);

    zo_journal_t *j2 = zo_journal_new (s_dir, 0, NULL, NULL, NULL);
    memset (&s_seen, 0, sizeof (s_seen));
    cr_assert_eq (zo_journal_recover (j2, s_on_live, s_on_gone, &s_seen), 2);
    cr_assert_str_eq (s_seen.live [1], "good2");
    cr_assert_eq (zo_journal_stats (j2)->corrupt, 1);
    struct stat cut;
    cr_assert_eq (stat (path, &cut), 0);
    cr_assert_lt (cut.st_size, st.st_size - 7, "the torn record was cut off the file");
    zo_journal_destroy (&j2);

    //  Appending to the cut file (as an older broker would) reads back.
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    zo_jrec_add (&sbuf, s_event ("later", 5), 1, 0);
    f = fopen (path, "ab");
    fwrite (sbuf.data, 1, sbuf.size, f);
    fclose (f);
    msgpack_sbuffer_destroy (&sbuf);
    cr_assert_eq (s_recover_only (), 3);
    cr_assert_str_eq (s_seen.live [2], "later");

    //  And a broker started on it writes records that read back too.
    journal = s_open (0, NULL, NULL, NULL);
    zo_journal_add (journal, s_event ("after", 5), 0, 0);
    zo_journal_destroy (&journal);
    cr_assert_eq (s_recover_only (), 1, "no checkpoint callback: only the new add");
    cr_assert_str_eq (s_seen.live [0], "after");
}

Test (journal, positions_and_synced_gate)
{
    zo_journal_t *journal = s_open (0, NULL, NULL, NULL);
    uint64_t start = zo_journal_position (journal);
    cr_assert_eq (zo_journal_synced (journal), start);
    uint64_t p1 = zo_journal_add (journal, s_event ("p1", 10), 0, 0);
    uint64_t p2 = zo_journal_add (journal, s_event ("p2", 10), 0, 0);
    cr_assert_gt (p1, start);
    cr_assert_gt (p2, p1);
    cr_assert_eq (zo_journal_position (journal), p2);
    //  Nothing is durable before a kick and the thread's signal.
    cr_assert_lt (zo_journal_synced (journal), p1);
    cr_assert_eq (zo_journal_backlog (journal), p2 - start);
    zo_journal_kick (journal);
    //  Appended while the batch is with the thread: the next batch.
    uint64_t p3 = zo_journal_del (journal, s_id ("p1"));
    zo_journal_kick (journal);                          //  busy: no-op
    s_wait_collect (journal);
    cr_assert_eq (zo_journal_synced (journal), p2);
    cr_assert_lt (zo_journal_synced (journal), p3);
    zo_journal_kick (journal);
    s_wait_collect (journal);
    cr_assert_eq (zo_journal_synced (journal), p3);
    cr_assert_eq (zo_journal_backlog (journal), 0);
    //  Collect without a finished batch changes nothing.
    cr_assert_eq (zo_journal_collect (journal), 0);
    cr_assert_eq (zo_journal_synced (journal), p3);
    //  Two batches, plus the start's checkpoint.
    cr_assert_eq (zo_journal_stats (journal)->syncs, 3);
    zo_journal_destroy (&journal);
}

Test (journal, compaction_keeps_live_and_deletes_old_segments)
{
    s_live_t live = { .n = 0 };
    zo_journal_t *journal = s_open (4096, s_checkpoint, &live, NULL);
    //  3000 events of ~100 bytes, all but every tenth done soon after:
    //  about 300 KB through 4 KB segments.
    for (int i = 0; i < 3000; i++) {
        snprintf (live.ids [live.n], 32, "ev%d", i);
        live.live [live.n] = true;
        zo_journal_add (journal, s_event (live.ids [live.n], 80), 0, 0);
        live.n++;
        if (i >= 5 && (i - 5) % 10 != 0) {
            live.live [i - 5] = false;
            zo_journal_del (journal, s_id (live.ids [i - 5]));
        }
        if (i % 50 == 0) {
            zo_journal_kick (journal);
            s_wait_collect (journal);
            cr_assert_leq (s_segments (NULL), 2, "more than two segments after a sync");
        }
    }
    cr_assert_eq (zo_journal_sync (journal), 0);
    cr_assert_gt (live.calls, 10, "only %d checkpoints", live.calls);
    cr_assert_leq (s_segments (NULL), 2);
    zo_journal_destroy (&journal);

    size_t want = 0;
    for (size_t i = 0; i < live.n; i++)
        want += live.live [i];
    cr_assert_eq ((size_t) s_recover_only (), want);
    for (size_t i = 0, k = 0; i < live.n; i++)
        if (live.live [i])
            cr_assert_str_eq (s_seen.live [k++], live.ids [i]);
}

Test (journal, disk_error_fails_for_good)
{
    zo_journal_t *journal = s_open (0, NULL, NULL, NULL);
    uint64_t p1 = zo_journal_add (journal, s_event ("ok", 10), 0, 0);
    cr_assert_eq (zo_journal_sync (journal), 0);
    //  A file size limit: the next write fails with EFBIG, as a full disk
    //  fails with ENOSPC.
    signal (SIGXFSZ, SIG_IGN);
    struct rlimit limit = { 4096, 4096 };
    cr_assert_eq (setrlimit (RLIMIT_FSIZE, &limit), 0);
    for (int i = 0; i < 100; i++)
        zo_journal_add (journal, s_event ("big", 100), 0, 0);
    cr_assert_eq (zo_journal_sync (journal), -1);
    cr_assert (zo_journal_failed (journal));
    cr_assert_eq (zo_journal_synced (journal), p1, "nothing after the failure is durable");
    cr_assert_eq (zo_journal_stats (journal)->errors, 1);
    //  Appends are refused from then on, the position stays.
    uint64_t pos = zo_journal_position (journal);
    cr_assert_eq (zo_journal_add (journal, s_event ("late", 1), 0, 0), pos);
    zo_journal_kick (journal);
    cr_assert_eq (zo_journal_collect (journal), -1);
    zo_journal_destroy (&journal);
}
