/*
 * outdir: safe file names made from hostile keys.
 */
#include <string.h>

#include "outdir.h"
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

static void
test_reserved_names(void)
{
	/* A device name alone, not only with an extension. */
	T_CHECK(strcmp(safe("CON", "scep"), "_con.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("con", "scep"), "_con.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("nul", "wifi"), "_nul.wifi.mobileconfig") == 0);
	T_CHECK(strcmp(safe("LPT9", "scep"), "_lpt9.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("con.txt", "scep"),
	    "_con.txt.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("COM\xc2\xb9", "scep"),
	    "_com\xc2\xb9.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("console", "scep"),
	    "console.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("com10", "scep"), "com10.scep.mobileconfig") == 0);
}

static void
test_hostile_keys(void)
{
	T_CHECK(strcmp(safe("../../etc/x", "scep"),
	    "_.._.._etc_x.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("/etc/passwd", "scep"),
	    "_etc_passwd.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe(".", "scep"), "_.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("..", "scep"), "_._.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe(".hidden", "scep"),
	    "_.hidden.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("", "scep"), "_.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("a/b\\c", "scep"), "a_b_c.scep.mobileconfig") ==
	    0);
	T_CHECK(strcmp(safe("-rf", "scep"), "_-rf.scep.mobileconfig") == 0);
}

/* manifest.csv neutralises a cell starting with = + - @; a file name must
 * not start with one, or the file column no longer names the file. */
static void
test_formula_keys(void)
{
	T_CHECK(strcmp(safe("+1", "scep"), "_+1.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("@SUM(1)", "scep"),
	    "_@sum_1_.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("-1", "scep"), "_-1.scep.mobileconfig") == 0);
	T_CHECK(strcmp(safe("=cmd|' /C calc'!A0", "scep"),
	    "_cmd____c_calc__a0.scep.mobileconfig") == 0);
}

static void
test_long_key(void)
{
	static char key[10001];
	const char *s;

	memset(key, 'k', sizeof(key) - 1);
	s = safe(key, "scep");
	T_CHECK(strlen(s) <= PF_NAME_MAX);
	T_CHECK(strlen(s) == 120 + strlen(".scep.mobileconfig"));
	/* a multi-byte character is kept whole or not at all */
	memset(key, 'k', 119);
	memcpy(key + 119, "\xc3\xa9\xc3\xa9", 5);
	s = safe(key, "scep");
	T_CHECK(strncmp(s + 119, ".scep", 5) == 0);
}

int
main(void)
{
	T_RUN(test_reserved_names);
	T_RUN(test_hostile_keys);
	T_RUN(test_formula_keys);
	T_RUN(test_long_key);
	T_DONE();
}
