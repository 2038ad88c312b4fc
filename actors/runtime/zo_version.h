/*  zo_version: what was built: the project's version (meson.build) and,
    when built from a git checkout, the revision (git describe: a commit
    hash, "-dirty" when the tree had changes). Shown by --version, sent in
    every actor's STATS, shown by the monitor per actor.  */
#ifndef ZO_VERSION_H_INCLUDED
#define ZO_VERSION_H_INCLUDED

/*  "0.1.0".  */
extern const char zo_version [];
/*  "a1b2c3d4e5" or "a1b2c3d4e5-dirty"; "" when not built from a checkout.  */
extern const char zo_revision [];
/*  "0.1.0 (a1b2c3d4e5)", or "0.1.0" without a revision.  */
const char *zo_version_full (void);

#endif
