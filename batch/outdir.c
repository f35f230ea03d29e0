#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

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

static struct pf_error *
outdir_open(struct pf_outdir **out, const char *root, int create)
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
	if ((create && mkdirs(root) == -1) ||
	    (od->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		struct pf_error *err = pf_error_errno(create ?
		    PF_EX_CANTCREAT : PF_EX_NOINPUT, "output directory %s",
		    root);

		pf_outdir_close(od);
		return err;
	}
	*out = od;
	return NULL;
}

struct pf_error *
pf_outdir_open(struct pf_outdir **out, const char *root)
{
	return outdir_open(out, root, 1);
}

struct pf_error *
pf_outdir_open_existing(struct pf_outdir **out, const char *root)
{
	return outdir_open(out, root, 0);
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

/*
 * Mark OUT as the top of directory hierarchies (chattr +T), where the file
 * system knows the hint (ext2/3/4): each run folder made in it is then
 * placed like a folder at the root of the file system, in a block group
 * of its own with inodes to spare, and its profiles with it, instead of
 * next to the last one.  ext4 without a journal passes over inodes freed
 * in the last minutes one by one, for every file it creates: a run next
 * to a freshly deleted one paid several times the CPU per file.  Only a
 * hint: anything that fails is left as it is.
 */
static void
spread_runs(int rootfd)
{
	int flags;

	if (ioctl(rootfd, FS_IOC_GETFLAGS, &flags) == 0 &&
	    (flags & FS_TOPDIR_FL) == 0) {
		flags |= FS_TOPDIR_FL;
		(void)ioctl(rootfd, FS_IOC_SETFLAGS, &flags);
	}
}

static struct pf_error *
open_run(struct pf_outdir *od, const char *name, int create)
{
	int fd;

	if (create)
		spread_runs(od->rootfd);
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

/*
 * 1 if the code point cp is invisible or changes how the text around it
 * shows: C1 controls, spaces other than U+0020, zero-width and joining
 * characters, bidirectional marks, embeddings and isolates, line and
 * paragraph separators, variation selectors, tags, the byte order mark,
 * fillers.  A file name holding one could pass for another name.
 */
static int
invisible(uint32_t cp)
{
	static const uint32_t r[][2] = {
		{ 0x80, 0xa0 }, { 0xad, 0xad }, { 0x34f, 0x34f },
		{ 0x61c, 0x61c }, { 0x115f, 0x1160 }, { 0x1680, 0x1680 },
		{ 0x17b4, 0x17b5 }, { 0x180b, 0x180f }, { 0x2000, 0x200f },
		{ 0x2028, 0x202f }, { 0x205f, 0x206f }, { 0x3000, 0x3000 },
		{ 0x3164, 0x3164 }, { 0xd800, 0xdfff }, { 0xfe00, 0xfe0f },
		{ 0xfeff, 0xfeff }, { 0xffa0, 0xffa0 }, { 0xfff0, 0xffff },
		{ 0x1d173, 0x1d17a }, { 0xe0000, 0xe0fff },
	};
	size_t i;

	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (cp >= r[i][0] && cp <= r[i][1])
			return 1;
	return 0;
}

/*
 * The length of the UTF-8 sequence at p (1 to 4; by its first byte) and
 * its code point *cp; 0 if the string ends inside it.
 */
static size_t
utf8_seq(const unsigned char *p, uint32_t *cp)
{
	size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0x80 ? 2 :
	    1, k;

	if (strnlen((const char *)p, len) < len)
		return 0;
	*cp = len == 1 ? p[0] : p[0] & (0x7f >> len);
	for (k = 1; k < len; k++)
		*cp = *cp << 6 | (p[k] & 0x3f);
	return len;
}

/*
 * 1 if s holds a combining mark (U+0300-036F, 1AB0-1AFF, 1DC0-1DFF,
 * 20D0-20FF, FE20-FE2F): "é" written as "e" + U+0301 looks like "é" as one
 * character, and file shares that normalise names take them for one.
 */
static int
has_combining(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t len;

	for (; *p != '\0'; p += len) {
		if ((len = utf8_seq(p, &cp)) == 0)
			break;
		if ((cp >= 0x300 && cp <= 0x36f) ||
		    (cp >= 0x1ab0 && cp <= 0x1aff) ||
		    (cp >= 0x1dc0 && cp <= 0x1dff) ||
		    (cp >= 0x20d0 && cp <= 0x20ff) ||
		    (cp >= 0xfe20 && cp <= 0xfe2f))
			return 1;
	}
	return 0;
}

/* Append a safe version of s to buf (at most max bytes of output). */
static size_t
safe_part(const char *s, char *buf, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p != '\0') {
		unsigned char c = *p;
		uint32_t cp;
		size_t len;

		if (c >= 0x80) {
			/* Keep a whole UTF-8 sequence or stop. */
			if ((len = utf8_seq(p, &cp)) == 0 || o + len > max)
				break;
			if (invisible(cp))
				buf[o++] = '_';
			else {
				memcpy(buf + o, p, len);
				o += len;
			}
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

/*
 * Append "~" and 8 hex digits of the SHA-256 of s at buf + o; returns the
 * new length.  safe_part() never keeps a '~', so no key or template can
 * spell a digested name ("A@x" gives "a@x~<digest>"; the key
 * "a@x~<digest>" gives "a@x_<digest>~<its digest>"), nor a collision name
 * (alt_name()).
 */
static size_t
add_digest(char *buf, size_t o, const char *s)
{
	char hex[PF_SHA256_HEX];

	pf_sha256_hex(s, strlen(s), hex);
	buf[o++] = '~';
	memcpy(buf + o, hex, 8);
	return o + 8;
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

/* Names a run directory holds besides profiles (and a folder the mail
 * command may write): a user folder must not take them. */
static int
run_file_name(const char *name)
{
	static const char *const own[] = { "manifest.csv", "manifest.json",
	    "index.html", "mail" };
	size_t i;

	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcmp(name, own[i]) == 0)
			return 1;
	return 0;
}

/*
 * One safe part from s into buf (at least max + 11 bytes): safe_part() of
 * at most max bytes; a leading '_' before '.', '-', '+', '@' or a device
 * name; then "~" and 8 hex digits of s's SHA-256 when the part is not s
 * itself, or when digest is set.  Returns the length.
 */
static size_t
safe_component(const char *s, size_t max, int digest, char *buf)
{
	char part[PF_NAME_MAX + 1];
	size_t o = 0, n;

	n = safe_part(s, part, max);
	part[n] = '\0';	/* reserved() reads it as a string */
	/* No leading dot (hidden), dash (an option) or character that makes
	 * the manifest.csv cell a formula ('=' is never kept). */
	if (strchr(".-+@", part[0]) != NULL || reserved(part))
		buf[o++] = '_';
	memcpy(buf + o, part, n);
	o += n;
	/*
	 * A part that had to change (case, characters, length, prefix) gets a
	 * short digest of itself, so that keys differing only in what was
	 * changed ("Ana@x" and "ana@x") keep apart across runs, in
	 * OUT/current/ too.
	 */
	if (digest || o != strlen(s) || memcmp(buf, s, o) != 0 ||
	    has_combining(s))
		o = add_digest(buf, o, s);
	buf[o] = '\0';
	return o;
}

void
pf_safe_name(const char *key, const char *tmpl, const char *ext, char *buf,
    size_t buflen)
{
	char part[PF_NAME_MAX + 1];
	size_t o, n, extlen = strlen(ext);

	if (buflen < PF_NAME_MAX + 1) {
		snprintf(buf, buflen, "_");
		return;
	}
	o = safe_component(key, 120, 0, buf);
	buf[o++] = '.';
	n = safe_part(tmpl, part, PF_NAME_MAX - o - extlen - 10);
	memcpy(buf + o, part, n);
	o += n;
	/*
	 * A template part that had to change ("WiFi", "wi fi") gets a short
	 * digest of the name, like a key, so that templates differing only
	 * in that keep apart in OUT/current/; so does one with a dot, which
	 * the key could otherwise hold ("a" + "b.c", "a.b" + "c").
	 */
	if (n != strlen(tmpl) || memcmp(part, tmpl, n) != 0 ||
	    memchr(part, '.', n) != NULL || has_combining(tmpl))
		o = add_digest(buf, o, tmpl);
	memcpy(buf + o, ext, extlen);
	o += extlen;
	buf[o] = '\0';
}

void
pf_safe_path(enum pf_layout layout, const char *key, const char *tmpl,
    const char *ext, char *buf, size_t buflen)
{
	size_t o, n, extlen = strlen(ext);

	if (buflen < PF_PATH_MAX + 1 || extlen > 32) {
		snprintf(buf, buflen, "_");
		return;
	}
	if (layout != PF_LAYOUT_BY_USER) {
		pf_safe_name(key, tmpl, ext, buf, buflen);
		return;
	}
	/* The user folder: at most 1 + 120 + 9 bytes. */
	o = safe_component(key, 120, 0, buf);
	if (strcmp(buf, key) == 0 && (run_file_name(buf) ||
	    (o >= extlen && strcmp(buf + o - extlen, ext) == 0)))
		o = safe_component(key, 120, 1, buf);
	buf[o++] = '/';
	/* The file: at most 1 + 64 + 9 bytes, then ext. */
	n = safe_component(tmpl, 64, 0, buf + o);
	o += n;
	memcpy(buf + o, ext, extlen);
	o += extlen;
	buf[o] = '\0';
}

int
pf_layout_parse(const char *name, enum pf_layout *layout)
{
	if (strcmp(name, "flat") == 0)
		*layout = PF_LAYOUT_FLAT;
	else if (strcmp(name, "by-user") == 0)
		*layout = PF_LAYOUT_BY_USER;
	else
		return -1;
	return 0;
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

/*
 * Where the path rel (relative to dirfd) lives: for a plain name, dirfd
 * itself and rel; for "DIR/NAME", DIR opened with O_NOFOLLOW into *dfd
 * (the caller closes it when it is not dirfd) and NAME in *last.  With
 * create, DIR is made (0700) when missing, and a symbolic link in its
 * place is removed, never followed.  Only one level: a second '/', an
 * empty part or a part starting with '.' is EINVAL.  -1 with errno on
 * failure.
 */
static int
open_parent(int dirfd, const char *rel, int create, int *dfd,
    const char **last)
{
	char dir[PF_PATH_MAX + 1];
	const char *slash = strchr(rel, '/');
	struct stat st;
	size_t n;
	int fd, tries;

	*dfd = dirfd;
	*last = rel;
	if (slash == NULL)
		return 0;
	n = (size_t)(slash - rel);
	if (n == 0 || n > PF_PATH_MAX || rel[0] == '.' || slash[1] == '\0' ||
	    slash[1] == '.' || strchr(slash + 1, '/') != NULL) {
		errno = EINVAL;
		return -1;
	}
	memcpy(dir, rel, n);
	dir[n] = '\0';
	for (tries = 0; tries < 3; tries++) {
		if (create && mkdirat(dirfd, dir, 0700) == -1 &&
		    errno != EEXIST)
			return -1;
		fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
		    O_NOFOLLOW);
		if (fd != -1) {
			*dfd = fd;
			*last = slash + 1;
			return 0;
		}
		if (!create)
			return -1;
		if (errno == ENOENT)
			continue;	/* removed meanwhile: make it again */
		if (errno != ELOOP && errno != ENOTDIR)
			return -1;
		if (fstatat(dirfd, dir, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (!S_ISLNK(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
		if (unlinkat(dirfd, dir, 0) == -1 && errno != ENOENT)
			return -1;
	}
	errno = ELOOP;
	return -1;
}

static void
close_parent(int dirfd, int dfd)
{
	if (dfd != dirfd && dfd != -1)
		close(dfd);
}

/*
 * The i-th name to try for want's last component (i >= 2): NAME~i.EXT,
 * NAME being that component up to its first dot.  A '.' in a user folder
 * name is not the one.
 */
static void
alt_name(const char *want, int i, char *buf, size_t buflen)
{
	const char *dot;
	size_t stem;

	dot = strchr(want, '.');
	stem = dot ? (size_t)(dot - want) : strlen(want);
	snprintf(buf, buflen, "%.*s~%d%s", (int)stem, want, i,
	    dot ? dot : "");
}

/* rmdir(2) of rel's user folder when it is empty (no error). */
static void
remove_parent(int dirfd, const char *rel)
{
	char dir[PF_PATH_MAX + 1];
	const char *slash = strchr(rel, '/');

	if (slash == NULL || (size_t)(slash - rel) > PF_PATH_MAX)
		return;
	memcpy(dir, rel, (size_t)(slash - rel));
	dir[slash - rel] = '\0';
	unlinkat(dirfd, dir, AT_REMOVEDIR);
}

/* Remove rel (relative to dirfd) and its user folder if that leaves it
 * empty. */
static void
remove_rel(int dirfd, const char *rel)
{
	const char *last;
	int dfd;

	if (open_parent(dirfd, rel, 0, &dfd, &last) == -1)
		return;
	unlinkat(dfd, last, 0);
	if (dfd != dirfd) {
		close(dfd);
		remove_parent(dirfd, rel);
	}
}

enum { ANON_NONE, ANON_EMPTY_PATH, ANON_PROC };

/* linkat(2) of an open unnamed file into dirfd, the way the probe found
 * to work. */
static int
link_anon(struct pf_outdir *od, int fd, int dirfd, const char *name)
{
	char proc[64];

	if (od->anon == ANON_EMPTY_PATH)
		return linkat(fd, "", dirfd, name, AT_EMPTY_PATH);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
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
		if (link_anon(od, fd, od->runfd, name) == 0) {
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

/*
 * Name a new file of the run directory want, or want with its last
 * component NAME~2.EXT, NAME~3.EXT, ... when taken: name(arg, dfd, last)
 * makes the name (0, or -1 with errno, EEXIST when taken).  The path used
 * goes to final.  With renaming, a failed name(), not a full disk, is an
 * I/O error, "rename ..."; otherwise it is PF_EX_CANTCREAT.
 */
static struct pf_error *
name_file(struct pf_outdir *od, const char *want, char *final,
    size_t finallen, int renaming, int (*name)(void *, int, const char *),
    void *arg)
{
	struct pf_error *err = NULL;
	const char *last;
	size_t dirlen;
	int dfd, i;

	final[0] = '\0';
	if (open_parent(od->runfd, want, 1, &dfd, &last) == -1)
		return pf_error_errno(errno == ENOSPC || errno == EDQUOT ?
		    PF_EX_IOERR : PF_EX_CANTCREAT, "%s/%s/%s", od->root,
		    od->run, want);
	dirlen = (size_t)(last - want);
	snprintf(final, finallen, "%s", want);
	for (i = 2; i < 10000 && dirlen < finallen; i++) {
		if (name(arg, dfd, final + dirlen) == 0)
			goto done;
		if (errno != EEXIST) {
			err = pf_error_errno(renaming || errno == ENOSPC ||
			    errno == EDQUOT ? PF_EX_IOERR : PF_EX_CANTCREAT,
			    "%s%s/%s/%s", renaming ? "rename " : "", od->root,
			    od->run, final);
			goto done;
		}
		alt_name(last, i, final + dirlen, finallen - dirlen);
	}
	final[0] = '\0';
	err = pf_error_fmt(PF_EX_CANTCREAT, "%s/%s/%s: too many names "
	    "alike", od->root, od->run, want);
done:
	close_parent(od->runfd, dfd);
	return err;
}

struct link_arg {
	struct pf_outdir *od;
	int fd;
};

static int
name_link(void *arg, int dfd, const char *name)
{
	struct link_arg *la = arg;

	return link_anon(la->od, la->fd, dfd, name);
}

struct pf_error *
pf_outdir_link_anon(struct pf_outdir *od, int fd, const char *want,
    char *final, size_t finallen)
{
	struct link_arg la = { od, fd };

	return name_file(od, want, final, finallen, 0, name_link, &la);
}

struct rename_arg {
	struct pf_outdir *od;
	const char *tmpname;
};

static int
name_rename(void *arg, int dfd, const char *name)
{
	struct rename_arg *ra = arg;

	return renameat2(ra->od->runfd, ra->tmpname, dfd, name,
	    RENAME_NOREPLACE);
}

struct pf_error *
pf_outdir_commit(struct pf_outdir *od, const char *tmpname, const char *want,
    char *final, size_t finallen)
{
	struct rename_arg ra = { od, tmpname };

	return name_file(od, want, final, finallen, 1, name_rename, &ra);
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

/* 1 if name is a run name: YYYYMMDD-HHMMSS, perhaps then -N. */
static int
run_name(const char *name)
{
	size_t i;

	for (i = 0; i < 15; i++)
		if (i == 8 ? name[i] != '-' : !isdigit((unsigned char)name[i]))
			return 0;
	if (name[15] == '\0')
		return 1;
	if (name[15] != '-' || name[16] == '\0')
		return 0;
	for (i = 16; name[i] != '\0'; i++)
		if (!isdigit((unsigned char)name[i]) || i > 24)
			return 0;
	return 1;
}

struct pf_error *
pf_outdir_drop_empty_runs(struct pf_outdir *od,
    struct pf_error *(*known)(void *, const char *, int *), void *arg)
{
	struct pf_error *err = NULL;
	struct dirent *de;
	DIR *d;
	int fd, has;

	if ((fd = dup(od->rootfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return pf_error_errno(PF_EX_IOERR, "%s", od->root);
	}
	while (err == NULL && (de = readdir(d)) != NULL) {
		if ((de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) ||
		    !run_name(de->d_name))
			continue;
		if ((err = known(arg, de->d_name, &has)) == NULL && !has)
			unlinkat(od->rootfd, de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
	return err;
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
	struct stat st;

	/* OUT/latest is replaced when the run is done: find now what
	 * would stop that. */
	if (fstatat(od->rootfd, "latest", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISLNK(st.st_mode))
		return pf_error_fmt(PF_EX_CANTCREAT, "%s/latest: not a "
		    "symbolic link (profactory points it at the newest run; "
		    "move it away)", od->root);
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

/*
 * Link path (relative to dirfd) as last in dfd, the folder of name in
 * OUT/current/, as pf_outdir_publish() says.  -1 with errno on failure; 1
 * when there was nothing to do.
 */
static int
publish_in(struct pf_outdir *od, int dfd, int dirfd, const char *path,
    const char *last, int only_if_missing, const struct stat *known)
{
	const char *tmp = PF_TMP_PREFIX "current";
	struct stat src, cur;

	if (only_if_missing == 1) {
		if (known != NULL)
			src = *known;
		else if (fstatat(dirfd, path, &src, 0) == -1)
			return 1;	/* gone: the next run reissues it */
		if (fstatat(dfd, last, &cur, AT_SYMLINK_NOFOLLOW) == 0 &&
		    cur.st_dev == src.st_dev && cur.st_ino == src.st_ino)
			return 1;
	}
	if (only_if_missing == -1) {
		if (linkat(dirfd, path, dfd, last, 0) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	/* The temporary stays at the top of current/, where a run killed
	 * here leaves it for the next to remove. */
	if (linkat(dirfd, path, od->curfd, tmp, 0) == -1 &&
	    (errno != EEXIST || unlinkat(od->curfd, tmp, 0) == -1 ||
	    linkat(dirfd, path, od->curfd, tmp, 0) == -1)) {
		if (errno == ENOENT && only_if_missing == 1)
			return 1;	/* the next run reissues it */
		return -1;
	}
	if (renameat(od->curfd, tmp, dfd, last) == -1) {
		int e = errno;

		unlinkat(od->curfd, tmp, 0);
		errno = e;
		return -1;
	}
	return 0;
}

/* 1 if dfd is a folder that was removed (by a revoke emptying it). */
static int
removed_dir(int dfd)
{
	struct stat st;

	return fstat(dfd, &st) == 0 && st.st_nlink == 0;
}

struct pf_error *
pf_outdir_publish(struct pf_outdir *od, int dirfd, const char *path,
    const char *name, int only_if_missing, const struct stat *known)
{
	const char *last;
	int dfd, e, tries;

	if (od->curfd == -1)
		return NULL;
	for (tries = 0; ; tries++) {
		if (open_parent(od->curfd, name, 1, &dfd, &last) == -1)
			return pf_error_errno(PF_EX_CANTCREAT,
			    "%s/current/%s", od->root, name);
		e = publish_in(od, dfd, dirfd, path, last, only_if_missing,
		    known) == -1 ? errno : 0;
		/* A revoke may remove the folder between open and link. */
		if (e == ENOENT && dfd != od->curfd && tries < 2 &&
		    removed_dir(dfd)) {
			close(dfd);
			continue;
		}
		close_parent(od->curfd, dfd);
		if (e != 0) {
			errno = e;
			return pf_error_errno(PF_EX_CANTCREAT,
			    "%s/current/%s", od->root, name);
		}
		return NULL;
	}
}

void
pf_outdir_unpublish(struct pf_outdir *od, const char *name)
{
	if (od->curfd != -1)
		remove_rel(od->curfd, name);
}

void
pf_current_remove(const char *root, const char *file)
{
	char path[4096];
	int fd;

	if (file[0] == '.' || (size_t)snprintf(path, sizeof(path),
	    "%s/current", root) >= sizeof(path))
		return;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		return;
	remove_rel(fd, file);
	close(fd);
}

void
pf_outdir_remove(struct pf_outdir *od, const char *file)
{
	remove_rel(od->runfd, file);
}

struct pf_error *
pf_outdir_replace(struct pf_outdir *od, const char *tmpname, const char *file)
{
	const char *last;
	int dfd, e = 0;

	if (open_parent(od->runfd, file, 1, &dfd, &last) == -1 ||
	    renameat(od->runfd, tmpname, dfd, last) == -1)
		e = errno;
	close_parent(od->runfd, dfd);
	if (e != 0) {
		errno = e;
		return pf_error_errno(PF_EX_CANTCREAT, "rename %s/%s/%s",
		    od->root, od->run, file);
	}
	return NULL;
}

int
pf_outdir_openat(int dirfd, const char *rel, int flags)
{
	const char *last;
	int dfd, fd, e;

	if (rel[0] == '\0' || rel[0] == '.') {
		errno = EINVAL;
		return -1;
	}
	if (open_parent(dirfd, rel, 0, &dfd, &last) == -1)
		return -1;
	fd = openat(dfd, last, flags | O_NOFOLLOW | O_CLOEXEC);
	e = errno;
	close_parent(dirfd, dfd);
	errno = e;
	return fd;
}

/* Remove from dirfd (the run directory, or prefix/ in it) temporary files
 * and files recorded() does not claim; folders only at the top. */
static struct pf_error *
sweep_dir(int dirfd, const char *prefix,
    struct pf_error *(*recorded)(void *, const char *, int *), void *arg)
{
	struct pf_error *err = NULL;
	struct dirent *de;
	struct stat st;
	char rel[PF_PATH_MAX + 1];
	DIR *d;
	int fd, has;

	if ((fd = dup(dirfd)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return NULL;
	}
	rewinddir(d);
	while (err == NULL && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (strncmp(n, PF_TMP_PREFIX, strlen(PF_TMP_PREFIX)) == 0) {
			unlinkat(dirfd, n, 0);
			continue;
		}
		/*
		 * The manifests and the page get their names once complete,
		 * after every row was recorded: a run killed after that keeps
		 * them.  No profile has one of these names.
		 */
		if (n[0] == '.' || (prefix == NULL && run_file_name(n)))
			continue;
		if (de->d_type == DT_DIR || (de->d_type == DT_UNKNOWN &&
		    fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))) {
			int sub;

			if (prefix != NULL || strlen(n) >= sizeof(rel) ||
			    (sub = openat(dirfd, n, O_RDONLY | O_DIRECTORY |
			    O_CLOEXEC | O_NOFOLLOW)) == -1)
				continue;
			err = sweep_dir(sub, n, recorded, arg);
			close(sub);
			unlinkat(dirfd, n, AT_REMOVEDIR);	/* if empty */
			continue;
		}
		if ((size_t)snprintf(rel, sizeof(rel), "%s%s%s",
		    prefix ? prefix : "", prefix ? "/" : "", n) >= sizeof(rel))
			continue;
		if ((err = recorded(arg, rel, &has)) == NULL && !has)
			unlinkat(dirfd, n, 0);
	}
	closedir(d);
	return err;
}

struct pf_error *
pf_outdir_sweep(struct pf_outdir *od,
    struct pf_error *(*recorded)(void *, const char *, int *), void *arg)
{
	return sweep_dir(od->runfd, NULL, recorded, arg);
}
