/*  zo_conf: layered configuration over CZMQ zconfig (see zo_conf.h).

    A file is merged over the tree node by node, by name, except for lists
    (a section holding several children of the same name, such as
    worker/routes): a list in the file replaces the one in the tree as a
    whole, since merging route 1 of the file into route 1 of the defaults
    would make nonsense. zconfig cannot remove nodes in its stable API, so
    a merge builds a new tree and drops the old one.
*/
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_conf.h"

extern char **environ;

struct _zo_conf_t {
    zconfig_t *root;
    zconfig_t *schema;          /* the embedded defaults: every key there is */
    char *file;                 /* the file loaded last, or NULL */
    bool bad;                   /* a value or flag was refused */
    char errstr [1024];
};


zo_conf_t *
zo_conf_new (void)
{
    zo_conf_t *self = (zo_conf_t *) calloc (1, sizeof (zo_conf_t));
    if (!self)
        return NULL;
    self->root = zconfig_str_load (zo_conf_defaults);
    self->schema = zconfig_str_load (zo_conf_defaults);
    if (!self->root || !self->schema) {
        zo_conf_destroy (&self);
        return NULL;
    }
    return self;
}

void
zo_conf_destroy (zo_conf_t **self_p)
{
    assert (self_p);
    zo_conf_t *self = *self_p;
    if (!self)
        return;
    zconfig_destroy (&self->root);
    zconfig_destroy (&self->schema);
    free (self->file);
    free (self);
    *self_p = NULL;
}


//  --------------------------------------------------------------------------
//  Merging

static zconfig_t *
s_find_child (zconfig_t *parent, const char *name)
{
    for (zconfig_t *child = parent? zconfig_child (parent): NULL; child;
         child = zconfig_next (child))
        if (streq (zconfig_name (child), name))
            return child;
    return NULL;
}

//  True if the node is a list: some name appears twice among its
//  children, or it is named as a plural whose children (none, or any
//  number) are all its singular: routes/route, services/service,
//  databases/database. A list the defaults leave empty, or hold one entry
//  of, is a list that way.
static bool
s_is_list (zconfig_t *node)
{
    for (zconfig_t *a = zconfig_child (node); a; a = zconfig_next (a))
        for (zconfig_t *b = zconfig_next (a); b; b = zconfig_next (b))
            if (streq (zconfig_name (a), zconfig_name (b)))
                return true;
    const char *name = zconfig_name (node);
    size_t len = name ? strlen (name) : 0;
    if (len < 2 || name [len - 1] != 's')
        return false;
    if (!zconfig_child (node))
        return !zconfig_value (node) || !*zconfig_value (node);  //  an empty section, not a key
    for (zconfig_t *a = zconfig_child (node); a; a = zconfig_next (a))
        if (strlen (zconfig_name (a)) != len - 1 || strncmp (zconfig_name (a), name, len - 1))
            return false;
    return true;
}

//  Makes under parent (NULL for a root) a node that is over merged onto
//  base (either may be NULL, not both), and returns it.
static zconfig_t *
s_merge (zconfig_t *parent, zconfig_t *base, zconfig_t *over)
{
    zconfig_t *model = over? over: base;
    zconfig_t *node = zconfig_new (zconfig_name (model), parent);
    const char *value = over && zconfig_value (over)? zconfig_value (over)
                      : base? zconfig_value (base): NULL;
    if (value)
        zconfig_set_value (node, "%s", value);

    bool replace = base && over && zconfig_child (over)
                && (s_is_list (base) || s_is_list (over));
    if (base && !replace) {
        for (zconfig_t *child = zconfig_child (base); child; child = zconfig_next (child)) {
            //  In a list, only the first of a name can be matched by name.
            zconfig_t *match = s_find_child (over, zconfig_name (child));
            if (match && s_find_child (base, zconfig_name (child)) != child)
                match = NULL;
            s_merge (node, child, match);
        }
    }
    if (over) {
        for (zconfig_t *child = zconfig_child (over); child; child = zconfig_next (child))
            if (replace || !base || !s_find_child (base, zconfig_name (child))
            ||  s_find_child (over, zconfig_name (child)) != child)
                s_merge (node, NULL, child);
    }
    return node;
}

//  --------------------------------------------------------------------------
//  Known keys: the embedded defaults name every key there is. Below a list
//  (worker/routes, monitor/alerts) an entry may hold any option: what a
//  route or an alert accepts is its own module's to check.

//  True if path ("broker/front", "worker/routes/route/ms") is a key or a
//  section of the defaults.
static bool
s_known (zo_conf_t *self, const char *path)
{
    zconfig_t *node = self->schema;
    char part [256];
    while (*path == '/')
        path++;
    while (*path) {
        size_t len = strcspn (path, "/");
        if (len >= sizeof (part))
            return false;
        memcpy (part, path, len);
        part [len] = 0;
        //  Inside a list entry: its own options. The entry must be of a
        //  kind the defaults show (route in routes), unless they show none.
        bool list = s_is_list (node);
        if (list && !zconfig_child (node))
            return true;
        node = s_find_child (node, part);
        if (!node)
            return false;
        if (list)
            return true;
        path += len;
        while (*path == '/')
            path++;
    }
    return true;
}

//  Edit distance of a and b (bounded lengths; a large number past them).
static size_t
s_distance (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 126 || lb > 126)
        return SIZE_MAX;
    size_t row [128];
    for (size_t j = 0; j <= lb; j++)
        row [j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row [0];
        row [0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row [j];
            size_t best = diag + (a [i - 1] != b [j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row [j - 1] + 1 < best)
                best = row [j - 1] + 1;
            row [j] = best;
            diag = up;
        }
    }
    return row [lb];
}

//  The known key nearest to path, into best (its path); skips list
//  entries. best_d is the distance so far.
static void
s_nearest_in (zconfig_t *node, const char *prefix, const char *path, char *best,
              size_t best_size, size_t *best_d)
{
    if (s_is_list (node))
        return;
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        char full [256];
        snprintf (full, sizeof (full), "%s%s%s", prefix, *prefix ? "/" : "", zconfig_name (child));
        size_t d = s_distance (path, full);
        if (d < *best_d) {
            *best_d = d;
            snprintf (best, best_size, "%s", full);
        }
        s_nearest_in (child, full, path, best, best_size, best_d);
    }
}

//  " (did you mean X?)" for the known key nearest to path, when one is
//  near enough to be a typo; "" otherwise. style: '/' for paths, '-' for
//  flags (--broker-front), '_' for variables (ZORCH_BROKER_FRONT).
static void
s_did_you_mean (zo_conf_t *self, const char *path, char style, char *text, size_t size)
{
    char best [256] = "";
    size_t best_d = SIZE_MAX;
    s_nearest_in (self->schema, "", path, best, sizeof (best), &best_d);
    text [0] = 0;
    size_t len = strlen (path);
    if (!*best || best_d > (len < 9 ? 2 : len / 4 + 1))
        return;
    char shown [300];
    if (style == '-') {
        snprintf (shown, sizeof (shown), "--%s", best);
        for (char *c = shown + 2; *c; c++)
            if (*c == '/' || *c == '_')
                *c = '-';
    }
    else
    if (style == '_') {
        snprintf (shown, sizeof (shown), "ZORCH_%s", best);
        for (char *c = shown + 6; *c; c++)
            *c = *c == '/' ? '_' : (char) toupper ((unsigned char) *c);
    }
    else
        snprintf (shown, sizeof (shown), "%s", best);
    snprintf (text, size, " (did you mean %s?)", shown);
}

//  Every key of a loaded file must be known. 0, or -1 with errstr set.
static int
s_check_file (zo_conf_t *self, zconfig_t *node, const char *prefix, const char *file)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        char full [256];
        snprintf (full, sizeof (full), "%s%s%s", prefix, *prefix ? "/" : "", zconfig_name (child));
        if (!s_known (self, full)) {
            char hint [320];
            s_did_you_mean (self, full, '/', hint, sizeof (hint));
            snprintf (self->errstr, sizeof (self->errstr), "config file %s: unknown key %s%s",
                      file, full, hint);
            return -1;
        }
        if (s_check_file (self, child, full, file))
            return -1;
    }
    return 0;
}

int
zo_conf_load_file (zo_conf_t *self, const char *path)
{
    assert (self);
    assert (path);
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (self->errstr, sizeof (self->errstr),
                  "cannot read config file %s: %s", path, strerror (errno));
        return -1;
    }
    fclose (file);
    zconfig_t *loaded = zconfig_load (path);
    if (!loaded) {
        snprintf (self->errstr, sizeof (self->errstr),
                  "config file %s is not valid ZPL", path);
        return -1;
    }
    if (s_check_file (self, loaded, "", path)) {
        zconfig_destroy (&loaded);
        return -1;
    }
    zconfig_t *merged = s_merge (NULL, self->root, loaded);
    zconfig_destroy (&loaded);
    zconfig_destroy (&self->root);
    self->root = merged;
    free (self->file);
    self->file = strdup (path);
    return 0;
}


//  --------------------------------------------------------------------------
//  Environment and flags

void
zo_conf_set (zo_conf_t *self, const char *path, const char *value)
{
    assert (self);
    assert (path);
    assert (value);
    while (*path == '/')
        path++;
    zconfig_put (self->root, path, value);
}

void
zo_conf_apply_env (zo_conf_t *self, char **envp)
{
    assert (self);
    if (!envp)
        envp = environ;
    for (; *envp; envp++) {
        const char *entry = *envp;
        if (strncmp (entry, "ZORCH_", 6) != 0 || strncmp (entry, "ZORCH_CONFIG=", 13) == 0)
            continue;
        const char *equals = strchr (entry, '=');
        const char *section = entry + 6;
        const char *under = strchr (section, '_');
        //  Need ZORCH_<SECTION>_<KEY>=, both parts non-empty.
        if (!equals || !under || under > equals || under == section || under + 1 >= equals)
            continue;
        char path [256];
        size_t length = (size_t) (equals - section);
        if (length >= sizeof (path))
            continue;
        for (size_t i = 0; i < length; i++)
            path [i] = (char) tolower ((unsigned char) section [i]);
        path [under - section] = '/';
        path [length] = 0;
        if (!s_known (self, path)) {
            //  ZORCH_* variables of other sections are not configuration
            //  (tests and tools use some); in a known section it is a typo.
            path [under - section] = 0;
            bool ours = s_find_child (self->schema, path) != NULL;
            path [under - section] = '/';
            if (ours) {
                char hint [320];
                s_did_you_mean (self, path, '_', hint, sizeof (hint));
                zsys_warning ("config: %.*s names no key (%s); ignored%s",
                              (int) (equals - entry), entry, path, hint);
            }
            continue;
        }
        zconfig_put (self->root, path, equals + 1);
    }
}

//  The value of a flag: after '=' in the same argument, else the next one.
static const char *
s_flag_value (zo_conf_t *self, int argc, char **argv, int *index, const char *equals)
{
    if (equals)
        return equals + 1;
    if (*index + 1 >= argc) {
        snprintf (self->errstr, sizeof (self->errstr), "%s needs a value", argv [*index]);
        return NULL;
    }
    return argv [++*index];
}

//  A flag's name (without "--", len bytes) as a path: broker-max-attempts
//  -> broker/max_attempts. Returns where the '/' is (the section's
//  length), or -1 when the name has no section and key both.
static int
s_flag_path (const char *name, size_t len, char *path, size_t size)
{
    const char *dash = memchr (name, '-', len);
    if (!dash || dash == name || dash + 1 >= name + len || len >= size)
        return -1;
    memcpy (path, name, len);
    path [len] = 0;
    int cut = (int) (dash - name);
    path [cut] = '/';
    for (char *c = path + cut + 1; *c; c++)
        if (*c == '-')
            *c = '_';
    return cut;
}

static int
s_apply_args (zo_conf_t *self, int argc, char **argv)
{
    assert (argc >= 0);
    int kept = argc > 0? 1: 0;
    int index;
    for (index = 1; index < argc; index++) {
        char *arg = argv [index];
        if (streq (arg, "--"))
            break;                      //  the rest is positional
        if (strncmp (arg, "--", 2) != 0 && !streq (arg, "-c")) {
            argv [kept++] = arg;
            continue;
        }
        const char *name = streq (arg, "-c")? "config": arg + 2;
        const char *equals = strchr (name, '=');
        size_t name_len = equals? (size_t) (equals - name): strlen (name);

        if (name_len == 6 && strncmp (name, "config", 6) == 0) {
            const char *path = s_flag_value (self, argc, argv, &index, equals);
            if (!path)
                return -1;
            //  zo_conf_load read it already, under the environment.
            if (self->file && streq (self->file, path))
                continue;
            if (zo_conf_load_file (self, path))
                return -1;
            continue;
        }
        if (name_len == 3 && strncmp (name, "set", 3) == 0) {
            const char *setting = s_flag_value (self, argc, argv, &index, equals);
            if (!setting)
                return -1;
            const char *assign = strchr (setting, '=');
            if (!assign || assign == setting || assign - setting >= 256) {
                snprintf (self->errstr, sizeof (self->errstr),
                          "--set wants path=value, not '%s'", setting);
                return -1;
            }
            char path [256];
            memcpy (path, setting, (size_t) (assign - setting));
            path [assign - setting] = 0;
            if (!s_known (self, path)) {
                char hint [320];
                s_did_you_mean (self, path, '/', hint, sizeof (hint));
                snprintf (self->errstr, sizeof (self->errstr), "--set: unknown key %s%s", path,
                          hint);
                return -1;
            }
            zo_conf_set (self, path, assign + 1);
            continue;
        }
        //  --<section>-<key>, when that section exists.
        char path [256];
        int cut = s_flag_path (name, name_len, path, sizeof (path));
        if (cut > 0) {
            path [cut] = 0;
            bool section = s_find_child (self->schema, path) != NULL;
            path [cut] = '/';
            if (section) {
                if (!s_known (self, path) || strchr (path + cut + 1, '/')) {
                    char hint [320];
                    s_did_you_mean (self, path, '-', hint, sizeof (hint));
                    snprintf (self->errstr, sizeof (self->errstr), "unknown flag --%.*s%s",
                              (int) name_len, name, hint);
                    return -1;
                }
                const char *value = s_flag_value (self, argc, argv, &index, equals);
                if (!value)
                    return -1;
                zconfig_put (self->root, path, value);
                continue;
            }
        }
        argv [kept++] = arg;            //  not ours
    }
    for (; index < argc; index++)
        argv [kept++] = argv [index];
    if (kept < argc)
        argv [kept] = NULL;
    return kept;
}

int
zo_conf_apply_args (zo_conf_t *self, int argc, char **argv)
{
    assert (self);
    int rc = s_apply_args (self, argc, argv);
    if (rc < 0)
        self->bad = true;
    return rc;
}

int
zo_conf_load (zo_conf_t *self, int argc, char **argv, char **envp)
{
    assert (self);
    if (!envp)
        envp = environ;
    const char *path = NULL;
    for (int index = 1; index < argc; index++) {
        const char *arg = argv [index];
        if (streq (arg, "--"))
            break;
        if ((streq (arg, "--config") || streq (arg, "-c")) && index + 1 < argc) {
            path = argv [index + 1];
            break;
        }
        if (strncmp (arg, "--config=", 9) == 0) {
            path = arg + 9;
            break;
        }
    }
    if (!path)
        for (char **env = envp; *env; env++)
            if (strncmp (*env, "ZORCH_CONFIG=", 13) == 0 && (*env) [13])
                path = *env + 13;
    int rc = path ? zo_conf_load_file (self, path) : 0;
    if (rc == 0) {
        zo_conf_apply_env (self, envp);
        rc = zo_conf_apply_args (self, argc, argv);
    }
    if (rc < 0)
        self->bad = true;
    return rc;
}


//  --------------------------------------------------------------------------
//  Typed reads

static const char *
s_value (zo_conf_t *self, const char *path)
{
    while (*path == '/')
        path++;
    zconfig_t *item = zconfig_locate (self->root, path);
    const char *value = item? zconfig_value (item): NULL;
    return value && *value? value: NULL;
}

const char *
zo_conf_str (zo_conf_t *self, const char *path, const char *dflt)
{
    assert (self);
    assert (path);
    const char *value = s_value (self, path);
    return value? value: dflt;
}

//  Parses a non-negative number with a unit suffix from table (matched
//  case-insensitively; "" is the plain unit). -1 if it does not parse.
typedef struct { const char *suffix; double scale; } s_unit_t;

static int
s_parse_units (const char *text, const s_unit_t *units, uint64_t *result)
{
    char *end;
    errno = 0;
    double number = strtod (text, &end);
    if (end == text || errno || !isfinite (number) || number < 0)
        return -1;
    while (*end == ' ')
        end++;
    size_t length = strlen (end);
    while (length > 0 && isspace ((unsigned char) end [length - 1]))
        length--;
    for (const s_unit_t *unit = units; unit->suffix; unit++)
        if (strlen (unit->suffix) == length && strncasecmp (end, unit->suffix, length) == 0) {
            double value = number * unit->scale;
            if (value >= 18446744073709551615.0)
                return -1;
            *result = (uint64_t) llround (value);
            return 0;
        }
    return -1;
}

static void
s_bad_value (const char *path, const char *value, const char *what)
{
    zsys_warning ("config: %s = '%s' is not %s; using the default", path, value, what);
}

//  A whole decimal integer (trailing blanks allowed). 0, or -1.
static int
s_parse_int (const char *value, int64_t *number)
{
    char *end;
    errno = 0;
    long long parsed = strtoll (value, &end, 10);
    while (isspace ((unsigned char) *end))
        end++;
    if (end == value || *end || errno)
        return -1;
    *number = parsed;
    return 0;
}

int64_t
zo_conf_int (zo_conf_t *self, const char *path, int64_t dflt)
{
    assert (self);
    const char *value = s_value (self, path);
    if (!value)
        return dflt;
    int64_t number;
    if (s_parse_int (value, &number)) {
        s_bad_value (path, value, "an integer");
        return dflt;
    }
    return number;
}

double
zo_conf_double (zo_conf_t *self, const char *path, double dflt)
{
    assert (self);
    const char *value = s_value (self, path);
    if (!value)
        return dflt;
    char *end;
    errno = 0;
    double number = strtod (value, &end);
    while (isspace ((unsigned char) *end))
        end++;
    if (end == value || *end || errno || !isfinite (number)) {
        s_bad_value (path, value, "a number");
        return dflt;
    }
    return number;
}

bool
zo_conf_bool (zo_conf_t *self, const char *path, bool dflt)
{
    assert (self);
    const char *value = s_value (self, path);
    if (!value)
        return dflt;
    static const char *yes [] = { "true", "yes", "on", "1" };
    static const char *no [] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp (value, yes [i]) == 0)
            return true;
        if (strcasecmp (value, no [i]) == 0)
            return false;
    }
    s_bad_value (path, value, "a boolean");
    return dflt;
}

static const s_unit_t s_durations [] = {
    { "", 1 }, { "ms", 1 }, { "us", 1e-3 }, { "s", 1e3 }, { "m", 60e3 }, { "h", 3600e3 },
    { "d", 86400e3 }, { NULL, 0 }
};

static const s_unit_t s_sizes [] = {
    { "", 1 }, { "b", 1 },
    { "k", 1024.0 }, { "kb", 1024.0 }, { "kib", 1024.0 },
    { "m", 1048576.0 }, { "mb", 1048576.0 }, { "mib", 1048576.0 },
    { "g", 1073741824.0 }, { "gb", 1073741824.0 }, { "gib", 1073741824.0 },
    { NULL, 0 }
};

int
zo_conf_parse_ms (const char *text, uint64_t *ms)
{
    return text ? s_parse_units (text, s_durations, ms) : -1;
}

int
zo_conf_parse_size (const char *text, uint64_t *bytes)
{
    return text ? s_parse_units (text, s_sizes, bytes) : -1;
}

uint64_t
zo_conf_ms (zo_conf_t *self, const char *path, uint64_t dflt)
{
    assert (self);
    const char *value = s_value (self, path);
    uint64_t result;
    if (!value)
        return dflt;
    if (zo_conf_parse_ms (value, &result)) {
        s_bad_value (path, value, "a duration (250ms, 30s, 5m, 1h)");
        return dflt;
    }
    return result;
}

uint64_t
zo_conf_size (zo_conf_t *self, const char *path, uint64_t dflt)
{
    assert (self);
    const char *value = s_value (self, path);
    uint64_t result;
    if (!value)
        return dflt;
    if (zo_conf_parse_size (value, &result)) {
        s_bad_value (path, value, "a size (64K, 16M, 1G)");
        return dflt;
    }
    return result;
}


//  --------------------------------------------------------------------------
//  Range-checked reads

//  Records a configuration error: logged every time, kept the first time.
void
zo_conf_refuse (zo_conf_t *self, const char *fmt, ...)
{
    char text [sizeof (self->errstr)];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof (text), fmt, args);
    va_end (args);
    zsys_error ("config: %s", text);
    if (!self->bad)
        snprintf (self->errstr, sizeof (self->errstr), "%s", text);
    self->bad = true;
}

int64_t
zo_conf_int_range (zo_conf_t *self, const char *path, int64_t dflt, int64_t min, int64_t max)
{
    assert (self);
    assert (min <= max);
    const char *value = s_value (self, path);
    if (!value)
        return dflt;
    int64_t number;
    bool parsed = s_parse_int (value, &number) == 0;
    if (!parsed || number < min || number > max) {
        zo_conf_refuse (self, "%s = '%s' is %s; allowed: an integer in %" PRId64 "..%" PRId64,
                  path, value, parsed ? "out of range" : "not an integer", min, max);
        return dflt;
    }
    return number;
}

//  Shared by the duration and size reads: parse with units, check range.
static uint64_t
s_units_range (zo_conf_t *self, const char *path, uint64_t dflt, uint64_t min, uint64_t max,
               const s_unit_t *units, const char *what, const char *unit)
{
    assert (self);
    assert (min <= max);
    const char *value = s_value (self, path);
    if (!value)
        return dflt;
    uint64_t result;
    bool parsed = s_parse_units (value, units, &result) == 0;
    if (!parsed || result < min || result > max) {
        zo_conf_refuse (self, "%s = '%s' is %s; allowed: %" PRIu64 "..%" PRIu64 " %s",
                  path, value, parsed ? "out of range" : what, min, max, unit);
        return dflt;
    }
    return result;
}

uint64_t
zo_conf_ms_range (zo_conf_t *self, const char *path, uint64_t dflt, uint64_t min, uint64_t max)
{
    return s_units_range (self, path, dflt, min, max, s_durations,
                          "not a duration (250ms, 30s, 5m, 1h)", "ms");
}

uint64_t
zo_conf_size_range (zo_conf_t *self, const char *path, uint64_t dflt, uint64_t min, uint64_t max)
{
    return s_units_range (self, path, dflt, min, max, s_sizes,
                          "not a size (64K, 16M, 1G)", "bytes");
}

//  tcp://host:port with a port in 1..65535, ipc://path, inproc://name.
static bool
s_is_endpoint (const char *text)
{
    if (strncmp (text, "ipc://", 6) == 0)
        return text [6] != 0;
    if (strncmp (text, "inproc://", 9) == 0)
        return text [9] != 0;
    if (strncmp (text, "tcp://", 6) != 0)
        return false;
    const char *colon = strrchr (text + 6, ':');
    if (!colon || colon == text + 6)
        return false;
    int64_t port;
    return s_parse_int (colon + 1, &port) == 0 && port >= 1 && port <= 65535;
}

const char *
zo_conf_endpoint (zo_conf_t *self, const char *path, const char *dflt)
{
    assert (self);
    const char *value = s_value (self, path);
    if (!value || s_is_endpoint (value))
        return value ? value : dflt;
    zo_conf_refuse (self, "%s = '%s' is not an endpoint; allowed: tcp://host:port, ipc://path, "
              "inproc://name", path, value);
    return dflt;
}

int
zo_conf_refuse_args (zo_conf_t *self, int argc, char **argv)
{
    assert (self);
    if (argc <= 1)
        return 0;
    const char *arg = argv [1];
    if (strncmp (arg, "--", 2) != 0 || !arg [2]) {
        zo_conf_refuse (self, "unexpected argument '%s'", arg);
        return -1;
    }
    //  --broker-fornt=x -> broker/fornt, to find the nearest key.
    char path [256], hint [320] = "";
    if (s_flag_path (arg + 2, strcspn (arg + 2, "="), path, sizeof (path)) > 0)
        s_did_you_mean (self, path, '-', hint, sizeof (hint));
    zo_conf_refuse (self, "unknown flag %.*s%s", (int) strcspn (arg, "="), arg, hint);
    return -1;
}

bool
zo_conf_bad (zo_conf_t *self)
{
    assert (self);
    return self->bad;
}


//  --------------------------------------------------------------------------
//  The rest

zconfig_t *
zo_conf_tree (zo_conf_t *self)
{
    assert (self);
    return self->root;
}

//  One node and what is below it, in ZPL: a section as its bare name, a
//  value quoted with " (or with ' when it holds a ", as ZPL has no
//  escapes), four spaces per level.
static void
s_dump (zconfig_t *node, int depth, FILE *out)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        const char *value = zconfig_value (child);
        fprintf (out, "%*s%s", depth * 4, "", zconfig_name (child));
        if (value && (*value || !zconfig_child (child))) {
            char quote = strchr (value, '"') ? '\'' : '"';
            fprintf (out, " = %c%s%c", quote, value, quote);
        }
        fputc ('\n', out);
        s_dump (child, depth + 1, out);
    }
}

char *
zo_conf_dump (zo_conf_t *self)
{
    assert (self);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    fprintf (out, "#   zorch configuration as resolved (--print-config): the defaults with\n"
                  "#   the file, environment and flags over them. Reads back with --config.\n");
    s_dump (self->root, 0, out);
    if (fclose (out) != 0) {
        free (text);
        return NULL;
    }
    return text;
}

const char *
zo_conf_errstr (zo_conf_t *self)
{
    assert (self);
    return self->errstr;
}
