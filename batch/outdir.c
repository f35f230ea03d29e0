#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outdir.h"
#include "util.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* mkdir -p with mode 0700 for the directories it creates. */
static int
mkdirs(const char *path)
{
	char buf[4096];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) == -1 && errno != EEXIST)
			return -1;
		buf[i] = path[i];
	}
	return 0;
}

struct pf_error *
pf_outdir_open(struct pf_outdir **out, const char *root)
{
	struct pf_outdir *od;

	*out = NULL;
	if ((od = calloc(1, sizeof(*od))) == NULL)
		return pf_error_nomem();
	od->rootfd = od->runfd = od->curfd = -1;
	if ((od->root = pf_strdup(root)) == NULL) {
		pf_outdir_close(od);
		return pf_error_nomem();
	}
	if (mkdirs(root) == -1 ||
	    (od->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		struct pf_error *err = pf_error_errno(PF_EX_CANTCREAT,
		    "output directory %s", root);

		pf_outdir_close(od);
		return err;
	}
	*out = od;
	return NULL;
}

void
pf_outdir_close(struct pf_outdir *od)
{
	if (od == NULL)
		return;
	if (od->rootfd != -1)
		close(od->rootfd);
	if (od->runfd != -1)
		close(od->runfd);
	if (od->curfd != -1)
		close(od->curfd);
	free(od->root);
	free(od->run);
	free(od);
}

static struct pf_error *
open_run(struct pf_outdir *od, const char *name, int create)
{
	int fd;

	if (create && mkdirat(od->rootfd, name, 0700) == -1)
		return pf_error_errno(PF_EX_CANTCREAT, "%s/%s", od->root,
		    name);
	fd = openat(od->rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
	if (fd == -1)
		return pf_error_errno(create ? PF_EX_CANTCREAT :
		    PF_EX_NOINPUT, "%s/%s", od->root, name);
	free(od->run);
	if ((od->run = pf_strdup(name)) == NULL) {
		close(fd);
		return pf_error_nomem();
	}
	if (od->runfd != -1)
		close(od->runfd);
	od->runfd = fd;
	return NULL;
}

struct pf_error *
pf_outdir_create_run(struct pf_outdir *od, const char *name)
{
	return open_run(od, name, 1);
}

struct pf_error *
pf_outdir_open_run(struct pf_outdir *od, const char *name)
{
	return open_run(od, name, 0);
}

void
pf_outdir_path(const struct pf_outdir *od, const char *file, char *buf,
    size_t buflen)
{
	if (file != NULL)
		snprintf(buf, buflen, "%s/%s/%s", od->root, od->run, file);
	else
		snprintf(buf, buflen, "%s/%s", od->root,
		    od->run ? od->run : "");
}

/* Append a safe version of s to buf (at most max bytes of output). */
static size_t
safe_part(const char *s, char *buf, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p != '\0') {
		size_t len = 1;
		unsigned char c = *p;

		if (c >= 0x80) {
			/* Keep a whole UTF-8 sequence or stop. */
			if (c >= 0xf0)
				len = 4;
			else if (c >= 0xe0)
				len = 3;
			else
				len = 2;
			if (o + len > max || strnlen((const char *)p, len) < len)
				break;
			memcpy(buf + o, p, len);
			o += len;
			p += len;
			continue;
		}
		if (o + 1 > max)
			break;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '@' || c == '.' || c == '_' || c == '-' || c == '+')
			buf[o++] = (char)c;
		else if (c >= 'A' && c <= 'Z')
			buf[o++] = (char)(c - 'A' + 'a');
		else
			buf[o++] = '_';
		p++;
	}
	/* No trailing dots or spaces (Windows drops them). */
	if (o > 0 && buf[o - 1] == '.')
		buf[o - 1] = '_';
	if (o == 0)
		buf[o++] = '_';
	return o;
}

/* Windows device names, also reserved with an extension ("con.txt"). */
static int
reserved(const char *name)
{
	static const char *const dev[] = { "con", "prn", "aux", "nul",
	    "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
	    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7",
	    "lpt8", "lpt9", "latest", "current",
	    /* COM and LPT with a superscript digit are devices too */
	    "com\xc2\xb9", "com\xc2\xb2", "com\xc2\xb3",
	    "lpt\xc2\xb9", "lpt\xc2\xb2", "lpt\xc2\xb3" };
	size_t i, n = strcspn(name, ".");

	for (i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
		if (strlen(dev[i]) == n && strncmp(name, dev[i], n) == 0)
			return 1;
	return 0;
}

void
pf_safe_name(const char *key, const char *tmpl, const char *ext, char *buf,
    size_t buflen)
{
	char part[PF_NAME_MAX + 1];
	size_t o = 0, n, extlen = strlen(ext);

	if (buflen < PF_NAME_MAX + 1) {
		snprintf(buf, buflen, "_");
		return;
	}
	n = safe_part(key, part, 120);
	part[n] = '\0';	/* reserved() reads it as a string */
	/* No leading dot (hidden), dash (an option) or character that makes
	 * the manifest.csv cell a formula ('=' is never kept). */
	if (strchr(".-+@", part[0]) != NULL || reserved(part))
		buf[o++] = '_';
	memcpy(buf + o, part, n);
	o += n;
	/*
	 * A key that had to change (case, characters, length, prefix) gets a
	 * short digest of itself, so that keys differing only in what was
	 * changed ("Ana@x" and "ana@x") keep apart across runs, in
	 * OUT/current/ too.
	 */
	if (o != strlen(key) || memcmp(buf, key, o) != 0) {
		char hex[PF_SHA256_HEX];

		pf_sha256_hex(key, strlen(key), hex);
		buf[o++] = '-';
		memcpy(buf + o, hex, 8);
		o += 8;
	}
	buf[o++] = '.';
	n = safe_part(tmpl, part, PF_NAME_MAX - o - extlen - 1);
	memcpy(buf + o, part, n);
	o += n;
	memcpy(buf + o, ext, extlen);
	o += extlen;
	buf[o] = '\0';
}

/* write(2) all of data; -1 with errno on error. */
static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

struct pf_error *
pf_outdir_write_tmp(struct pf_outdir *od, const void *data, size_t len,
    char *tmpname, size_t tmplen)
{
	static unsigned long counter;
	int fd = -1, tries;

	for (tries = 0; tries < 100; tries++) {
		snprintf(tmpname, tmplen, PF_TMP_PREFIX "%ld-%lu",
		    (long)getpid(), counter++);
		fd = openat(od->runfd, tmpname, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	if (fd == -1)
		return pf_error_errno(PF_EX_CANTCREAT, "%s/%s/%s", od->root,
		    od->run, tmpname);
	if (write_all(fd, data, len) == -1) {
		struct pf_error *err = pf_error_errno(PF_EX_IOERR,
		    "write %s/%s/%s", od->root, od->run, tmpname);

		close(fd);
		unlinkat(od->runfd, tmpname, 0);
		return err;
	}
	if (close(fd) == -1) {
		struct pf_error *err = pf_error_errno(PF_EX_IOERR,
		    "close %s/%s/%s", od->root, od->run, tmpname);

		unlinkat(od->runfd, tmpname, 0);
		return err;
	}
	return NULL;
}

enum { ANON_NONE, ANON_EMPTY_PATH, ANON_PROC };

/* linkat(2) of an open unnamed file, the way the probe found to work. */
static int
link_anon(struct pf_outdir *od, int fd, const char *name)
{
	char proc[64];

	if (od->anon == ANON_EMPTY_PATH)
		return linkat(fd, "", od->runfd, name, AT_EMPTY_PATH);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, od->runfd, name, AT_SYMLINK_FOLLOW);
}

struct pf_error *
pf_outdir_anon_probe(struct pf_outdir *od, int *ok)
{
	char name[64];
	int fd, m;

	*ok = 0;
	od->anon = ANON_NONE;
	fd = openat(od->runfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd == -1)
		return NULL;	/* not supported here: named temporaries */
	snprintf(name, sizeof(name), PF_TMP_PREFIX "probe-%ld",
	    (long)getpid());
	for (m = ANON_EMPTY_PATH; m <= ANON_PROC; m++) {
		od->anon = m;
		unlinkat(od->runfd, name, 0);
		if (link_anon(od, fd, name) == 0) {
			unlinkat(od->runfd, name, 0);
			*ok = 1;
			break;
		}
		od->anon = ANON_NONE;
	}
	close(fd);
	return NULL;
}

struct pf_error *
pf_outdir_write_anon(struct pf_outdir *od, const void *data, size_t len,
    const char *what, int *fdp)
{
	struct pf_error *err;
	int fd;

	*fdp = -1;
	if ((fd = openat(od->runfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
	    0600)) == -1)
		return pf_error_errno(errno == ENOSPC || errno == EDQUOT ?
		    PF_EX_IOERR : PF_EX_CANTCREAT, "%s/%s/%s", od->root,
		    od->run, what);
	if (write_all(fd, data, len) == -1) {
		err = pf_error_errno(PF_EX_IOERR, "write %s/%s/%s", od->root,
		    od->run, what);
		close(fd);
		return err;
	}
	*fdp = fd;
	return NULL;
}

struct pf_error *
pf_outdir_link_anon(struct pf_outdir *od, int fd, const char *want,
    char *final, size_t finallen)
{
	const char *dot;
	size_t stem;
	int i;

	dot = strchr(want, '.');
	stem = dot ? (size_t)(dot - want) : strlen(want);
	snprintf(final, finallen, "%s", want);
	for (i = 2; i < 10000; i++) {
		if (link_anon(od, fd, final) == 0)
			return NULL;
		if (errno != EEXIST)
			return pf_error_errno(errno == ENOSPC ||
			    errno == EDQUOT ? PF_EX_IOERR : PF_EX_CANTCREAT,
			    "%s/%s/%s", od->root, od->run, final);
		snprintf(final, finallen, "%.*s~%d%s", (int)stem, want, i,
		    dot ? dot : "");
	}
	final[0] = '\0';
	return pf_error_fmt(PF_EX_CANTCREAT, "%s/%s/%s: too many names "
	    "alike", od->root, od->run, want);
}

struct pf_error *
pf_outdir_commit(struct pf_outdir *od, const char *tmpname, const char *want,
    char *final, size_t finallen)
{
	const char *dot;
	size_t stem;
	int i;

	dot = strchr(want, '.');
	stem = dot ? (size_t)(dot - want) : strlen(want);
	snprintf(final, finallen, "%s", want);
	for (i = 2; i < 10000; i++) {
		if (renameat2(od->runfd, tmpname, od->runfd, final,
		    RENAME_NOREPLACE) == 0)
			return NULL;
		if (errno != EEXIST)
			return pf_error_errno(PF_EX_IOERR, "rename %s/%s/%s",
			    od->root, od->run, final);
		snprintf(final, finallen, "%.*s~%d%s", (int)stem, want, i,
		    dot ? dot : "");
	}
	return pf_error_fmt(PF_EX_CANTCREAT, "%s/%s/%s: too many names "
	    "alike", od->root, od->run, want);
}

struct pf_error *
pf_outdir_sync(struct pf_outdir *od)
{
	if (syncfs(od->runfd) == -1)
		return pf_error_errno(PF_EX_IOERR, "sync %s/%s", od->root,
		    od->run);
	return NULL;
}

struct pf_error *
pf_outdir_set_latest(struct pf_outdir *od)
{
	const char *tmp = PF_TMP_PREFIX "latest";

	unlinkat(od->rootfd, tmp, 0);
	if (symlinkat(od->run, od->rootfd, tmp) == -1)
		return pf_error_errno(PF_EX_CANTCREAT, "%s/latest", od->root);
	if (renameat(od->rootfd, tmp, od->rootfd, "latest") == -1) {
		struct pf_error *err = pf_error_errno(PF_EX_CANTCREAT,
		    "%s/latest", od->root);

		unlinkat(od->rootfd, tmp, 0);
		return err;
	}
	if (fsync(od->rootfd) == -1)
		return pf_error_errno(PF_EX_IOERR, "sync %s", od->root);
	return NULL;
}

struct pf_error *
pf_outdir_clean_tmp(struct pf_outdir *od)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = dup(od->runfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return pf_error_errno(PF_EX_IOERR, "%s/%s", od->root,
		    od->run);
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, PF_TMP_PREFIX,
		    strlen(PF_TMP_PREFIX)) == 0)
			unlinkat(od->runfd, de->d_name, 0);
	}
	closedir(d);
	return NULL;
}

struct pf_error *
pf_outdir_open_current(struct pf_outdir *od)
{
	if (mkdirat(od->rootfd, "current", 0700) == -1 && errno != EEXIST)
		return pf_error_errno(PF_EX_CANTCREAT, "%s/current", od->root);
	if (od->curfd != -1)
		close(od->curfd);
	od->curfd = openat(od->rootfd, "current", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW);
	if (od->curfd == -1)
		return pf_error_errno(PF_EX_CANTCREAT, "%s/current", od->root);
	/* Left by a run killed while publishing. */
	unlinkat(od->curfd, PF_TMP_PREFIX "current", 0);
	return NULL;
}

struct pf_error *
pf_outdir_publish(struct pf_outdir *od, int dirfd, const char *path,
    const char *name, int only_if_missing, const struct stat *known)
{
	const char *tmp = PF_TMP_PREFIX "current";
	struct stat src, cur;

	if (od->curfd == -1)
		return NULL;
	if (only_if_missing == 1) {
		if (known != NULL)
			src = *known;
		else if (fstatat(dirfd, path, &src, 0) == -1)
			return NULL;	/* gone: the next run reissues it */
		if (fstatat(od->curfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0 &&
		    cur.st_dev == src.st_dev && cur.st_ino == src.st_ino)
			return NULL;
	}
	if (only_if_missing == -1) {
		if (linkat(dirfd, path, od->curfd, name, 0) == 0)
			return NULL;
		if (errno != EEXIST)
			return pf_error_errno(PF_EX_CANTCREAT,
			    "%s/current/%s", od->root, name);
	}
	if (linkat(dirfd, path, od->curfd, tmp, 0) == -1 &&
	    (errno != EEXIST || unlinkat(od->curfd, tmp, 0) == -1 ||
	    linkat(dirfd, path, od->curfd, tmp, 0) == -1)) {
		if (errno == ENOENT && only_if_missing == 1)
			return NULL;	/* the next run reissues it */
		return pf_error_errno(PF_EX_CANTCREAT, "%s/current/%s",
		    od->root, name);
	}
	if (renameat(od->curfd, tmp, od->curfd, name) == -1) {
		struct pf_error *err = pf_error_errno(PF_EX_CANTCREAT,
		    "%s/current/%s", od->root, name);

		unlinkat(od->curfd, tmp, 0);
		return err;
	}
	return NULL;
}

void
pf_outdir_unpublish(struct pf_outdir *od, const char *name)
{
	if (od->curfd != -1)
		unlinkat(od->curfd, name, 0);
}

void
pf_current_remove(const char *root, const char *file)
{
	char path[4096];

	if (strchr(file, '/') != NULL || file[0] == '.' ||
	    (size_t)snprintf(path, sizeof(path), "%s/current/%s", root,
	    file) >= sizeof(path))
		return;
	unlink(path);
}
