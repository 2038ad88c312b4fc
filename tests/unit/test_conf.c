/*  Tests of actors/runtime/zo_conf.c: defaults, file, environment and
    flags layered in that order; typed reads with units.  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zo_conf.h"

//  Writes text to a new temporary file; returns its path (static buffer).
static const char *
s_temp_file (const char *text)
{
    static char path [64];
    strcpy (path, "/tmp/zo_conf_test_XXXXXX");
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    cr_assert_eq (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    close (fd);
    return path;
}

Test (conf, defaults_parse)
{
    zo_conf_t *conf = zo_conf_new ();
    cr_assert_not_null (conf);
    cr_assert_str_eq (zo_conf_str (conf, "broker/front", NULL), "tcp://127.0.0.1:7010");
    cr_assert_str_eq (zo_conf_str (conf, "/broker/back", NULL), "tcp://127.0.0.1:7011");
    cr_assert_str_eq (zo_conf_str (conf, "log/level", NULL), "info");
    cr_assert_eq (zo_conf_int (conf, "broker/queue_max", 0), 10000);
    cr_assert_eq (zo_conf_int (conf, "broker/max_attempts", 0), 3);
    cr_assert_eq (zo_conf_size (conf, "broker/max_frame", 0), 1024 * 1024);
    cr_assert_eq (zo_conf_ms (conf, "broker/deadline", 0), 5 * 60 * 1000);
    cr_assert_eq (zo_conf_ms (conf, "broker/retry_hint", 0), 100);
    cr_assert_eq (zo_conf_ms (conf, "stats/interval", 0), 1000);
    //  Empty and absent values give the default.
    cr_assert_str_eq (zo_conf_str (conf, "worker/plugin_dir", "none"), "none");
    cr_assert_eq (zo_conf_int (conf, "broker/nothing", 42), 42);
    cr_assert_null (zo_conf_str (conf, "nothing/at/all", NULL));
    //  The routes list, in order.
    zconfig_t *routes = zconfig_locate (zo_conf_tree (conf), "worker/routes");
    cr_assert_not_null (routes);
    const char *matches [] = { "bench.noop", "bench.sleep", "test.fail*", "github.push",
                               "github.star.*", "*" };
    int n = 0;
    for (zconfig_t *route = zconfig_child (routes); route; route = zconfig_next (route), n++) {
        cr_assert_lt (n, 6);
        cr_assert_str_eq (zconfig_get (route, "match", ""), matches [n]);
    }
    cr_assert_eq (n, 6);
    //  The text is embedded once, NUL-terminated, and dumps back.
    cr_assert_not_null (strstr (zo_conf_defaults, "max_attempts"));
    char *dump = zo_conf_dump (conf);
    cr_assert_not_null (dump);
    cr_assert_not_null (strstr (dump, "tcp://127.0.0.1:7010"));
    free (dump);
    zo_conf_destroy (&conf);
    cr_assert_null (conf);
    zo_conf_destroy (&conf);
}

Test (conf, file_overrides_and_keeps_the_rest)
{
    zo_conf_t *conf = zo_conf_new ();
    const char *path = s_temp_file (
        "broker\n"
        "    front = tcp://*:9000\n"
        "    queue_max = 77\n"
        "worker\n"
        "    routes\n"
        "        route\n"
        "            match = \"only.*\"\n"
        "            handler = exec\n"
        "            any_option = 1\n");
    cr_assert_eq (zo_conf_load_file (conf, path), 0, "%s", zo_conf_errstr (conf));
    unlink (path);
    cr_assert_str_eq (zo_conf_str (conf, "broker/front", NULL), "tcp://*:9000");
    cr_assert_eq (zo_conf_int (conf, "broker/queue_max", 0), 77);
    //  Untouched keys keep their defaults.
    cr_assert_str_eq (zo_conf_str (conf, "broker/back", NULL), "tcp://127.0.0.1:7011");
    cr_assert_eq (zo_conf_int (conf, "worker/capacity", 0), 1000);
    //  A route takes any option (its handler's to check).
    cr_assert_eq (zo_conf_int (conf, "worker/routes/route/any_option", 0), 1);
    //  The routes list is replaced as a whole.
    zconfig_t *routes = zconfig_locate (zo_conf_tree (conf), "worker/routes");
    zconfig_t *route = zconfig_child (routes);
    cr_assert_not_null (route);
    cr_assert_str_eq (zconfig_get (route, "match", ""), "only.*");
    cr_assert_null (zconfig_next (route));

    cr_assert_eq (zo_conf_load_file (conf, "/nonexistent/zorch.conf"), -1);
    cr_assert_not_null (strstr (zo_conf_errstr (conf), "/nonexistent/zorch.conf"));
    cr_assert_str_eq (zo_conf_str (conf, "broker/front", NULL), "tcp://*:9000");
    zo_conf_destroy (&conf);
}

Test (conf, env_overrides)
{
    zo_conf_t *conf = zo_conf_new ();
    char *envp [] = {
        "PATH=/bin",
        "ZORCH_BROKER_MAX_ATTEMPTS=9",
        "ZORCH_WORKER_NAME=w1",
        "ZORCH_CONFIG=/should/not/map",
        "ZORCH_NOKEY=1",
        "ZORCH_=1",
        "ZORCH_LOG_LEVEL=debug",
        NULL
    };
    zo_conf_apply_env (conf, envp);
    cr_assert_eq (zo_conf_int (conf, "broker/max_attempts", 0), 9);
    cr_assert_str_eq (zo_conf_str (conf, "worker/name", ""), "w1");
    cr_assert_str_eq (zo_conf_str (conf, "log/level", ""), "debug");
    cr_assert_null (zconfig_locate (zo_conf_tree (conf), "config"));
    cr_assert_null (zconfig_locate (zo_conf_tree (conf), "nokey"));
    zo_conf_destroy (&conf);
}

Test (conf, flags_override_and_argv_is_compacted)
{
    zo_conf_t *conf = zo_conf_new ();
    char *argv [] = {
        "prog", "positional", "--broker-max-attempts", "5",
        "--broker-front=tcp://*:1", "--unknown-section-x", "7",
        "--set", "worker/routes/route/handler=fail", "--set=worker/routes/route/x=v",
        "--help", "--", "--broker-queue-max", "1", NULL
    };
    int argc = 14;
    int left = zo_conf_apply_args (conf, argc, argv);
    cr_assert_eq (left, 8);
    cr_assert_str_eq (argv [0], "prog");
    cr_assert_str_eq (argv [1], "positional");
    cr_assert_str_eq (argv [2], "--unknown-section-x");
    cr_assert_str_eq (argv [3], "7");
    cr_assert_str_eq (argv [4], "--help");
    cr_assert_str_eq (argv [5], "--");
    cr_assert_str_eq (argv [6], "--broker-queue-max");
    cr_assert_str_eq (argv [7], "1");
    cr_assert_null (argv [8]);
    cr_assert_eq (zo_conf_int (conf, "broker/max_attempts", 0), 5);
    cr_assert_str_eq (zo_conf_str (conf, "broker/front", NULL), "tcp://*:1");
    cr_assert_eq (zo_conf_int (conf, "broker/queue_max", 0), 10000);
    cr_assert_str_eq (zo_conf_str (conf, "worker/routes/route/x", NULL), "v");
    //  A path through a list names its first element.
    cr_assert_str_eq (zo_conf_str (conf, "worker/routes/route/handler", NULL), "fail");
    //  A flag without its value is an error.
    char *bad [] = { "prog", "--broker-front", NULL };
    cr_assert_eq (zo_conf_apply_args (conf, 2, bad), -1);
    cr_assert_not_null (strstr (zo_conf_errstr (conf), "--broker-front"));
    char *bad_set [] = { "prog", "--set", "novalue", NULL };
    cr_assert_eq (zo_conf_apply_args (conf, 3, bad_set), -1);
    char *bad_file [] = { "prog", "-c", "/nonexistent/file.conf", NULL };
    cr_assert_eq (zo_conf_apply_args (conf, 3, bad_file), -1);
    zo_conf_destroy (&conf);
}

Test (conf, layers_in_order)
{
    const char *path = s_temp_file (
        "broker\n"
        "    front = from-file\n"
        "    back = from-file\n"
        "    queue_max = 1\n");
    char config_env [128];
    snprintf (config_env, sizeof (config_env), "ZORCH_CONFIG=%s", path);
    char *envp [] = { config_env, "ZORCH_BROKER_BACK=from-env",
                      "ZORCH_BROKER_QUEUE_MAX=2", NULL };
    char *argv [] = { "prog", "--broker-queue-max", "3", NULL };
    zo_conf_t *conf = zo_conf_new ();
    cr_assert_eq (zo_conf_load (conf, 3, argv, envp), 1);
    cr_assert_str_eq (zo_conf_str (conf, "broker/front", NULL), "from-file");
    cr_assert_str_eq (zo_conf_str (conf, "broker/back", NULL), "from-env");
    cr_assert_eq (zo_conf_int (conf, "broker/queue_max", 0), 3);
    zo_conf_destroy (&conf);

    //  --config wins over $ZORCH_CONFIG and still stays under the env.
    const char *path2 = s_temp_file ("broker\n    front = second\n    back = second\n");
    char path2_copy [64];
    strcpy (path2_copy, path2);
    char *argv2 [] = { "prog", "--config", path2_copy, "x", NULL };
    conf = zo_conf_new ();
    cr_assert_eq (zo_conf_load (conf, 4, argv2, envp), 2);
    cr_assert_str_eq (argv2 [1], "x");
    cr_assert_str_eq (zo_conf_str (conf, "broker/front", NULL), "second");
    cr_assert_str_eq (zo_conf_str (conf, "broker/back", NULL), "from-env");
    zo_conf_destroy (&conf);
    unlink (path);
    unlink (path2_copy);
}

Test (conf, durations_sizes_and_types)
{
    zo_conf_t *conf = zo_conf_new ();
    struct { const char *text; uint64_t ms; } durations [] = {
        { "250", 250 }, { "250ms", 250 }, { "30s", 30000 }, { "5m", 300000 },
        { "1h", 3600000 }, { "1.5s", 1500 }, { "0", 0 }, { "2 s", 2000 },
    };
    for (size_t i = 0; i < sizeof (durations) / sizeof (durations [0]); i++) {
        zo_conf_set (conf, "t/d", durations [i].text);
        cr_assert_eq (zo_conf_ms (conf, "t/d", 7), durations [i].ms, "%s", durations [i].text);
    }
    const char *bad_durations [] = { "abc", "5x", "-1s", "s", "1e30h" };
    for (size_t i = 0; i < sizeof (bad_durations) / sizeof (bad_durations [0]); i++) {
        zo_conf_set (conf, "t/d", bad_durations [i]);
        cr_assert_eq (zo_conf_ms (conf, "t/d", 7), 7, "%s", bad_durations [i]);
    }
    struct { const char *text; uint64_t bytes; } sizes [] = {
        { "100", 100 }, { "64K", 65536 }, { "16M", 16777216 }, { "1G", 1073741824 },
        { "2k", 2048 }, { "1MB", 1048576 }, { "3KiB", 3072 },
    };
    for (size_t i = 0; i < sizeof (sizes) / sizeof (sizes [0]); i++) {
        zo_conf_set (conf, "t/s", sizes [i].text);
        cr_assert_eq (zo_conf_size (conf, "t/s", 7), sizes [i].bytes, "%s", sizes [i].text);
    }
    zo_conf_set (conf, "t/s", "12Q");
    cr_assert_eq (zo_conf_size (conf, "t/s", 7), 7);

    zo_conf_set (conf, "t/i", "-12");
    cr_assert_eq (zo_conf_int (conf, "t/i", 0), -12);
    zo_conf_set (conf, "t/i", "12abc");
    cr_assert_eq (zo_conf_int (conf, "t/i", 5), 5);
    zo_conf_set (conf, "t/f", "0.25");
    cr_assert_float_eq (zo_conf_double (conf, "t/f", 0), 0.25, 1e-12);
    zo_conf_set (conf, "t/f", "nope");
    cr_assert_float_eq (zo_conf_double (conf, "t/f", 1.5), 1.5, 1e-12);
    const char *trues [] = { "true", "yes", "on", "1", "TRUE" };
    for (size_t i = 0; i < 5; i++) {
        zo_conf_set (conf, "t/b", trues [i]);
        cr_assert (zo_conf_bool (conf, "t/b", false));
    }
    zo_conf_set (conf, "t/b", "off");
    cr_assert_not (zo_conf_bool (conf, "t/b", true));
    zo_conf_set (conf, "t/b", "maybe");
    cr_assert (zo_conf_bool (conf, "t/b", true));
    zo_conf_destroy (&conf);
}

//  A refused value names its key, what it was and the allowed range.
Test (conf, range_checked_reads)
{
    zo_conf_t *conf = zo_conf_new ();
    cr_assert_not_null (conf);
    //  In range, absent and empty values: no error.
    cr_assert_eq (zo_conf_int_range (conf, "broker/queue_max", 1, 1, 100000000), 10000);
    cr_assert_eq (zo_conf_int_range (conf, "broker/nothing", 7, 1, 10), 7);
    cr_assert_eq (zo_conf_ms_range (conf, "broker/heartbeat", 5, 10, 3600000), 1000);
    cr_assert_eq (zo_conf_size_range (conf, "broker/max_frame", 5, 65536, 1 << 30), 1 << 20);
    zo_conf_set (conf, "broker/queue_max", "1");
    cr_assert_eq (zo_conf_int_range (conf, "broker/queue_max", 9, 1, 100000000), 1);
    zo_conf_set (conf, "broker/queue_max", "100000000");
    cr_assert_eq (zo_conf_int_range (conf, "broker/queue_max", 9, 1, 100000000), 100000000);
    cr_assert_not (zo_conf_bad (conf));

    //  Below the range: the default comes back and the error names the
    //  key, the value and the range; later errors do not replace it.
    zo_conf_set (conf, "broker/queue_max", "-5");
    cr_assert_eq (zo_conf_int_range (conf, "broker/queue_max", 9, 1, 100000000), 9);
    cr_assert (zo_conf_bad (conf));
    const char *err = zo_conf_errstr (conf);
    cr_assert_not_null (strstr (err, "broker/queue_max"), "%s", err);
    cr_assert_not_null (strstr (err, "-5"), "%s", err);
    cr_assert_not_null (strstr (err, "1..100000000"), "%s", err);
    zo_conf_set (conf, "broker/batch_max", "1001");
    cr_assert_eq (zo_conf_int_range (conf, "broker/batch_max", 256, 1, 1000), 256);
    cr_assert_not_null (strstr (zo_conf_errstr (conf), "broker/queue_max"));
    zo_conf_destroy (&conf);

    //  Above, not a number, trailing junk, durations and sizes.
    struct { const char *path, *value; int kind; uint64_t min, max; } bad [] = {
        { "broker/batch_max", "1001", 0, 1, 1000 },
        { "broker/batch_max", "ten", 0, 1, 1000 },
        { "broker/batch_max", "10x", 0, 1, 1000 },
        { "broker/batch_max", "99999999999999999999999", 0, 1, 1000 },
        { "broker/heartbeat", "5ms", 1, 10, 3600000 },
        { "broker/heartbeat", "2h", 1, 10, 3600000 },
        { "broker/heartbeat", "-1s", 1, 10, 3600000 },
        { "broker/heartbeat", "soon", 1, 10, 3600000 },
        { "broker/max_frame", "1K", 2, 65536, 1 << 30 },
        { "broker/max_frame", "2G", 2, 65536, 1 << 30 },
        { "broker/max_frame", "big", 2, 65536, 1 << 30 },
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad [0]); i++) {
        conf = zo_conf_new ();
        zo_conf_set (conf, bad [i].path, bad [i].value);
        uint64_t got = bad [i].kind == 0
            ? (uint64_t) zo_conf_int_range (conf, bad [i].path, 3, (int64_t) bad [i].min, (int64_t) bad [i].max)
            : bad [i].kind == 1 ? zo_conf_ms_range (conf, bad [i].path, 3, bad [i].min, bad [i].max)
            : zo_conf_size_range (conf, bad [i].path, 3, bad [i].min, bad [i].max);
        cr_assert_eq (got, 3, "%s = %s", bad [i].path, bad [i].value);
        cr_assert (zo_conf_bad (conf), "%s = %s accepted", bad [i].path, bad [i].value);
        char range [64];
        snprintf (range, sizeof (range), "%llu..%llu",
                  (unsigned long long) bad [i].min, (unsigned long long) bad [i].max);
        cr_assert_not_null (strstr (zo_conf_errstr (conf), bad [i].path), "%s", zo_conf_errstr (conf));
        cr_assert_not_null (strstr (zo_conf_errstr (conf), range), "%s", zo_conf_errstr (conf));
        zo_conf_destroy (&conf);
    }

    //  Suffixes inside the range are fine.
    conf = zo_conf_new ();
    zo_conf_set (conf, "broker/heartbeat", "2s");
    zo_conf_set (conf, "broker/max_frame", "64K");
    cr_assert_eq (zo_conf_ms_range (conf, "broker/heartbeat", 0, 10, 3600000), 2000);
    cr_assert_eq (zo_conf_size_range (conf, "broker/max_frame", 0, 65536, 1 << 30), 65536);
    cr_assert_not (zo_conf_bad (conf));
    zo_conf_destroy (&conf);
}

Test (conf, a_bad_flag_marks_the_configuration_bad)
{
    zo_conf_t *conf = zo_conf_new ();
    char *argv [] = { "prog", "--broker-queue-max", NULL };
    cr_assert_eq (zo_conf_load (conf, 2, argv, (char *[]) { NULL }), -1);
    cr_assert (zo_conf_bad (conf));
    zo_conf_destroy (&conf);
}

Test (conf, endpoints_checked)
{
    zo_conf_t *conf = zo_conf_new ();
    cr_assert_str_eq (zo_conf_endpoint (conf, "worker/cache", "x"), "tcp://127.0.0.1:7013");
    cr_assert_str_eq (zo_conf_endpoint (conf, "worker/nothing", "tcp://a:1"), "tcp://a:1");
    const char *good [] = { "tcp://*:7010", "tcp://[::1]:7010", "tcp://host.example:1",
                            "ipc:///tmp/x", "inproc://peer", NULL };
    for (int i = 0; good [i]; i++) {
        zo_conf_set (conf, "worker/cache", good [i]);
        cr_assert_str_eq (zo_conf_endpoint (conf, "worker/cache", "d"), good [i]);
    }
    cr_assert_not (zo_conf_bad (conf));
    const char *bad [] = { "localhost:7013", "tcp://host", "tcp://:7013", "tcp://h:0",
                           "tcp://h:65536", "tcp://h:7x", "ipc://", "udp://h:1", NULL };
    for (int i = 0; bad [i]; i++) {
        zo_conf_t *c = zo_conf_new ();
        zo_conf_set (c, "worker/cache", bad [i]);
        cr_assert_str_eq (zo_conf_endpoint (c, "worker/cache", "d"), "d", "%s", bad [i]);
        cr_assert (zo_conf_bad (c), "%s", bad [i]);
        cr_assert (strstr (zo_conf_errstr (c), "worker/cache"), "%s", zo_conf_errstr (c));
        zo_conf_destroy (&c);
    }
    zo_conf_destroy (&conf);
}

/*  Strict: a key the defaults do not have stops the load, naming it and
    the nearest known key; the same for --set, for --<section>-<key> in a
    known section, and for whatever a program leaves unparsed.  */
Test (conf, unknown_keys_and_flags_are_refused)
{
    zo_conf_t *conf = zo_conf_new ();
    const char *path = s_temp_file ("broker\n    queue_mx = 5\n");
    cr_assert_eq (zo_conf_load_file (conf, path), -1);
    unlink (path);
    cr_assert (strstr (zo_conf_errstr (conf), "unknown key broker/queue_mx"), "%s", zo_conf_errstr (conf));
    cr_assert (strstr (zo_conf_errstr (conf), "did you mean broker/queue_max?"), "%s", zo_conf_errstr (conf));
    cr_assert_eq (zo_conf_int (conf, "broker/queue_max", 0), 10000, "the configuration is unchanged");
    path = s_temp_file ("nonsense\n    x = 1\n");
    cr_assert_eq (zo_conf_load_file (conf, path), -1);
    unlink (path);
    cr_assert (strstr (zo_conf_errstr (conf), "unknown key nonsense"), "%s", zo_conf_errstr (conf));
    cr_assert_null (strstr (zo_conf_errstr (conf), "did you mean"), "nothing near: no guess");
    //  Lists: an entry holds any option; a list the defaults leave empty
    //  (pool/databases) takes entries; a list the defaults fill
    //  (worker/routes) takes only entries of its kind.
    path = s_temp_file ("pool\n    databases\n        database\n            name = main\n"
                        "            anything = 1\n");
    cr_assert_eq (zo_conf_load_file (conf, path), 0, "%s", zo_conf_errstr (conf));
    unlink (path);
    path = s_temp_file ("worker\n    routes\n        rute\n            match = x\n");
    cr_assert_eq (zo_conf_load_file (conf, path), -1);
    unlink (path);
    cr_assert (strstr (zo_conf_errstr (conf), "unknown key worker/routes/rute"), "%s", zo_conf_errstr (conf));

    char *typo [] = { "prog", "--broker-fornt", "tcp://*:1", NULL };
    cr_assert_eq (zo_conf_apply_args (conf, 3, typo), -1);
    cr_assert (strstr (zo_conf_errstr (conf), "unknown flag --broker-fornt (did you mean --broker-front?)"),
               "%s", zo_conf_errstr (conf));
    char *set [] = { "prog", "--set", "worker/capacty=5", NULL };
    cr_assert_eq (zo_conf_apply_args (conf, 3, set), -1);
    cr_assert (strstr (zo_conf_errstr (conf), "did you mean worker/capacity?"), "%s", zo_conf_errstr (conf));
    cr_assert (zo_conf_bad (conf));
    zo_conf_destroy (&conf);

    conf = zo_conf_new ();
    char *left [] = { "prog", "--bogus-flag", NULL };
    cr_assert_eq (zo_conf_apply_args (conf, 2, left), 2, "not a known section: left to the caller");
    cr_assert_eq (zo_conf_refuse_args (conf, 2, left), -1);
    cr_assert (strstr (zo_conf_errstr (conf), "unknown flag --bogus-flag"), "%s", zo_conf_errstr (conf));
    zo_conf_destroy (&conf);
    conf = zo_conf_new ();
    char *pos [] = { "prog", "stray", NULL };
    cr_assert_eq (zo_conf_refuse_args (conf, 2, pos), -1);
    cr_assert (strstr (zo_conf_errstr (conf), "unexpected argument 'stray'"), "%s", zo_conf_errstr (conf));
    char *none [] = { "prog", NULL };
    cr_assert_eq (zo_conf_refuse_args (conf, 1, none), 0);
    zo_conf_destroy (&conf);

    //  A variable of a known section naming no key is ignored (warned),
    //  and one of another section is not configuration at all.
    conf = zo_conf_new ();
    char *env [] = { "ZORCH_BROKER_FORNT=tcp://*:9", "ZORCH_UPPER_SO=/x.so", "ZORCH_BROKER_FRONT=tcp://*:8", NULL };
    zo_conf_apply_env (conf, env);
    cr_assert_str_eq (zo_conf_str (conf, "broker/front", NULL), "tcp://*:8");
    cr_assert_null (zo_conf_str (conf, "broker/fornt", NULL));
    cr_assert_null (zo_conf_str (conf, "upper/so", NULL));
    cr_assert_not (zo_conf_bad (conf));
    zo_conf_destroy (&conf);
}
