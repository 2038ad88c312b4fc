/*  zt_servers: real redis-server and PostgreSQL for unit tests.

    Each server is a child of the test process on 127.0.0.1 and a free
    port, with its files in a temp dir of its own; it gets SIGKILL if the
    test process dies (PR_SET_PDEATHSIG), so a crashed test leaves nothing
    running. As root (CI), initdb and postgres run as the `postgres` user,
    since PostgreSQL refuses root; the data dir is made theirs.

    Every wait is bounded: a start that is not answering after 30 s fails.
    The PostgreSQL binaries are looked for in $ZT_PG_BINDIR, else the
    newest /usr/lib/postgresql/<version>/bin.
*/
#ifndef ZT_SERVERS_H_INCLUDED
#define ZT_SERVERS_H_INCLUDED

#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;                  //  0 when not running
    int port;
    bool pg;
    char dir [128];             //  temp dir, removed by zt_server_stop
    char data [160];            //  PostgreSQL's data dir, under dir
} zt_server_t;

/*  A TCP port on 127.0.0.1 nothing listens to right now.  */
int zt_free_port (void);

/*  Starts redis-server (no persistence) and waits until it accepts
    connections. 0, or -1 with a line on stderr saying why.  */
int zt_redis_start (zt_server_t *self);
/*  Starts redis-server again (after a kill) on the same port and dir,
    empty. 0 or -1 (stderr).  */
int zt_redis_restart (zt_server_t *self);

/*  Makes a cluster (initdb, trust auth, user postgres, fsync off) and
    starts postgres on it, waiting until it answers. 0 or -1 (stderr).  */
int zt_pg_start (zt_server_t *self);
/*  Starts postgres again on the cluster zt_pg_start made (after a kill),
    on the same port. 0 or -1.  */
int zt_pg_restart (zt_server_t *self);

/*  Sends sig to the server and, for PostgreSQL, to every backend (each
    calls setsid, so they are not in the postmaster's process group):
    SIGSTOP makes a server that keeps its connections and answers
    nothing, SIGCONT brings it back. 0, or -1 when the server is gone.  */
int zt_server_signal (zt_server_t *self, int sig);
/*  SIGKILL now and reap: the server dies mid-run. Keeps the temp dir.  */
void zt_server_kill (zt_server_t *self);
/*  Stops the server (SIGTERM, SIGKILL after 10 s), reaps it and removes
    its temp dir. Safe on a stopped or never-started server.  */
void zt_server_stop (zt_server_t *self);

#endif
