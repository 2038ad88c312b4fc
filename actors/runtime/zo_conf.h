/*  zo_conf: an actor's configuration, in layers, each over the last:
      1. embedded defaults (deploy/zorch.conf, compiled in),
      2. a ZPL file (CZMQ zconfig): --config FILE, or $ZORCH_CONFIG,
      3. environment variables ZORCH_<SECTION>_<KEY> (ZORCH_BROKER_FRONT
         sets broker/front; the key part is lowercased, '_' kept),
      4. flags --<section>-<key> VALUE or --<section>-<key>=VALUE
         ('-' in the key becomes '_': --broker-max-attempts 5), and
         --set section/key=value for any path, including nested ones.
    Paths use '/' as zconfig does: "broker/front", "worker/routes/...".
*/
#ifndef ZO_CONF_H_INCLUDED
#define ZO_CONF_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _zo_conf_t zo_conf_t;

/*  A configuration holding the embedded defaults. NULL if they do not
    parse (a build defect).  */
zo_conf_t *zo_conf_new (void);
void zo_conf_destroy (zo_conf_t **self_p);

/*  Loads a ZPL file over what is there, merging section by section; a
    list (a section whose children repeat a name, like worker/routes) in
    the file replaces the list in the configuration as a whole. 0, or -1
    with zo_conf_errstr set (the configuration is then unchanged).  */
int zo_conf_load_file (zo_conf_t *self, const char *path);
/*  Applies ZORCH_* variables from envp (NULL = environ), except
    ZORCH_CONFIG, which names a file (see zo_conf_load).  */
void zo_conf_apply_env (zo_conf_t *self, char **envp);
/*  Consumes --config, --set and --<section>-<key> flags from argv, in
    order; argv is compacted so that what is left (argv[0], positional
    arguments and flags it does not know) stays for the caller, and the new
    argc is returned. A --<section>-<key> flag is recognised only when
    that section already exists in the configuration. -1 with errstr set
    on a bad flag or an unreadable config file.  */
int zo_conf_apply_args (zo_conf_t *self, int argc, char **argv);

/*  The usual layering over what is there: the file named by --config /
    -c in argv (else $ZORCH_CONFIG from envp, if set), then the ZORCH_*
    variables of envp (NULL = environ), then the flags, as
    zo_conf_apply_args does (which does not load that file a second time,
    so the environment stays above it). Returns the new argc, or -1 with
    errstr set.  */
int zo_conf_load (zo_conf_t *self, int argc, char **argv, char **envp);

/*  Sets one value by path, creating sections as needed.  */
void zo_conf_set (zo_conf_t *self, const char *path, const char *value);

/*  Typed reads; `dflt` when the path is absent or empty. Numbers accept
    suffixes: durations "250ms", "30s", "5m", "1h" (plain = ms) and sizes
    "64K", "16M", "1G" (plain = bytes). A value that does not parse logs a
    warning and yields dflt.  */
const char *zo_conf_str (zo_conf_t *self, const char *path, const char *dflt);
int64_t zo_conf_int (zo_conf_t *self, const char *path, int64_t dflt);
double zo_conf_double (zo_conf_t *self, const char *path, double dflt);
bool zo_conf_bool (zo_conf_t *self, const char *path, bool dflt);
uint64_t zo_conf_ms (zo_conf_t *self, const char *path, uint64_t dflt);
uint64_t zo_conf_size (zo_conf_t *self, const char *path, uint64_t dflt);

/*  Range-checked reads, for every numeric setting an actor depends on:
    the value at path (dflt when absent or empty), which must parse and lie
    in min..max (inclusive; sizes and durations with their suffixes). A
    value that does not parse or is out of range is a configuration error:
    it is logged with the key and the allowed range ("broker/queue_max =
    -5 is out of range 1..100000000"), the first such error is kept
    (zo_conf_bad, zo_conf_errstr), and dflt is returned so that the caller
    can go on reading the rest and then refuse to start.  */
int64_t zo_conf_int_range (zo_conf_t *self, const char *path, int64_t dflt,
                           int64_t min, int64_t max);
uint64_t zo_conf_ms_range (zo_conf_t *self, const char *path, uint64_t dflt,
                           uint64_t min, uint64_t max);
uint64_t zo_conf_size_range (zo_conf_t *self, const char *path, uint64_t dflt,
                             uint64_t min, uint64_t max);
/*  A ZeroMQ endpoint read the same way (dflt when absent or empty):
    tcp://host:port (host may be * when binding), ipc://path or
    inproc://name. Anything else is a configuration error as above, and
    dflt is returned.  */
const char *zo_conf_endpoint (zo_conf_t *self, const char *path, const char *dflt);
/*  Records a configuration error the caller found (a bad route, say) the
    same way: logged as "config: <text>", kept if it is the first, and
    zo_conf_bad is then true.  */
void zo_conf_refuse (zo_conf_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/*  For a program that takes no arguments beyond its configuration: what
    zo_conf_apply_args left in argv[1..argc-1] is refused, the first of it
    named ("unknown flag --bogus", with the nearest known flag when one is
    near: "unknown flag --broker-fornt (did you mean --broker-front?)").
    0 when nothing was left, else -1 (and zo_conf_bad).  */
int zo_conf_refuse_args (zo_conf_t *self, int argc, char **argv);
/*  True once a range-checked read (or zo_conf_load) met a bad value.  */
bool zo_conf_bad (zo_conf_t *self);

/*  The same parsing for text that is not at a path (options of a list
    entry such as a route): a duration in ms / a size in bytes, with the
    suffixes above ("us" too for durations, rounded to ms). 0, or -1 if the
    text does not parse.  */
int zo_conf_parse_ms (const char *text, uint64_t *ms);
int zo_conf_parse_size (const char *text, uint64_t *bytes);

/*  The underlying tree, for walking lists such as worker/routes. Owned by
    self.  */
zconfig_t *zo_conf_tree (zo_conf_t *self);
/*  The whole configuration as ZPL text (caller frees), for --print-config.  */
char *zo_conf_dump (zo_conf_t *self);
/*  Why the last failing call failed (zo_conf_load, a range-checked read).  */
const char *zo_conf_errstr (zo_conf_t *self);

/*  The embedded defaults as ZPL text.  */
extern const char zo_conf_defaults [];

#endif
