/*
 * outdir: the output tree.  OUT/RUN/ holds one run's profiles and
 * manifests; OUT/latest is a symbolic link to the newest finished run.
 * File names come from user data and are made safe here; every file
 * appears atomically (hidden temporary name, then rename) with mode 0600,
 * directories 0700.  A profile's path relative to its run directory is a
 * plain name (layout flat) or "USER/NAME" (layout by-user); the user
 * folder is only ever reached through a directory fd opened with
 * O_NOFOLLOW, in OUT/RUN/ and in OUT/current/ alike.
 */
#ifndef PF_OUTDIR_H
#define PF_OUTDIR_H

#include <stddef.h>
#include <sys/stat.h>

#include "error.h"

#define PF_TMP_PREFIX	".tmp-"		/* temporary files start with this */
#define PF_NAME_MAX	200		/* bytes of a safe file name */
#define PF_PATH_MAX	256		/* bytes of a safe relative path */

/* Where a run puts its profiles (--layout). */
enum pf_layout {
	PF_LAYOUT_FLAT,			/* OUT/RUN/USER.TEMPLATE.mobileconfig */
	PF_LAYOUT_BY_USER,		/* OUT/RUN/USER/TEMPLATE.mobileconfig */
};

struct pf_outdir {
	int rootfd;		/* O_DIRECTORY fd of OUT, owned */
	int runfd;		/* O_DIRECTORY fd of OUT/RUN, owned, or -1 */
	int curfd;		/* O_DIRECTORY fd of OUT/current, or -1 */
	char *root;		/* malloc'd path of OUT as given */
	char *run;		/* malloc'd run directory name, or NULL */
	int anon;		/* how unnamed files get a name: 0 not
				 * probed or unusable, ANON_* in outdir.c */
};

/* Open (creating with mode 0700 if needed, parents too) the output root.
 * Errors: PF_EX_CANTCREAT naming the path. */
struct pf_error *pf_outdir_open(struct pf_outdir **out, const char *root);
/* The same for an output root that must exist already (PF_EX_NOINPUT if
 * it does not): nothing is made. */
struct pf_error *pf_outdir_open_existing(struct pf_outdir **out,
    const char *root);
void pf_outdir_close(struct pf_outdir *od);

/* Create OUT/name (0700) and make it the current run directory; an existing
 * directory is PF_EX_CANTCREAT. */
struct pf_error *pf_outdir_create_run(struct pf_outdir *od, const char *name);
/* Open an existing run directory (for recovery, mail, ...). */
struct pf_error *pf_outdir_open_run(struct pf_outdir *od, const char *name);

/*
 * Safe file name for (key, template, ext) into buf (at least
 * PF_NAME_MAX + 1 bytes): ASCII lowercased, no '/', '\\', control or
 * shell-hostile characters, no leading '.', no Windows device names, each
 * part cut on a UTF-8 boundary.  Never empty.
 */
void pf_safe_name(const char *key, const char *tmpl, const char *ext,
    char *buf, size_t buflen);

/*
 * Safe path for (key, template, ext) relative to a run directory into buf
 * (at least PF_PATH_MAX + 1 bytes).  PF_LAYOUT_FLAT: pf_safe_name().
 * PF_LAYOUT_BY_USER: "USER/TEMPLATE.EXT", where USER and TEMPLATE each
 * follow pf_safe_name()'s rules for the key (a part that had to change
 * gets "~" and 8 hex digits of its SHA-256); a USER that would be the name
 * of a run directory's own file, or end in ext, gets the digest too.
 */
void pf_safe_path(enum pf_layout layout, const char *key, const char *tmpl,
    const char *ext, char *buf, size_t buflen);

/* "flat" or "by-user" into *layout; -1 for anything else. */
int pf_layout_parse(const char *name, enum pf_layout *layout);

/*
 * Write data to a new hidden temporary file in the run directory, mode
 * 0600, not synced.  tmpname (at least 64 bytes) receives its name.
 * Errors: PF_EX_IOERR (write, full disk) or PF_EX_CANTCREAT, naming the
 * path; nothing is left behind on error.
 */
struct pf_error *pf_outdir_write_tmp(struct pf_outdir *od, const void *data,
    size_t len, char *tmpname, size_t tmplen);

/*
 * Rename tmpname to want (a safe path) without replacing anything: when
 * want is taken, "NAME~2.EXT", "NAME~3.EXT", ... are tried, NAME being the
 * last path component up to its first dot.  A user folder want names is
 * created (0700) if missing.  The path used goes to final (at least
 * PF_PATH_MAX + 16 bytes).
 */
struct pf_error *pf_outdir_commit(struct pf_outdir *od, const char *tmpname,
    const char *want, char *final, size_t finallen);

/*
 * Files written without a name first (O_TMPFILE): nothing is visible until
 * pf_outdir_link_anon() gives the file its name, and a crash before that
 * leaves nothing behind.  pf_outdir_anon_probe() tells whether the run
 * directory's file system and the process allow it (*ok); when not, use
 * pf_outdir_write_tmp() and pf_outdir_commit().
 */
struct pf_error *pf_outdir_anon_probe(struct pf_outdir *od, int *ok);
/* Write data to a new unnamed file, mode 0600, not synced; *fd gets it.
 * what names the file in errors (PF_EX_IOERR, PF_EX_CANTCREAT). */
struct pf_error *pf_outdir_write_anon(struct pf_outdir *od, const void *data,
    size_t len, const char *what, int *fd);
/* Give the unnamed file fd the path want, or "NAME~2.EXT", ... when want
 * is taken (see pf_outdir_commit); fd stays open. */
struct pf_error *pf_outdir_link_anon(struct pf_outdir *od, int fd,
    const char *want, char *final, size_t finallen);

/* Flush the file system holding the run directory (data and names). */
struct pf_error *pf_outdir_sync(struct pf_outdir *od);

/* Point OUT/latest at the current run, atomically. */
struct pf_error *pf_outdir_set_latest(struct pf_outdir *od);

/* Open OUT/current (0700, created if missing); refuse an OUT/latest
 * that is not a symbolic link. */
struct pf_error *pf_outdir_open_current(struct pf_outdir *od);
/*
 * Hard-link the file at path (relative to dirfd) into OUT/current/ as
 * name (a path relative to the run directory: its user folder is created,
 * 0700, as needed), replacing what was there, atomically.  With
 * only_if_missing 1, a name that already is that file is left alone (and
 * a missing source is no error); with -1 the name is expected to be free
 * (a first issue) and is linked directly, falling back to a replacement
 * when it is taken.  src, when not NULL, is what stat(2) said of path a
 * moment ago.  A symbolic link where a user folder should be is removed,
 * never followed.
 */
struct pf_error *pf_outdir_publish(struct pf_outdir *od, int dirfd,
    const char *path, const char *name, int only_if_missing,
    const struct stat *src);
/* Remove name from OUT/current/ (no error if absent), and its user folder
 * if that leaves it empty. */
void pf_outdir_unpublish(struct pf_outdir *od, const char *name);

/* Remove file from ROOT/current/ (a revoked user leaves the folder a
 * share publishes), and its user folder if that leaves it empty; file is
 * a path as recorded ("NAME" or "USER/NAME"). */
void pf_current_remove(const char *root, const char *file);

/* Remove file from the run directory, and its user folder if that leaves
 * it empty (no error if absent). */
void pf_outdir_remove(struct pf_outdir *od, const char *file);

/* Rename tmpname (in the run directory) to file, a path like those of
 * pf_safe_path(), replacing what is there; its user folder is created
 * (0700) when missing.  Errors: PF_EX_CANTCREAT naming the path. */
struct pf_error *pf_outdir_replace(struct pf_outdir *od, const char *tmpname,
    const char *file);

/* open(2) rel, a recorded path ("NAME" or "USER/NAME", neither part
 * hidden), below dirfd with flags and O_NOFOLLOW, its user folder opened
 * without following a symbolic link.  -1 with errno (EINVAL for any other
 * form of path). */
int pf_outdir_openat(int dirfd, const char *rel, int flags);

/*
 * Remove the empty folders at the top of OUT named like runs
 * (YYYYMMDD-HHMMSS[-N]) for which known(arg, name, &has) sets has to 0: a
 * run killed between making its folder and recording itself leaves one.
 * Errors: those of known(), and reading OUT.
 */
struct pf_error *pf_outdir_drop_empty_runs(struct pf_outdir *od,
    struct pf_error *(*known)(void *, const char *, int *), void *arg);

/* Remove leftover temporary files of the current run directory. */
struct pf_error *pf_outdir_clean_tmp(struct pf_outdir *od);

/*
 * What a crashed run left in the run directory: temporary files go, and
 * every other file, at the top or one level down in a user folder, for
 * which recorded(arg, path, &has) sets has to 0 (path relative to the run
 * directory).  User folders left empty go too; the run's own files
 * (manifests, index.html, mail/) stay.  Errors: those of recorded().
 */
struct pf_error *pf_outdir_sweep(struct pf_outdir *od,
    struct pf_error *(*recorded)(void *, const char *, int *), void *arg);

/* Path "OUT/RUN" or "OUT/RUN/file" into buf. */
void pf_outdir_path(const struct pf_outdir *od, const char *file, char *buf,
    size_t buflen);

#endif
