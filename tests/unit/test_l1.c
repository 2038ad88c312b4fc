/*  Tests for actors/cache/l1.c: operations, TTL, the byte budget, and the
    policy's hit ratio against plain LRU on generated traces (a fixed
    seed): a Zipf trace, and the same with one-off scans mixed in.  */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l1.h"

Test (l1, get_set_del_and_replace)
{
    for (int p = 0; p < 2; p++) {
        zo_l1_t *c = zo_l1_new (1 << 20, (zo_l1_policy_t) p);
        const void *v;
        size_t n;
        cr_assert_eq (zo_l1_get (c, "k", 1, 0, &v, &n, NULL), -1);
        cr_assert_eq (zo_l1_set (c, "k", 1, "value", 5, 0), 0);
        cr_assert_eq (zo_l1_get (c, "k", 1, 0, &v, &n, NULL), 0);
        cr_assert_eq (n, 5);
        cr_assert_eq (memcmp (v, "value", 5), 0);
        cr_assert_eq (zo_l1_set (c, "k", 1, "other!", 6, 0), 0, "replaced");
        cr_assert_eq (zo_l1_get (c, "k", 1, 0, &v, &n, NULL), 0);
        cr_assert_eq (n, 6);
        cr_assert_eq (memcmp (v, "other!", 6), 0);
        cr_assert_eq (zo_l1_stats (c).entries, 1);
        cr_assert_eq (zo_l1_stats (c).bytes, ZO_L1_OVERHEAD + 1 + 6);
        cr_assert_eq (zo_l1_del (c, "k", 1), 0);
        cr_assert_eq (zo_l1_del (c, "k", 1), -1);
        cr_assert_eq (zo_l1_get (c, "k", 1, 0, &v, &n, NULL), -1);
        cr_assert_eq (zo_l1_stats (c).bytes, 0);
        //  Empty keys and values are values like any other.
        cr_assert_eq (zo_l1_set (c, "", 0, "", 0, 0), 0);
        cr_assert_eq (zo_l1_get (c, "", 0, 0, &v, &n, NULL), 0);
        cr_assert_eq (n, 0);
        //  An entry over a quarter of the budget is refused.
        static char big [300 * 1024];
        cr_assert_eq (zo_l1_set (c, "big", 3, big, sizeof big, 0), -1);
        cr_assert_eq (zo_l1_stats (c).rejected, 1);
        zo_l1_destroy (&c);
        cr_assert_null (c);
    }
}

Test (l1, ttl_expires_on_the_callers_clock)
{
    zo_l1_t *c = zo_l1_new (1 << 20, ZO_L1_TINYLFU);
    cr_assert_eq (zo_l1_set (c, "t", 1, "x", 1, 1000), 0);
    cr_assert_eq (zo_l1_get (c, "t", 1, 999, NULL, NULL, NULL), 0);
    cr_assert_eq (zo_l1_get (c, "t", 1, 1000, NULL, NULL, NULL), -1, "expired at its deadline");
    cr_assert_eq (zo_l1_stats (c).expired, 1);
    cr_assert_eq (zo_l1_stats (c).entries, 0, "and gone");
    zo_l1_destroy (&c);
}

Test (l1, expiry_invalidate_clear)
{
    for (int p = 0; p < 2; p++) {
        zo_l1_t *c = zo_l1_new (1 << 20, (zo_l1_policy_t) p);
        uint64_t expire = 1;
        cr_assert_eq (zo_l1_set (c, "t", 1, "x", 1, 5000), 0);
        cr_assert_eq (zo_l1_get (c, "t", 1, 4999, NULL, NULL, &expire), 0);
        cr_assert_eq (expire, 5000, "a hit says when it expires");
        cr_assert_eq (zo_l1_set (c, "t", 1, "x", 1, 0), 0);
        cr_assert_eq (zo_l1_get (c, "t", 1, 1, NULL, NULL, &expire), 0);
        cr_assert_eq (expire, 0, "never expires");

        char key [64];
        for (int i = 0; i < 300; i++) {
            int len = snprintf (key, sizeof key, "%s:%d", i % 3 == 0 ? "repo" : i % 3 == 1 ? "user" : "re[po]", i);
            cr_assert_eq (zo_l1_set (c, key, (size_t) len, "v", 1, 0), 0);
        }
        cr_assert_eq (zo_l1_invalidate (c, "repo:*"), 100);
        cr_assert_eq (zo_l1_get (c, "repo:3", 6, 0, NULL, NULL, NULL), -1);
        cr_assert_eq (zo_l1_get (c, "user:1", 6, 0, NULL, NULL, NULL), 0);
        cr_assert_eq (zo_l1_invalidate (c, "re\\[po\\]:?"), 3, "escapes and ?: re[po]:2 :5 :8");
        cr_assert_eq (zo_l1_invalidate (c, "user:[12]*"), 75, "a class: user:1.., user:2..");
        cr_assert_eq (zo_l1_stats (c).entries, 300 - 100 - 3 - 75 + 1);
        cr_assert_eq (zo_l1_clear (c), 300 - 100 - 3 - 75 + 1);
        cr_assert_eq (zo_l1_stats (c).entries, 0);
        cr_assert_eq (zo_l1_stats (c).bytes, 0);
        zo_l1_destroy (&c);
    }
}

/*  Shrinking the budget evicts at once, by the policy: the popular keys
    stay.  */
Test (l1, set_budget_sheds_the_cold_first)
{
    zo_l1_t *c = zo_l1_new (1 << 20, ZO_L1_TINYLFU);
    char key [32], value [200];
    memset (value, 'v', sizeof value);
    for (int i = 0; i < 4000; i++) {
        int len = snprintf (key, sizeof key, "k%d", i);
        zo_l1_set (c, key, (size_t) len, value, sizeof value, 0);
        //  The first 100 keys are read often.
        for (int hot = 0; hot < 100 && i % 10 == 0; hot += 7) {
            len = snprintf (key, sizeof key, "k%d", hot);
            zo_l1_get (c, key, (size_t) len, 0, NULL, NULL, NULL);
        }
    }
    cr_assert_gt (zo_l1_stats (c).bytes, (1 << 20) * 9 / 10);
    zo_l1_set_budget (c, 1 << 18);
    cr_assert_leq (zo_l1_stats (c).bytes, 1 << 18);
    cr_assert_eq (zo_l1_stats (c).budget, 1 << 18);
    int kept = 0;
    for (int hot = 0; hot < 100; hot += 7) {
        int len = snprintf (key, sizeof key, "k%d", hot);
        kept += zo_l1_get (c, key, (size_t) len, 0, NULL, NULL, NULL) == 0;
    }
    cr_assert_geq (kept, 12, "the hot keys survive the shed (%d of 15)", kept);
    zo_l1_set_budget (c, 1 << 20);
    cr_assert_eq (zo_l1_stats (c).budget, 1 << 20);
    zo_l1_destroy (&c);
}

/*  Many more bytes set than the budget holds: never over it, and what
    is there can be read back intact.  */
Test (l1, the_budget_holds)
{
    for (int p = 0; p < 2; p++) {
        const size_t budget = 256 * 1024;
        zo_l1_t *c = zo_l1_new (budget, (zo_l1_policy_t) p);
        char key [32], value [512];
        for (int i = 0; i < 20000; i++) {
            int len = snprintf (key, sizeof key, "key-%d", i % 3000);
            size_t vlen = (size_t) (i * 7919) % sizeof value;
            memset (value, 'a' + i % 26, vlen);
            cr_assert_eq (zo_l1_set (c, key, (size_t) len, value, vlen, 0), 0);
            cr_assert_leq (zo_l1_stats (c).bytes, budget, "%s, set %d", zo_l1_policy_name (p), i);
            if (i % 3 == 0)
                zo_l1_get (c, key, (size_t) len, 0, NULL, NULL, NULL);
        }
        cr_assert_gt (zo_l1_stats (c).evictions, 0);
        //  Whatever is still there is the last value set for its key.
        int found = 0;
        for (int k = 0; k < 3000; k++) {
            int len = snprintf (key, sizeof key, "key-%d", k);
            const void *v;
            size_t n;
            if (zo_l1_get (c, key, (size_t) len, 0, &v, &n, NULL) == 0) {
                found++;
                int last = 18000 + k;       //  the last i with i % 3000 == k
                while (last >= 20000)
                    last -= 3000;
                cr_assert_eq (n, (size_t) (last * 7919) % sizeof value);
                for (size_t j = 0; j < n; j++)
                    cr_assert_eq (((const char *) v) [j], 'a' + last % 26);
            }
        }
        cr_assert_gt (found, 100, "%s kept %d", zo_l1_policy_name (p), found);
        zo_l1_destroy (&c);
    }
}

//  A Zipf(s) trace over n keys (xorshift64*, fixed seed), with an optional
//  one-off scan of `scan` new keys every `every` requests.
static double
s_ratio (zo_l1_policy_t policy, double s, int n_keys, int requests, size_t budget, int scan,
         int every)
{
    double *cdf = malloc ((size_t) n_keys * sizeof *cdf), sum = 0;
    for (int k = 0; k < n_keys; k++)
        sum += 1.0 / pow (k + 1, s);
    double acc = 0;
    for (int k = 0; k < n_keys; k++) {
        acc += 1.0 / pow (k + 1, s) / sum;
        cdf [k] = acc;
    }
    uint64_t x = 88172645463325252ull;
    zo_l1_t *c = zo_l1_new (budget, policy);
    int scanned = 0;
    char key [32];
    for (int r = 0; r < requests; r++) {
        int len;
        if (scan && r % every < scan)
            len = snprintf (key, sizeof key, "scan-%d", scanned++);
        else {
            x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
            double u = (double) ((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
            int lo = 0, hi = n_keys - 1;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (cdf [mid] < u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            len = snprintf (key, sizeof key, "k%d", lo);
        }
        if (zo_l1_get (c, key, (size_t) len, 0, NULL, NULL, NULL) != 0)
            zo_l1_set (c, key, (size_t) len, NULL, 100, 0);
    }
    zo_l1_stats_t st = zo_l1_stats (c);
    zo_l1_destroy (&c);
    free (cdf);
    return (double) st.hits / (double) (st.hits + st.misses);
}

Test (l1, tinylfu_beats_lru_on_zipf_and_on_scans)
{
    const int keys = 50000, requests = 400000;
    const size_t entry = ZO_L1_OVERHEAD + 6 + 100;
    const size_t budget = (size_t) keys / 100 * entry;      //  1 % of the key space
    double lru = s_ratio (ZO_L1_LRU, 0.8, keys, requests, budget, 0, 0);
    double lfu = s_ratio (ZO_L1_TINYLFU, 0.8, keys, requests, budget, 0, 0);
    printf ("zipf 0.8, 1 %%: lru %.4f tinylfu %.4f\n", lru, lfu);
    cr_assert_gt (lfu, lru + 0.02, "zipf 0.8: tinylfu %.4f, lru %.4f", lfu, lru);
    lru = s_ratio (ZO_L1_LRU, 0.99, keys, requests, budget, 0, 0);
    lfu = s_ratio (ZO_L1_TINYLFU, 0.99, keys, requests, budget, 0, 0);
    printf ("zipf 0.99, 1 %%: lru %.4f tinylfu %.4f\n", lru, lfu);
    cr_assert_gt (lfu, lru + 0.02, "zipf 0.99: tinylfu %.4f, lru %.4f", lfu, lru);
    //  Every 10,000 requests, 2,000 keys nobody asks for again.
    lru = s_ratio (ZO_L1_LRU, 0.99, keys, requests, budget, 2000, 10000);
    lfu = s_ratio (ZO_L1_TINYLFU, 0.99, keys, requests, budget, 2000, 10000);
    printf ("zipf 0.99 with scans, 1 %%: lru %.4f tinylfu %.4f\n", lru, lfu);
    cr_assert_gt (lfu, lru + 0.05, "scans: tinylfu %.4f, lru %.4f", lfu, lru);
}
