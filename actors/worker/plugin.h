/*  plugin: custom handlers as shared objects (zorch/handler.h), and the
    implementation of that header's API over the worker's slots and loop.

        route
            match = "text.*"
            handler = plugin
            path = /usr/lib/zorch/upper.so     #   relative: under worker/plugin_dir
            symbol = zorch_handler_v2          #   the default
    or `handler = upper`, found as <worker/plugin_dir>/upper.so.

    A library is opened once however many routes use it (RTLD_NOW |
    RTLD_LOCAL) and closed when the last route goes. Its API calls
    (zo_handler_complete, ...) resolve against the worker executable, which
    is linked with --export-dynamic.
*/
#ifndef ZO_PLUGIN_H_INCLUDED
#define ZO_PLUGIN_H_INCLUDED

#include <stddef.h>

#include "handlers.h"
#include "zorch/handler.h"

/*  Opens path and finds symbol (NULL: "zorch_handler_v2"), checking its
    ABI. The plugin, or NULL with why.  */
const zo_handler_plugin_t *zo_plugin_open (const char *path, const char *symbol,
                                           char *why, size_t why_size);
/*  Drops one reference taken by zo_plugin_open.  */
void zo_plugin_close (const zo_handler_plugin_t *plugin);

#endif
