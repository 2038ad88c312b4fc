/*  Tests for actors/runtime/zo_heap.c: random pushes, removes and new keys
    against a plain array searched by brute force; the heap's top is always
    the earliest (key, then tie) of what is in it.  */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "zo_heap.h"

enum { N = 512 };

typedef struct {
    bool in;
    uint64_t key, tie;
} s_ref_t;

static int
s_earliest (const s_ref_t *ref)
{
    int best = -1;
    for (int i = 0; i < N; i++)
        if (ref [i].in && (best < 0 || ref [i].key < ref [best].key
                           || (ref [i].key == ref [best].key && ref [i].tie < ref [best].tie)))
            best = i;
    return best;
}

Test (heap, random_operations_match_a_brute_force_reference)
{
    zo_heap_t heap;
    cr_assert_eq (zo_heap_init (&heap, 16), 0);
    cr_assert_eq (zo_heap_grow (&heap, N), 0);
    cr_assert_eq (zo_heap_grow (&heap, 8), 0, "growing to less is a no-op");
    cr_assert_eq (heap.cap, N);
    s_ref_t ref [N] = { { 0 } };
    uint32_t size = 0;
    uint64_t tie = 0;
    srand (7);
    for (int step = 0; step < 200000; step++) {
        uint32_t slot = (uint32_t) (rand () % N);
        //  Few distinct keys, so that ties are common.
        uint64_t key = (uint64_t) (rand () % 64);
        int op = rand () % 3;
        if (!ref [slot].in) {
            zo_heap_push (&heap, slot, key, ++tie);
            ref [slot] = (s_ref_t) { true, key, tie };
            size++;
        }
        else
        if (op == 0) {
            zo_heap_remove (&heap, slot);
            ref [slot].in = false;
            size--;
        }
        else
        if (op == 1) {
            zo_heap_rekey (&heap, slot, key, ++tie);
            ref [slot].key = key;
            ref [slot].tie = tie;
        }
        else {
            //  Pop the top, as the timers do.
            int best = s_earliest (ref);
            cr_assert_eq (zo_heap_top (&heap)->slot, (uint32_t) best);
            zo_heap_remove (&heap, (uint32_t) best);
            ref [best].in = false;
            size--;
        }
        cr_assert_eq (heap.size, size);
        if (size) {
            int best = s_earliest (ref);
            const zo_heap_item_t *top = zo_heap_top (&heap);
            cr_assert_eq (top->slot, (uint32_t) best, "step %d", step);
            cr_assert_eq (top->key, ref [best].key);
            cr_assert_eq (top->tie, ref [best].tie);
        }
    }
    zo_heap_fini (&heap);
    zo_heap_fini (&heap);
}
