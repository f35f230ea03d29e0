/*
 * libFuzzer target for batch/template.c and batch/profile.c: the input
 * bytes are a template.
 *
 * pf_template_load() runs on the bytes with force 0 and with force 1.
 * Each template that loads is filled by pf_profile_build() for one user
 * with a fixed set of column values and a challenge, and the profile is
 * checked and cleared.  Columns the template names that are not in the
 * fixed set get values from a fixed list (integers, booleans, enum
 * values, a CR, markup, a control character), so that filling goes past
 * "column not in the CSV".
 *
 * Checked besides memory safety: force only ever turns errors into
 * warnings; the accessors of template.h keep their contracts; a profile
 * is an XML plist with the recorded PayloadIdentifier and carries the
 * challenge when the template asks for it; a failed build leaves
 * the profile empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <plist/plist.h>

#include "error.h"
#include "profile.h"
#include "template.h"

#include "check.h"

#define LABEL		"fuzz.plist"
#define CHALLENGE	"Ch4llenge-fuzz-0123456789"
#define MAX_COLS	64		/* fixed set + template columns */

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const fixed_names[] = {
	"email", "cn", "name", "upn", "dept", "age", "vip", "ssid",
};
static const char *const fixed_values[] = {
	"alice@example.com", "Alice Example", "Alice", "alice@corp.example",
	"R&D <lab> \"x\"", "42", "yes", "Corp WiFi",
};
/* For columns of the template outside the fixed set, in turn. */
static const char *const extra_values[] = {
	"1", "true", "WPA2", "2048", "x\ry", "-9223372036854775808",
	"a&b<c>]]>", "\xc3\xa9t\xc3\xa9", "", "no", "13", "\x01",
};

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

static void
on_warn(void *arg, const char *msg)
{
	(void)arg;
	CHECK(msg != NULL && strncmp(msg, LABEL ": ", strlen(LABEL) + 2) == 0);
}

/* The accessors of template.h. */
static void
check_template(const struct pf_template *t)
{
	size_t i, j, n;

	CHECK(pf_template_identifier(t) != NULL);
	n = pf_template_npayloads(t);
	CHECK(n >= 1);
	for (i = 0; i < n; i++)
		CHECK(pf_template_payload_type(t, i) != NULL);
	CHECK(pf_template_payload_type(t, n) == NULL);
	n = pf_template_ncolumns(t);
	for (i = 0; i < n; i++) {
		CHECK(pf_template_column(t, i) != NULL);
		for (j = 0; j < i; j++)
			CHECK(strcmp(pf_template_column(t, i),
			    pf_template_column(t, j)) != 0);
	}
	CHECK(pf_template_column(t, n) == NULL);
	(void)pf_template_display_name(t);
}

/* A built profile: an XML plist dict with the recorded identifier. */
static void
check_profile(const struct pf_template *t, const struct pf_profile *p)
{
	plist_t root = NULL, id;
	const char *s;
	size_t i;
	int has;

	CHECK(p->xml != NULL && p->len > 0);
	/* (PayloadUUID may come from a column: any string) */
	CHECK(p->identifier != NULL && p->uuid != NULL);
	/* (a template may also hold the text literally) */
	has = memmem(p->xml, p->len, CHALLENGE, strlen(CHALLENGE)) != NULL;
	CHECK(has || !pf_template_has_challenge(t));
	for (i = 0; i < p->nbindings; i++) {
		CHECK(p->bindings[i].kind != NULL);
		CHECK(strcmp(p->bindings[i].kind, "subject") == 0 ||
		    strcmp(p->bindings[i].kind, "san") == 0);
		CHECK(p->bindings[i].name != NULL);
		CHECK(p->bindings[i].value != NULL);
	}
	plist_from_xml(p->xml, (uint32_t)p->len, &root);
	CHECK(root != NULL);
	CHECK(plist_get_node_type(root) == PLIST_DICT);
	id = plist_dict_get_item(root, "PayloadIdentifier");
	CHECK(id != NULL && plist_get_node_type(id) == PLIST_STRING);
	s = plist_get_string_ptr(id, NULL);
	CHECK(s != NULL && strcmp(s, p->identifier) == 0);
	id = plist_dict_get_item(root, "PayloadUUID");
	CHECK(id != NULL && plist_get_node_type(id) == PLIST_STRING);
	s = plist_get_string_ptr(id, NULL);
	CHECK(s != NULL && strcmp(s, p->uuid) == 0);
	plist_free(root);
}

static void
build(const struct pf_template *t)
{
	const char *names[MAX_COLS], *values[MAX_COLS];
	struct pf_profile_vars v;
	struct pf_profile p, zero;
	struct pf_error *err;
	size_t i, j, n = 0, extra = 0;

	for (i = 0; i < nitems(fixed_names); i++) {
		names[n] = fixed_names[i];
		values[n++] = fixed_values[i];
	}
	for (i = 0; i < pf_template_ncolumns(t) && n < MAX_COLS; i++) {
		const char *c = pf_template_column(t, i);

		for (j = 0; j < nitems(fixed_names); j++)
			if (strcmp(c, fixed_names[j]) == 0)
				break;
		if (j < nitems(fixed_names))
			continue;
		names[n] = c;
		values[n++] = extra_values[extra++ % nitems(extra_values)];
	}
	memset(&v, 0, sizeof(v));
	v.names = names;
	v.values = values;
	v.ncols = n;
	v.user = "alice";
	v.template_name = "fuzz";
	v.run = "20260101T000000Z-1";
	v.challenge = CHALLENGE;

	memset(&zero, 0, sizeof(zero));
	memset(&p, 0xa5, sizeof(p));
	if ((err = pf_profile_build(t, &v, &p)) != NULL) {
		CHECK(err->code == PF_EX_DATAERR || err->code == PF_EX_SOFTWARE);
		CHECK(memcmp(&p, &zero, sizeof(p)) == 0);
		pf_error_free(err);
	} else
		check_profile(t, &p);
	pf_profile_clear(&p);
	CHECK(memcmp(&p, &zero, sizeof(p)) == 0);
}

/* Load with force; returns 1 if the template loaded. */
static int
load(const uint8_t *data, size_t size, int force)
{
	struct pf_warn w = { on_warn, NULL };
	struct pf_template *t = NULL;
	struct pf_error *err;

	if ((err = pf_template_load(&t, LABEL, (const char *)data, size,
	    force, &w)) != NULL) {
		CHECK(t == NULL);
		CHECK(err->code == PF_EX_DATAERR || err->code == PF_EX_SOFTWARE);
		if (err->code == PF_EX_DATAERR)
			CHECK(strncmp(err->msg, LABEL ": ",
			    strlen(LABEL) + 2) == 0);
		pf_error_free(err);
		return 0;
	}
	CHECK(t != NULL);
	check_template(t);
	build(t);
	pf_template_free(t);
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int strict, forced;

	strict = load(data, size, 0);
	forced = load(data, size, 1);
	/* force only ever turns errors into warnings */
	CHECK(!strict || forced);
	return 0;
}
