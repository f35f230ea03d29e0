/*
 * outdir: safe file names and paths made from hostile keys; user folders
 * created, collisions named, symbolic links never followed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outdir.h"
#include "util.h"
#include "t.h"

/* Leave non-NUL bytes on the stack where pf_safe_name() keeps its
 * scratch buffer, as a long run does, so that a buffer read past what
 * was written into it shows. */
static void __attribute__((noinline))
dirty_stack(void)
{
	volatile char junk[8192];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = 'x';
}

static const char *
safe(const char *key, const char *tmpl)
{
	static char buf[PF_NAME_MAX + 1];

	dirty_stack();
	pf_safe_name(key, tmpl, ".mobileconfig", buf, sizeof(buf));
	return buf;
}

/* The name a changed key gets: PREFIX, "~", 8 hex digits of the key's
 * SHA-256, ".TMPL.mobileconfig". */
static const char *
want(const char *prefix, const char *key, const char *tmpl)
{
	static char buf[PF_NAME_MAX + 1];
	char hex[PF_SHA256_HEX];

	pf_sha256_hex(key, strlen(key), hex);
	snprintf(buf, sizeof(buf), "%s~%.8s.%s.mobileconfig", prefix, hex,
	    tmpl);
	return buf;
}

static void
test_reserved_names(void)
{
	/* A device name alone, not only with an extension. */
	T_CHECK(strcmp(safe("CON", "scep"), want("_con", "CON", "scep")) == 0);
	T_CHECK(strcmp(safe("con", "scep"), want("_con", "con", "scep")) == 0);
	T_CHECK(strcmp(safe("nul", "wifi"), want("_nul", "nul", "wifi")) == 0);
	T_CHECK(strcmp(safe("LPT9", "scep"),
	    want("_lpt9", "LPT9", "scep")) == 0);
	T_CHECK(strcmp(safe("con.txt", "scep"),
	    want("_con.txt", "con.txt", "scep")) == 0);
	T_CHECK(strcmp(safe("COM\xc2\xb9", "scep"),
	    want("_com\xc2\xb9", "COM\xc2\xb9", "scep")) == 0);
	T_CHECK(strcmp(safe("console", "scep"),
	    "console.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("com10", "scep"), "com10.scep.mobileconfig") == 0);
}

static void
test_hostile_keys(void)
{
	T_CHECK(strcmp(safe("../../etc/x", "scep"),
	    want("_.._.._etc_x", "../../etc/x", "scep")) == 0);
	T_CHECK(strcmp(safe("/etc/passwd", "scep"),
	    want("_etc_passwd", "/etc/passwd", "scep")) == 0);
	T_CHECK(strcmp(safe(".", "scep"), want("_", ".", "scep")) == 0);
	T_CHECK(strcmp(safe("..", "scep"), want("_._", "..", "scep")) == 0);
	T_CHECK(strcmp(safe(".hidden", "scep"),
	    want("_.hidden", ".hidden", "scep")) == 0);
	T_CHECK(strcmp(safe("", "scep"), want("_", "", "scep")) == 0);
	T_CHECK(strcmp(safe("a/b\\c", "scep"),
	    want("a_b_c", "a/b\\c", "scep")) == 0);
	T_CHECK(strcmp(safe("-rf", "scep"), want("_-rf", "-rf", "scep")) == 0);
}

/* manifest.csv neutralises a cell starting with = + - @; a file name must
 * not start with one, or the file column no longer names the file. */
static void
test_formula_keys(void)
{
	T_CHECK(strcmp(safe("+1", "scep"), want("_+1", "+1", "scep")) == 0);
	T_CHECK(strcmp(safe("@SUM(1)", "scep"),
	    want("_@sum_1_", "@SUM(1)", "scep")) == 0);
	T_CHECK(strcmp(safe("-1", "scep"), want("_-1", "-1", "scep")) == 0);
	T_CHECK(strcmp(safe("=cmd|' /C calc'!A0", "scep"),
	    want("_cmd____c_calc__a0", "=cmd|' /C calc'!A0", "scep")) == 0);
}

/* Keys that differ only in case get different names, in OUT/current/
 * too. */
static void
test_case_apart(void)
{
	char a[PF_NAME_MAX + 1];

	snprintf(a, sizeof(a), "%s", safe("Ana@example.com", "scep"));
	T_CHECK(strcmp(a, safe("ana@example.com", "scep")) != 0);
	T_CHECK(strcmp(safe("ana@example.com", "scep"),
	    "ana@example.com.scep.mobileconfig") == 0);
}

/* Templates that differ only in case or spelling get different names; a
 * dot in a template cannot make (key, template) pairs meet. */
static void
test_template_apart(void)
{
	char a[PF_NAME_MAX + 1], hex[PF_SHA256_HEX], w[PF_NAME_MAX + 1];

	snprintf(a, sizeof(a), "%s", safe("a@x.com", "WiFi"));
	T_CHECK(strcmp(a, safe("a@x.com", "wifi")) != 0);
	T_CHECK(strcmp(safe("a@x.com", "wifi"),
	    "a@x.com.wifi.mobileconfig") == 0);
	pf_sha256_hex("WiFi", 4, hex);
	snprintf(w, sizeof(w), "a@x.com.wifi~%.8s.mobileconfig", hex);
	T_CHECK(strcmp(a, w) == 0);
	snprintf(a, sizeof(a), "%s", safe("wi fi", "x"));
	T_CHECK(strcmp(safe("wi", "fi.x"), a) != 0);
	snprintf(a, sizeof(a), "%s", safe("a", "b.c"));
	T_CHECK(strcmp(safe("a.b", "c"), a) != 0);
	T_CHECK(strcmp(safe("a.b", "c"), "a.b.c.mobileconfig") == 0);
}

/* Characters that are invisible or turn text around never reach a name:
 * "ann\u202egifnoc.exe" would show as "annexe.config". */
static void
test_invisible(void)
{
	static const char *const keys[] = {
		"ann\xe2\x80\xaegifnoc.exe@x.com",	/* U+202E */
		"a\xe2\x80\x8b@x.com",		/* U+200B */
		"a\xe2\x80\x8e@x.com",		/* U+200E */
		"\xef\xbb\xbf" "a@x.com",		/* U+FEFF */
		"a\xe2\x80\xa8@x.com",		/* U+2028 */
		"a\xc2\x85@x.com",			/* U+0085 */
		"a\xc2\xa0@x.com",			/* U+00A0 */
		"a\xe2\x81\xa6@x.com",		/* U+2066 */
		"a\xf3\xa0\x80\x81@x.com",		/* U+E0001 */
	};
	char s[PF_NAME_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(s, sizeof(s), "%s", safe(keys[i], "scep"));
		T_CHECK(strstr(s, "\xe2\x80") == NULL &&
		    strstr(s, "\xef\xbb\xbf") == NULL &&
		    strstr(s, "\xc2") == NULL && strstr(s, "\xe2\x81") == NULL &&
		    strstr(s, "\xf3") == NULL);
		T_CHECK(strchr(s, '_') != NULL);
		/* and the name is not that of the key without it */
		T_CHECK(strcmp(s, safe("a@x.com", "scep")) != 0);
	}
	/* "é" as e + U+0301 gets a digest: it looks like the one-character
	 * "é", and normalising file shares take the two for one */
	snprintf(s, sizeof(s), "%s", safe("jose\xcc\x81@x.com", "scep"));
	T_CHECK(strcmp(s, safe("jos\xc3\xa9@x.com", "scep")) != 0);
	T_CHECK(strstr(s, "jose\xcc\x81@x.com~") == s);
	/* letters beyond ASCII stay */
	T_CHECK(strcmp(safe("jos\xc3\xa9@x.com", "scep"),
	    "jos\xc3\xa9@x.com.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("\xe5\xb1\xb1\xe7\x94\xb0@x.com", "scep"),
	    "\xe5\xb1\xb1\xe7\x94\xb0@x.com.scep.mobileconfig") == 0);
}

static void
test_long_key(void)
{
	static char key[10001];
	const char *s;

	memset(key, 'k', sizeof(key) - 1);
	s = safe(key, "scep");
	T_CHECK(strlen(s) <= PF_NAME_MAX);
	T_CHECK(strlen(s) == 120 + 9 + strlen(".scep.mobileconfig"));
	/* a multi-byte character is kept whole or not at all */
	memset(key, 'k', 119);
	memcpy(key + 119, "\xc3\xa9\xc3\xa9", 5);
	s = safe(key, "scep");
	T_CHECK(strncmp(s + 119, "~", 1) == 0);
}

static const char *
by_user(const char *key, const char *tmpl)
{
	static char buf[PF_PATH_MAX + 1];

	dirty_stack();
	pf_safe_path(PF_LAYOUT_BY_USER, key, tmpl, ".mobileconfig", buf,
	    sizeof(buf));
	return buf;
}

/* "PREFIX-HEX8" for a part that had to change. */
static const char *
dig(const char *prefix, const char *s)
{
	static char buf[2][PF_PATH_MAX + 1];
	static int k;
	char hex[PF_SHA256_HEX];

	k = !k;
	pf_sha256_hex(s, strlen(s), hex);
	snprintf(buf[k], sizeof(buf[k]), "%s~%.8s", prefix, hex);
	return buf[k];
}

static void
test_by_user_paths(void)
{
	char w[PF_PATH_MAX + 1], flat[PF_PATH_MAX + 1];

	T_CHECK(strcmp(by_user("ana@example.com", "scep"),
	    "ana@example.com/scep.mobileconfig") == 0);
	snprintf(w, sizeof(w), "%s/scep.mobileconfig",
	    dig("ana@example.com", "Ana@example.com"));
	T_CHECK(strcmp(by_user("Ana@example.com", "scep"), w) == 0);
	/* no '/', '..', hidden or option-like folder */
	snprintf(w, sizeof(w), "%s/scep.mobileconfig",
	    dig("_.._.._etc_x", "../../etc/x"));
	T_CHECK(strcmp(by_user("../../etc/x", "scep"), w) == 0);
	snprintf(w, sizeof(w), "%s/scep.mobileconfig", dig("_._", ".."));
	T_CHECK(strcmp(by_user("..", "scep"), w) == 0);
	snprintf(w, sizeof(w), "%s/scep.mobileconfig", dig("_-rf", "-rf"));
	T_CHECK(strcmp(by_user("-rf", "scep"), w) == 0);
	snprintf(w, sizeof(w), "%s/scep.mobileconfig", dig("_con", "CON"));
	T_CHECK(strcmp(by_user("CON", "scep"), w) == 0);
	snprintf(w, sizeof(w), "%s/scep.mobileconfig",
	    dig("a_b_c_d", "a b#c%d"));
	T_CHECK(strcmp(by_user("a b#c%d", "scep"), w) == 0);
	/* the template part follows the same rules */
	snprintf(w, sizeof(w), "a/%s.mobileconfig", dig("wifi", "WiFi"));
	T_CHECK(strcmp(by_user("a", "WiFi"), w) == 0);
	snprintf(w, sizeof(w), "a/%s.mobileconfig", dig("_-x", "-x"));
	T_CHECK(strcmp(by_user("a", "-x"), w) == 0);
	snprintf(w, sizeof(w), "a/%s.mobileconfig", dig("_nul", "nul"));
	T_CHECK(strcmp(by_user("a", "nul"), w) == 0);
	/* a folder never takes the name of a run directory's own file, nor
	 * looks like a flat profile in OUT/current/ */
	snprintf(w, sizeof(w), "%s/scep.mobileconfig",
	    dig("manifest.csv", "manifest.csv"));
	T_CHECK(strcmp(by_user("manifest.csv", "scep"), w) == 0);
	snprintf(w, sizeof(w), "%s/scep.mobileconfig",
	    dig("index.html", "index.html"));
	T_CHECK(strcmp(by_user("index.html", "scep"), w) == 0);
	snprintf(w, sizeof(w), "%s/scep.mobileconfig",
	    dig("a.scep.mobileconfig", "a.scep.mobileconfig"));
	T_CHECK(strcmp(by_user("a.scep.mobileconfig", "scep"), w) == 0);
	T_CHECK(strcmp(by_user("manifest.csv.x", "scep"),
	    "manifest.csv.x/scep.mobileconfig") == 0);
	/* non-ASCII is kept whole */
	T_CHECK(strcmp(by_user("j\xc3\xb6rg@x", "scep"),
	    "j\xc3\xb6rg@x/scep.mobileconfig") == 0);
	/* flat is pf_safe_name() */
	pf_safe_path(PF_LAYOUT_FLAT, "Ana@x", "scep", ".mobileconfig", flat,
	    sizeof(flat));
	T_CHECK(strcmp(flat, safe("Ana@x", "scep")) == 0);
}

static void
test_by_user_long(void)
{
	static char key[10001], tmpl[65];
	const char *s, *slash;

	memset(key, 'K', sizeof(key) - 1);
	memset(tmpl, 'T', sizeof(tmpl) - 1);
	s = by_user(key, tmpl);
	T_CHECK(strlen(s) <= PF_PATH_MAX);
	T_REQUIRE((slash = strchr(s, '/')) != NULL);
	T_CHECK(slash - s == 120 + 9);
	T_CHECK(strchr(slash + 1, '/') == NULL);
	T_CHECK(strlen(slash + 1) == 64 + 9 + strlen(".mobileconfig"));
}

static void
test_layout_parse(void)
{
	enum pf_layout l = PF_LAYOUT_FLAT;

	T_CHECK(pf_layout_parse("by-user", &l) == 0 && l == PF_LAYOUT_BY_USER);
	T_CHECK(pf_layout_parse("flat", &l) == 0 && l == PF_LAYOUT_FLAT);
	T_CHECK(pf_layout_parse("byuser", &l) == -1);
	T_CHECK(pf_layout_parse("", &l) == -1);
	T_CHECK(pf_layout_parse("Flat", &l) == -1);
}

/* A scratch output root with run directory "r1" and current/. */
static struct pf_outdir *
scratch(char *root, size_t len)
{
	struct pf_outdir *od = NULL;
	struct pf_error *err;

	snprintf(root, len, "%s/pf-outdir.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(root) == NULL)
		return NULL;
	if ((err = pf_outdir_open(&od, root)) != NULL ||
	    (err = pf_outdir_create_run(od, "r1")) != NULL ||
	    (err = pf_outdir_open_current(od)) != NULL) {
		fprintf(stderr, "%s\n", err->msg);
		pf_error_free(err);
		pf_outdir_close(od);
		return NULL;
	}
	return od;
}

static int
mode_of(const char *root, const char *rel, mode_t *mode)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (lstat(path, &st) == -1)
		return -1;
	*mode = st.st_mode;
	return 0;
}

/* Names in a user folder: "~2" goes on the file, not into the folder name
 * (which has dots); both ways of naming a file. */
static void
test_collisions_in_folder(void)
{
	char root[256], tmp[64], final[PF_PATH_MAX + 16];
	struct pf_outdir *od;
	mode_t m;
	int fd, ok, i;

	T_REQUIRE((od = scratch(root, sizeof(root))) != NULL);
	T_OK(pf_outdir_anon_probe(od, &ok));
	for (i = 0; i < 3; i++) {
		if (ok) {
			T_OK(pf_outdir_write_anon(od, "x", 1, "t", &fd));
			T_OK(pf_outdir_link_anon(od, fd, "a.b@c.d/scep.mobileconfig",
			    final, sizeof(final)));
			close(fd);
		} else {
			T_OK(pf_outdir_write_tmp(od, "x", 1, tmp, sizeof(tmp)));
			T_OK(pf_outdir_commit(od, tmp,
			    "a.b@c.d/scep.mobileconfig", final, sizeof(final)));
		}
		T_CHECK(strcmp(final, i == 0 ? "a.b@c.d/scep.mobileconfig" :
		    i == 1 ? "a.b@c.d/scep~2.mobileconfig" :
		    "a.b@c.d/scep~3.mobileconfig") == 0);
	}
	T_OK(pf_outdir_write_tmp(od, "y", 1, tmp, sizeof(tmp)));
	T_OK(pf_outdir_commit(od, tmp, "a.b@c.d/scep.mobileconfig", final,
	    sizeof(final)));
	T_CHECK(strcmp(final, "a.b@c.d/scep~4.mobileconfig") == 0);
	/* flat names keep their old rule: before the first dot */
	T_OK(pf_outdir_write_tmp(od, "y", 1, tmp, sizeof(tmp)));
	T_OK(pf_outdir_commit(od, tmp, "a.scep.mobileconfig", final,
	    sizeof(final)));
	T_OK(pf_outdir_write_tmp(od, "y", 1, tmp, sizeof(tmp)));
	T_OK(pf_outdir_commit(od, tmp, "a.scep.mobileconfig", final,
	    sizeof(final)));
	T_CHECK(strcmp(final, "a~2.scep.mobileconfig") == 0);
	T_CHECK(mode_of(root, "r1/a.b@c.d", &m) == 0 && S_ISDIR(m) &&
	    (m & 07777) == 0700);
	T_CHECK(mode_of(root, "r1/a.b@c.d/scep~4.mobileconfig", &m) == 0 &&
	    S_ISREG(m) && (m & 07777) == 0600);
	/* removing the last file of a folder removes the folder */
	pf_outdir_remove(od, "a.b@c.d/scep.mobileconfig");
	pf_outdir_remove(od, "a.b@c.d/scep~2.mobileconfig");
	pf_outdir_remove(od, "a.b@c.d/scep~3.mobileconfig");
	T_CHECK(mode_of(root, "r1/a.b@c.d", &m) == 0);
	pf_outdir_remove(od, "a.b@c.d/scep~4.mobileconfig");
	T_CHECK(mode_of(root, "r1/a.b@c.d", &m) == -1 && errno == ENOENT);
	pf_outdir_close(od);
	t_rm_rf(root);
}

/* A symbolic link planted where a user folder goes, in the run directory
 * or in current/, is never followed. */
static void
test_planted_symlink(void)
{
	char root[256], outside[300], path[600], final[PF_PATH_MAX + 16];
	char tmp[64];
	struct pf_outdir *od;
	struct stat st;
	mode_t m;

	T_REQUIRE((od = scratch(root, sizeof(root))) != NULL);
	snprintf(outside, sizeof(outside), "%s/outside", root);
	T_REQUIRE(mkdir(outside, 0700) == 0);
	snprintf(path, sizeof(path), "%s/current/eve", root);
	T_REQUIRE(symlink(outside, path) == 0);
	snprintf(path, sizeof(path), "%s/r1/eve", root);
	T_REQUIRE(symlink(outside, path) == 0);

	T_OK(pf_outdir_write_tmp(od, "x", 1, tmp, sizeof(tmp)));
	T_OK(pf_outdir_commit(od, tmp, "eve/scep.mobileconfig", final,
	    sizeof(final)));
	T_OK(pf_outdir_publish(od, od->runfd, final, final, -1, NULL));
	T_CHECK(mode_of(root, "r1/eve", &m) == 0 && S_ISDIR(m));
	T_CHECK(mode_of(root, "current/eve", &m) == 0 && S_ISDIR(m) &&
	    (m & 07777) == 0700);
	T_CHECK(mode_of(root, "current/eve/scep.mobileconfig", &m) == 0 &&
	    S_ISREG(m));
	T_CHECK(mode_of(root, "outside/scep.mobileconfig", &m) == -1);
	T_CHECK(stat(outside, &st) == 0 && st.st_nlink == 2);

	/* A file where a folder goes is an error, not replaced. */
	snprintf(path, sizeof(path), "%s/current/zed", root);
	T_REQUIRE(close(open(path, O_CREAT | O_WRONLY, 0600)) == 0);
	T_ERR(pf_outdir_publish(od, od->runfd, final, "zed/scep.mobileconfig",
	    -1, NULL), PF_EX_CANTCREAT, "current/zed/scep.mobileconfig");
	/* paths that leave their folder are refused */
	T_ERR(pf_outdir_publish(od, od->runfd, final, "../x/scep.mobileconfig",
	    -1, NULL), PF_EX_CANTCREAT, "");
	T_ERR(pf_outdir_publish(od, od->runfd, final, "a/b/c.mobileconfig",
	    -1, NULL), PF_EX_CANTCREAT, "");
	T_CHECK(mode_of(root, "x", &m) == -1 && mode_of(root, "current/a",
	    &m) == -1);

	/* unpublishing the last file removes the user folder */
	pf_outdir_unpublish(od, "eve/scep.mobileconfig");
	T_CHECK(mode_of(root, "current/eve", &m) == -1 && errno == ENOENT);
	pf_outdir_close(od);
	t_rm_rf(root);
}

struct sweep_arg {
	const char *keep[4];
	int asked;
};

static struct pf_error *
keep_some(void *arg, const char *file, int *has)
{
	struct sweep_arg *sa = arg;
	size_t i;

	sa->asked++;
	*has = 0;
	for (i = 0; i < 4 && sa->keep[i] != NULL; i++)
		if (strcmp(sa->keep[i], file) == 0)
			*has = 1;
	return NULL;
}

/* Recovery finds unrecorded files in user folders too. */
static void
test_sweep(void)
{
	static const char *const files[] = { "a/scep.mobileconfig",
	    "a/wifi.mobileconfig", "b/scep.mobileconfig",
	    "c.scep.mobileconfig", "d.scep.mobileconfig" };
	struct sweep_arg sa = { { "a/scep.mobileconfig",
	    "c.scep.mobileconfig", NULL, NULL }, 0 };
	char root[256], tmp[64], final[PF_PATH_MAX + 16];
	struct pf_outdir *od;
	mode_t m;
	size_t i;

	T_REQUIRE((od = scratch(root, sizeof(root))) != NULL);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		T_OK(pf_outdir_write_tmp(od, "x", 1, tmp, sizeof(tmp)));
		T_OK(pf_outdir_commit(od, tmp, files[i], final,
		    sizeof(final)));
	}
	T_OK(pf_outdir_write_tmp(od, "x", 1, tmp, sizeof(tmp)));
	T_OK(pf_outdir_sweep(od, keep_some, &sa));
	T_CHECK(sa.asked == 5);
	T_CHECK(mode_of(root, "r1/a/scep.mobileconfig", &m) == 0);
	T_CHECK(mode_of(root, "r1/c.scep.mobileconfig", &m) == 0);
	T_CHECK(mode_of(root, "r1/a/wifi.mobileconfig", &m) == -1);
	T_CHECK(mode_of(root, "r1/b/scep.mobileconfig", &m) == -1);
	T_CHECK(mode_of(root, "r1/b", &m) == -1);	/* emptied: gone */
	T_CHECK(mode_of(root, "r1/d.scep.mobileconfig", &m) == -1);
	snprintf(final, sizeof(final), "r1/%s", tmp);
	T_CHECK(mode_of(root, final, &m) == -1);
	pf_outdir_close(od);
	t_rm_rf(root);
}

int
main(void)
{
	T_RUN(test_reserved_names);
	T_RUN(test_hostile_keys);
	T_RUN(test_formula_keys);
	T_RUN(test_case_apart);
	T_RUN(test_template_apart);
	T_RUN(test_invisible);
	T_RUN(test_long_key);
	T_RUN(test_by_user_paths);
	T_RUN(test_by_user_long);
	T_RUN(test_layout_parse);
	T_RUN(test_collisions_in_folder);
	T_RUN(test_planted_symlink);
	T_RUN(test_sweep);
	T_DONE();
}
