/*  l3_inv: the PostgreSQL level's invalidations (see l3_int.h). A glob
    without a class is LIKE batches over the keys with its literal prefix;
    with a class, pages of those keys matched here by fnmatch.
*/
#include "l3_int.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

static void
s_put32 (unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p [i] = (unsigned char) v;
}

//  The smallest key greater than every key starting with prefix, into
//  op->hi; none (hi NULL) for an empty prefix or one of 0xff bytes only.
static void
s_upper_bound (l3_op_t *op)
{
    size_t len = op->lo_len;
    while (len && op->lo [len - 1] == 0xff)
        len--;
    if (len == 0)
        return;
    memcpy (op->hi, op->lo, len);
    op->hi [len - 1]++;
    op->hi_len = len;
}

int
zo__l3_inv_parse (l3_op_t *op, const char *glob, size_t len)
{
    op->lo = (unsigned char *) malloc (len + 1);
    op->hi = (unsigned char *) malloc (len + 1);
    op->pattern = (char *) malloc (2 * len + 1);
    if (!op->lo || !op->hi || !op->pattern) {
        errno = ENOMEM;
        return -1;
    }
    bool prefix = true;
    char *like = op->pattern;
    for (size_t i = 0; i < len; i++) {
        char c = glob [i];
        if (c == '*' || c == '?') {
            *like++ = c == '*'? '%': '_';
            prefix = false;
            continue;
        }
        if (c == '[') {
            op->glob = true;
            break;
        }
        //  A backslash escapes the next byte; a last one is itself.
        if (c == '\\' && i + 1 < len)
            c = glob [++i];
        if (prefix)
            op->lo [op->lo_len++] = (unsigned char) c;
        if (c == '%' || c == '_' || c == '\\')
            *like++ = '\\';
        *like++ = c;
    }
    op->pattern_len = (size_t) (like - op->pattern);
    if (op->glob) {
        if (memchr (glob, 0, len)) {
            errno = EINVAL;
            return -1;
        }
        memcpy (op->pattern, glob, len);
        op->pattern [len] = 0;
        op->pattern_len = len;
    }
    s_upper_bound (op);
    if (!op->hi_len) {
        free (op->hi);
        op->hi = NULL;
    }
    return 0;
}

int
zo__l3_inv_send (zo_l3_t *self, l3_op_t *op, const unsigned char *array, size_t array_len)
{
    unsigned char limit [8];
    zo__l3_put64 (limit, self->opts.cleanup_batch);
    const char *lo = op->lo_len? (const char *) op->lo: "";
    const char *hi = op->hi? (const char *) op->hi: "";
    if (op->deleting) {
        const char *values [] = { (const char *) array };
        int lengths [] = { (int) array_len };
        return zo__l3_send (self, op, P_DEL_KEYS, values, lengths);
    }
    if (op->glob) {
        const char *values [] = { lo, hi, (const char *) limit };
        int lengths [] = { (int) op->lo_len, (int) op->hi_len, 8 };
        return zo__l3_send (self, op, op->hi? P_SCAN: P_SCAN_OPEN, values, lengths);
    }
    const char *values [] = { lo, hi, op->pattern_len? op->pattern: "", (const char *) limit };
    int lengths [] = { (int) op->lo_len, (int) op->hi_len, (int) op->pattern_len, 8 };
    return zo__l3_send (self, op, op->hi? P_LIKE: P_LIKE_OPEN, values, lengths);
}

//  A page of keys came: the next scan starts after its last key, and its
//  keys matching the glob are deleted as a bytea[] in binary (a header,
//  then each element's length and bytes). 1: the deletion is sent; 0: no
//  match; -1: out of memory or the send failed, an ERROR.
static int
s_inv_page (zo_l3_t *self, l3_op_t *op, const PGresult *res)
{
    int n = PQntuples (res);
    op->more = (uint32_t) n >= self->opts.cleanup_batch;
    if (n == 0)
        return 0;
    size_t last = (size_t) PQgetlength (res, n - 1, 0);
    unsigned char *lo = (unsigned char *) realloc (op->lo, last + 1);
    bool *match = (bool *) calloc ((size_t) n, sizeof (bool));
    if (lo)
        op->lo = lo;
    if (!lo || !match) {
        free (match);
        return -1;
    }
    memcpy (op->lo, PQgetvalue (res, n - 1, 0), last);
    op->lo [last] = 0;
    op->lo_len = last + 1;
    size_t size = 20;
    int matches = 0;
    for (int i = 0; i < n; i++) {
        size_t len = (size_t) PQgetlength (res, i, 0);
        const char *key = PQgetvalue (res, i, 0);
        if (memchr (key, 0, len))
            continue;               //  fnmatch would see less than the key
        if (len + 1 > self->keybuf_size) {
            char *buf = (char *) realloc (self->keybuf, len + 1);
            if (!buf) {
                free (match);
                return -1;
            }
            self->keybuf = buf;
            self->keybuf_size = len + 1;
        }
        memcpy (self->keybuf, key, len);
        self->keybuf [len] = 0;
        if (fnmatch (op->pattern, self->keybuf, 0) == 0) {
            match [i] = true;
            matches++;
            size += 4 + len;
        }
    }
    if (!matches) {
        free (match);
        return 0;
    }
    int rc = -1;
    unsigned char *array = size <= INT32_MAX? (unsigned char *) malloc (size): NULL;
    if (array) {
        unsigned char *p = array + 20;
        s_put32 (array, 1);                     //  dimensions
        s_put32 (array + 4, 0);                 //  no NULLs
        s_put32 (array + 8, ZO_L3_BYTEA);
        s_put32 (array + 12, (uint32_t) matches);
        s_put32 (array + 16, 1);                //  the lower bound
        for (int i = 0; i < n; i++)
            if (match [i]) {
                uint32_t len = (uint32_t) PQgetlength (res, i, 0);
                s_put32 (p, len);
                memcpy (p + 4, PQgetvalue (res, i, 0), len);
                p += 4 + len;
            }
        op->deleting = true;
        rc = zo__l3_inv_send (self, op, array, size);
    }
    free (array);
    free (match);
    return rc == 0? 1: -1;
}

void
zo__l3_on_invalidate (zo_l3_t *self, l3_op_t *op, const PGresult *res)
{
    if (op->glob && !op->deleting) {
        int rc = s_inv_page (self, op, res);
        if (rc < 0)
            zo__l3_finish (self, op, false, ZO_LEVEL_ERROR, NULL, 0, 0);
        if (rc)
            return;                 //  ERROR, or its matches are being deleted
    }
    else {
        uint64_t rows = zo__l3_rows (res);
        op->count += rows;
        *self->invalidated += rows;
        op->deleting = false;
        if (!op->glob)
            op->more = rows >= self->opts.cleanup_batch;
    }
    if (!op->more)
        zo__l3_finish (self, op, true, ZO_LEVEL_HIT, NULL, 0, 0);
    else
    if (zo__l3_inv_send (self, op, NULL, 0))
        zo__l3_finish (self, op, false, ZO_LEVEL_ERROR, NULL, 0, 0);
}
