/*  A plugin as built against handler ABI 1 (before init took a context):
    only its exported symbol and ABI number matter, to test that the worker
    refuses it with a message saying to rebuild.  */
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t abi;
    const char *name;
    void *init, *fini, *start, *cancel;
} s_plugin_v1_t;

static void s_start (void) {}

const s_plugin_v1_t zorch_handler_v1 = { 1, "old", NULL, NULL, (void *) s_start, NULL };
