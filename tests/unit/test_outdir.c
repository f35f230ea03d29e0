/*
 * outdir: safe file names made from hostile keys.
 */
#include <string.h>

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

/* The name a changed key gets: PREFIX, "-", 8 hex digits of the key's
 * SHA-256, ".TMPL.mobileconfig". */
static const char *
want(const char *prefix, const char *key, const char *tmpl)
{
	static char buf[PF_NAME_MAX + 1];
	char hex[PF_SHA256_HEX];

	pf_sha256_hex(key, strlen(key), hex);
	snprintf(buf, sizeof(buf), "%s-%.8s.%s.mobileconfig", prefix, hex,
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
	T_CHECK(strncmp(s + 119, "-", 1) == 0);
}

int
main(void)
{
	T_RUN(test_reserved_names);
	T_RUN(test_hostile_keys);
	T_RUN(test_formula_keys);
	T_RUN(test_case_apart);
	T_RUN(test_long_key);
	T_DONE();
}
