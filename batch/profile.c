/*
 * profile: fill a compiled template (template_impl.h) for one user.
 *
 * When a template is loaded, pf_profile_compile() has libplist write it
 * out once with a marker in place of every value that varies (a string
 * with placeholders, an {{int:}} or {{bool:}} node), and cuts that XML
 * into literal pieces and holes.  Filling a profile is then copying the
 * pieces and writing each hole's value: a string escaped as libplist
 * escapes it (&, <, >; and CR as &#13;, which XML parsers would otherwise
 * turn into LF), an integer or a boolean element.  User values are always
 * data, never markup.
 *
 * pf_profile_build_tree() is the slow reference: it builds a libplist
 * tree per profile (subtrees without placeholders copied, strings
 * concatenated from their segments) and serialises it; tests check that
 * both give the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <plist/plist.h>

#include "error.h"
#include "profile.h"
#include "template.h"
#include "template_impl.h"
#include "util.h"

#define UUID_LEN	36

struct fill {
	const struct pf_template *t;
	const struct pf_profile_vars *v;
	const char **colval;	/* value of each template column (in v) */
	char *uuids;		/* nlabels UUIDs, UUID_LEN + 1 each */
	struct pf_buf scratch;	/* string being assembled; may hold the
				 * challenge, wiped at the end */
	plist_t *secret;	/* nodes holding the challenge (in the tree) */
	size_t nsecret;
	struct pf_binding *bind;	/* p->bindings being filled */
	size_t nbind;
	int has_cr;		/* a filled value holds a CR */
	char **ids;		/* filled PayloadIdentifiers (t->pids) */
};

/*
 * Why s cannot go into an XML plist, or NULL: XML 1.0 has no way to write
 * most C0 control characters, U+FFFE or U+FFFF.  Sets *cr if s holds a CR.
 */
static const char *
value_problem(const char *s, int *cr)
{
	const unsigned char *p;
	size_t n = strlen(s);

	if (!pf_utf8_valid(s, n))
		return "invalid UTF-8";
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 && *p != '\t' && *p != '\n') {
			if (*p != '\r')
				return "control character";
			*cr = 1;
		}
		if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
			return "U+FFFE or U+FFFF";
	}
	return NULL;
}

/*
 * Bytes of s to quote in a message, at most max, never cutting a UTF-8
 * sequence: a message goes into the manifest, which must stay UTF-8.
 */
static int
show_len(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n <= max)
		return (int)n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

static struct pf_error *
map_columns(struct fill *f)
{
	const struct pf_template *t = f->t;
	const struct pf_profile_vars *v = f->v;
	const char *why;
	size_t i, j;

	for (i = 0; i < t->ncolumns; i++) {
		for (j = 0; j < v->ncols; j++)
			if (strcmp(v->names[j], t->columns[i]) == 0)
				break;
		if (j == v->ncols)
			return pf_error_fmt(PF_EX_DATAERR,
			    "column \"%s\" not in the CSV", t->columns[i]);
		if (v->values[j] == NULL)
			return pf_error_fmt(PF_EX_SOFTWARE,
			    "column \"%s\": no value", t->columns[i]);
		if ((why = value_problem(v->values[j], &f->has_cr)) != NULL)
			return pf_error_fmt(PF_EX_DATAERR, "column \"%s\": %s",
			    t->columns[i], why);
		f->colval[i] = v->values[j];
	}
	return NULL;
}

/* A fresh RFC 4122 version 4 UUID for every label, uppercase. */
static struct pf_error *
make_uuids(struct fill *f)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char *raw;
	size_t i, k;
	char *u;

	if (f->t->nlabels == 0)
		return NULL;
	/* one call: the RNG's per-call overhead dominates for 16 bytes */
	if ((raw = malloc(16 * f->t->nlabels)) == NULL)
		return pf_error_nomem();
	if (!pf_random(raw, 16 * f->t->nlabels)) {
		free(raw);
		return pf_error_ssl(PF_EX_SOFTWARE, "RAND_bytes");
	}
	for (i = 0; i < f->t->nlabels; i++, raw += 16) {
		raw[6] = (raw[6] & 0x0f) | 0x40;
		raw[8] = (raw[8] & 0x3f) | 0x80;
		u = f->uuids + i * (UUID_LEN + 1);
		for (k = 0; k < 16; k++) {
			if (k == 4 || k == 6 || k == 8 || k == 10)
				*u++ = '-';
			*u++ = hex[raw[k] >> 4];
			*u++ = hex[raw[k] & 0xf];
		}
		*u = '\0';
	}
	free(raw - 16 * f->t->nlabels);
	return NULL;
}

static const char *
special(const struct fill *f, enum pf_seg_kind kind, const char **what)
{
	switch (kind) {
	case PF_SEG_CHALLENGE:
		*what = "challenge";
		return f->v->challenge;
	case PF_SEG_USER:
		*what = "user";
		return f->v->user;
	case PF_SEG_TEMPLATE:
		*what = "template";
		return f->v->template_name;
	default:
		*what = "run";
		return f->v->run;
	}
}

/* Record that the request must carry value as the node n's Subject or
 * SubjectAltName entry. */
static struct pf_error *
add_binding(struct fill *f, const struct pf_tnode *n, const char *value)
{
	struct pf_binding *b = &f->bind[f->nbind];

	b->kind = strdup(n->bind == PF_BIND_SUBJECT ? "subject" : "san");
	b->name = strdup(n->bind_name);
	b->value = strdup(value);
	f->nbind++;
	if (b->kind == NULL || b->name == NULL || b->value == NULL)
		return pf_error_nomem();
	return NULL;
}

/* The value of a string with placeholders into f->scratch (*out points
 * at it), checked against its allowed values; records its binding. */
static struct pf_error *
string_value(struct fill *f, const struct pf_tnode *n, const char **out)
{
	struct pf_error *err;
	const struct pf_seg *sg;
	const char *s, *what;
	size_t i;

	pf_buf_reset(&f->scratch);
	for (i = 0; i < n->nsegs; i++) {
		sg = &n->segs[i];
		switch (sg->kind) {
		case PF_SEG_LIT:
			err = pf_buf_add(&f->scratch, sg->lit, sg->len);
			break;
		case PF_SEG_COL:
			err = pf_buf_addstr(&f->scratch, f->colval[sg->idx]);
			break;
		case PF_SEG_UUID:
			err = pf_buf_add(&f->scratch,
			    f->uuids + sg->idx * (UUID_LEN + 1), UUID_LEN);
			break;
		default:
			if ((s = special(f, sg->kind, &what)) == NULL)
				return pf_error_fmt(PF_EX_SOFTWARE,
				    "{{%s}} used but no %s given", what, what);
			err = pf_buf_addstr(&f->scratch, s);
			break;
		}
		if (err != NULL)
			return err;
	}
	s = f->scratch.data != NULL ? f->scratch.data : "";
	if (n->allowed_strs != NULL) {
		for (i = 0; n->allowed_strs[i] != NULL; i++)
			if (strcmp(n->allowed_strs[i], s) == 0)
				break;
		if (n->allowed_strs[i] == NULL)
			return pf_error_fmt(PF_EX_DATAERR, "%s: \"%.*s\" is "
			    "not an allowed value", n->path, show_len(s, 60), s);
	}
	*out = s;
	if (f->ids != NULL && n->payload_id > 0) {
		free(f->ids[n->payload_id - 1]);
		if ((f->ids[n->payload_id - 1] = strdup(s)) == NULL)
			return pf_error_nomem();
	}
	return n->bind != PF_BIND_NONE ? add_binding(f, n, s) : NULL;
}

/* The payloads' PayloadIdentifiers, once filled, must still differ. */
static struct pf_error *
check_ids(const struct fill *f)
{
	const struct pf_template *t = f->t;
	const char *a, *b;
	size_t i, j;

	for (i = 0; i < t->npayloads; i++) {
		if ((a = f->ids[i]) == NULL && t->pids[i] != NULL)
			a = plist_get_string_ptr(t->pids[i]->src, NULL);
		for (j = 0; a != NULL && j < i; j++) {
			if ((b = f->ids[j]) == NULL && t->pids[j] != NULL)
				b = plist_get_string_ptr(t->pids[j]->src,
				    NULL);
			if (b != NULL && strcmp(a, b) == 0)
				return pf_error_fmt(PF_EX_DATAERR,
				    "PayloadContent[%zu].PayloadIdentifier: "
				    "\"%.*s\" is also the PayloadIdentifier of "
				    "PayloadContent[%zu]", i, show_len(a, 80),
				    a, j);
		}
	}
	return NULL;
}

static struct pf_error *
fill_string(struct fill *f, const struct pf_tnode *n, plist_t *out)
{
	struct pf_error *err;
	const char *s;

	if ((err = string_value(f, n, &s)) != NULL)
		return err;
	if ((*out = plist_new_string(s)) == NULL)
		return pf_error_nomem();
	if (n->challenge)
		f->secret[f->nsecret++] = *out;
	return NULL;
}

static struct pf_error *
int_value(struct fill *f, const struct pf_tnode *n, long long *out)
{
	const char *col = f->t->columns[n->col], *s = f->colval[n->col];
	const char *p = s;
	unsigned long long mag = 0, lim;
	long long v;
	size_t i;
	int neg = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	lim = neg ? (unsigned long long)INT64_MAX + 1 : INT64_MAX;
	if (*p == '\0')
		goto bad;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' ||
		    mag > (lim - (unsigned long long)(*p - '0')) / 10)
			goto bad;
		mag = mag * 10 + (unsigned long long)(*p - '0');
	}
	v = neg ? (long long)(0 - mag) : (long long)mag;
	if (n->nallowed_ints > 0) {
		for (i = 0; i < n->nallowed_ints; i++)
			if (n->allowed_ints[i] == v)
				break;
		if (i == n->nallowed_ints)
			return pf_error_fmt(PF_EX_DATAERR, "column \"%s\": %lld "
			    "is not an allowed value for %s", col, v, n->path);
	}
	*out = v;
	return NULL;
bad:
	return pf_error_fmt(PF_EX_DATAERR, "column \"%s\": \"%.*s\" is not "
	    "an integer", col, show_len(s, 40), s);
}

static struct pf_error *
fill_int(struct fill *f, const struct pf_tnode *n, plist_t *out)
{
	struct pf_error *err;
	long long v;

	if ((err = int_value(f, n, &v)) != NULL)
		return err;
	/* libplist 2.2 has no signed node; it writes a negative value
	 * stored this way as a negative number */
	if ((*out = plist_new_uint((uint64_t)v)) == NULL)
		return pf_error_nomem();
	return NULL;
}

static struct pf_error *
bool_value(struct fill *f, const struct pf_tnode *n, int *out)
{
	static const char *const yes[] = { "true", "yes", "1" };
	static const char *const no[] = { "false", "no", "0" };
	const char *s = f->colval[n->col];
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			*out = 1;
		else if (strcasecmp(s, no[i]) == 0)
			*out = 0;
		else
			continue;
		return NULL;
	}
	return pf_error_fmt(PF_EX_DATAERR, "column \"%s\": \"%.*s\" is not "
	    "a boolean (true/false, yes/no, 1/0)", f->t->columns[n->col],
	    show_len(s, 40), s);
}

static struct pf_error *
fill_bool(struct fill *f, const struct pf_tnode *n, plist_t *out)
{
	struct pf_error *err;
	int b;

	if ((err = bool_value(f, n, &b)) != NULL)
		return err;
	if ((*out = plist_new_bool(b)) == NULL)
		return pf_error_nomem();
	return NULL;
}

/*
 * A libplist tree for the compiled node n: subtrees without placeholders
 * copied, dictionaries and arrays rebuilt, each varying leaf (a string
 * with placeholders, {{int:}}, {{bool:}}) made by leaf().
 */
static struct pf_error *
build_tree(const struct pf_tnode *n, plist_t *out,
    struct pf_error *(*leaf)(void *, const struct pf_tnode *, plist_t *),
    void *arg)
{
	struct pf_error *err = NULL;
	plist_t c, kid;
	size_t i;

	*out = NULL;
	if (!n->dynamic || n->kind == PF_TN_SCALAR)
		return (*out = plist_copy(n->src)) ? NULL : pf_error_nomem();
	if (n->kind != PF_TN_DICT && n->kind != PF_TN_ARRAY)
		return leaf(arg, n, out);
	c = n->kind == PF_TN_DICT ? plist_new_dict() : plist_new_array();
	if (c == NULL)
		return pf_error_nomem();
	for (i = 0; i < n->nkids; i++) {
		if ((err = build_tree(&n->kids[i], &kid, leaf, arg)) != NULL)
			break;
		if (n->kind == PF_TN_DICT)
			plist_dict_set_item(c, n->keys[i], kid);
		else
			plist_array_append_item(c, kid);
	}
	if (err != NULL) {
		plist_free(c);
		return err;
	}
	*out = c;
	return NULL;
}

/* A varying leaf, filled for the user. */
static struct pf_error *
fill_leaf(void *arg, const struct pf_tnode *n, plist_t *out)
{
	struct fill *f = arg;

	switch (n->kind) {
	case PF_TN_INT:
		return fill_int(f, n, out);
	case PF_TN_BOOL:
		return fill_bool(f, n, out);
	default:
		return fill_string(f, n, out);
	}
}

/* Copy of the string value of root[key], or NULL. */
static char *
dup_string(plist_t root, const char *key)
{
	plist_t n = plist_dict_get_item(root, key);
	const char *s;

	if (n == NULL || plist_get_node_type(n) != PLIST_STRING ||
	    (s = plist_get_string_ptr(n, NULL)) == NULL)
		return NULL;
	return pf_strdup(s);
}

/*
 * XML parsers turn a raw CR into LF; write CRs from user data as "&#13;"
 * so they come out as sent.  Replaces *xml (wiping the old copy).
 */
static struct pf_error *
escape_cr(char **xml, size_t *len)
{
	size_t i, n = 0, k = 0;
	char *out;

	for (i = 0; i < *len; i++)
		n += (*xml)[i] == '\r';
	if (n == 0)
		return NULL;
	if ((out = malloc(*len + 4 * n + 1)) == NULL)
		return pf_error_nomem();
	for (i = 0; i < *len; i++) {
		if ((*xml)[i] == '\r') {
			memcpy(out + k, "&#13;", 5);
			k += 5;
		} else
			out[k++] = (*xml)[i];
	}
	out[k] = '\0';
	OPENSSL_cleanse(*xml, *len);
	free(*xml);
	*xml = out;
	*len = k;
	return NULL;
}

/* What both ways of filling need first: column values checked, UUIDs
 * made, room for the bindings. */
static struct pf_error *
fill_begin(struct fill *f, const struct pf_template *t,
    const struct pf_profile_vars *v, struct pf_profile *p)
{
	struct pf_error *err;
	const char *why, *extra[3];
	size_t i;

	memset(p, 0, sizeof(*p));
	memset(f, 0, sizeof(*f));
	f->scratch.secret = 1;
	f->t = t;
	f->v = v;
	f->colval = calloc(t->ncolumns + 1, sizeof(*f->colval));
	f->uuids = malloc(t->nlabels * (UUID_LEN + 1) + 1);
	f->secret = calloc(t->nsecret + 1, sizeof(*f->secret));
	if (f->colval == NULL || f->uuids == NULL || f->secret == NULL)
		return pf_error_nomem();
	if (t->nbind + t->nfixed > 0 && (p->bindings = calloc(t->nbind +
	    t->nfixed, sizeof(*p->bindings))) == NULL)
		return pf_error_nomem();
	f->bind = p->bindings;
	if (t->pids != NULL &&
	    (f->ids = calloc(t->npayloads, sizeof(*f->ids))) == NULL)
		return pf_error_nomem();
	for (i = 0; i < t->nfixed; i++) {
		const char *lit = plist_get_string_ptr(t->fixed[i]->src, NULL);

		if ((err = add_binding(f, t->fixed[i], lit ? lit : "")) !=
		    NULL)
			return err;
	}
	if ((err = map_columns(f)) != NULL)
		return err;
	extra[0] = v->user;
	extra[1] = v->template_name;
	extra[2] = v->run;
	for (i = 0; i < 3; i++) {
		if (extra[i] != NULL &&
		    (why = value_problem(extra[i], &f->has_cr)) != NULL)
			return pf_error_fmt(PF_EX_DATAERR, "%s: %s",
			    i == 0 ? "user" : i == 1 ? "template" : "run", why);
	}
	return make_uuids(f);
}

static struct pf_error *
fill_end(struct fill *f, struct pf_profile *p, struct pf_error *err)
{
	size_t i;

	/* the tree's copies of the challenge; libplist hands out a const
	 * pointer to its own string memory, wiped here before it is freed */
	for (i = 0; i < f->nsecret; i++) {
		uint64_t n = 0;
		const char *s = plist_get_string_ptr(f->secret[i], &n);

		if (s != NULL)
			OPENSSL_cleanse((void *)(uintptr_t)s, (size_t)n);
	}
	if (err == NULL && f->ids != NULL)
		err = check_ids(f);
	for (i = 0; f->ids != NULL && i < f->t->npayloads; i++)
		free(f->ids[i]);
	free(f->ids);
	pf_buf_wipe(&f->scratch);
	free(f->colval);
	free(f->uuids);
	free(f->secret);
	p->nbindings = f->nbind;
	if (err != NULL)
		pf_profile_clear(p);
	return err;
}

/* libplist's XML of root, with CRs as character references. */
static struct pf_error *
serialise(plist_t root, char **xml, size_t *len)
{
	uint32_t xlen = 0;

	*xml = NULL;
	*len = 0;
	plist_to_xml(root, xml, &xlen);
	if (*xml == NULL)
		return pf_error_nomem();
	*len = xlen;
	return escape_cr(xml, len);
}

/* A row whose values make the profile larger than PF_PROFILE_XML_MAX. */
static struct pf_error *
too_large(void)
{
	return pf_error_fmt(PF_EX_DATAERR, "the filled profile would be "
	    "larger than %d bytes (what inspect and mail take, signed)",
	    PF_PROFILE_XML_MAX);
}

struct pf_error *
pf_profile_build_tree(const struct pf_template *t,
    const struct pf_profile_vars *v, struct pf_profile *p)
{
	struct pf_error *err;
	struct fill f;
	plist_t root = NULL;
	char *xml = NULL;
	size_t len = 0;

	if ((err = fill_begin(&f, t, v, p)) != NULL ||
	    (err = build_tree(&t->tree, &root, fill_leaf, &f)) != NULL)
		goto done;
	if ((err = serialise(root, &xml, &len)) != NULL)
		goto done;
	if (len > PF_PROFILE_XML_MAX) {
		err = too_large();
		goto done;
	}
	p->identifier = dup_string(root, "PayloadIdentifier");
	p->uuid = dup_string(root, "PayloadUUID");
	if (p->identifier == NULL || p->uuid == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	p->xml = xml;
	p->len = len;
	xml = NULL;
done:
	err = fill_end(&f, p, err);
	if (root != NULL)
		plist_free(root);
	if (xml != NULL) {
		OPENSSL_cleanse(xml, len);
		free(xml);
	}
	return err;
}

/* Append s as the text of an XML element, escaped as libplist escapes
 * it, with CR as a character reference. */
static struct pf_error *
add_escaped(struct pf_buf *b, const char *s)
{
	struct pf_error *err;
	const char *run = s, *rep;

	for (;; s++) {
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '\r':
			rep = "&#13;";
			break;
		case '\0':
			return pf_buf_add(b, run, (size_t)(s - run));
		default:
			continue;
		}
		if ((err = pf_buf_add(b, run, (size_t)(s - run))) != NULL ||
		    (err = pf_buf_addstr(b, rep)) != NULL)
			return err;
		run = s + 1;
	}
}

/* One hole of the compiled XML. */
static struct pf_error *
fill_hole(struct fill *f, const struct pf_tnode *n, struct pf_buf *out,
    struct pf_profile *p)
{
	struct pf_error *err;
	const char *s;
	long long iv;
	int bv;

	switch (n->kind) {
	case PF_TN_INT:
		if ((err = int_value(f, n, &iv)) != NULL)
			return err;
		return pf_buf_printf(out, "<integer>%lld</integer>", iv);
	case PF_TN_BOOL:
		if ((err = bool_value(f, n, &bv)) != NULL)
			return err;
		return pf_buf_addstr(out, bv ? "<true/>" : "<false/>");
	default:
		if ((err = string_value(f, n, &s)) != NULL ||
		    (err = add_escaped(out, s)) != NULL)
			return err;
		if (n == f->t->id_node &&
		    (p->identifier = pf_strdup(s)) == NULL)
			return pf_error_nomem();
		if (n == f->t->uuid_node && (p->uuid = pf_strdup(s)) == NULL)
			return pf_error_nomem();
		return NULL;
	}
}

struct pf_error *
pf_profile_build(const struct pf_template *t, const struct pf_profile_vars *v,
    struct pf_profile *p)
{
	struct pf_error *err;
	struct pf_buf out = { .secret = 1 };
	struct fill f;
	size_t i;

	if (t->skel == NULL)
		return pf_profile_build_tree(t, v, p);
	if ((err = fill_begin(&f, t, v, p)) != NULL ||
	    (err = pf_buf_reserve(&out, t->skel_len + 512)) != NULL)
		goto done;
	for (i = 0; i < t->nskel; i++) {
		const struct pf_skel *k = &t->skel[i];

		if ((err = pf_buf_add(&out, t->skel_xml + k->off, k->len)) !=
		    NULL)
			goto done;
		if (k->hole != NULL &&
		    (err = fill_hole(&f, k->hole, &out, p)) != NULL)
			goto done;
		/* (a CSV record is at most 4 MiB: it goes over by one value
		 * at most) */
		if (out.len > PF_PROFILE_XML_MAX) {
			err = too_large();
			goto done;
		}
	}
	if ((p->identifier == NULL &&
	    (p->identifier = dup_string(t->root, "PayloadIdentifier")) ==
	    NULL) || (p->uuid == NULL &&
	    (p->uuid = dup_string(t->root, "PayloadUUID")) == NULL)) {
		err = pf_error_nomem();
		goto done;
	}
	p->xml = out.data;
	p->len = out.len;
	out.data = NULL;
done:
	pf_buf_wipe(&out);
	return fill_end(&f, p, err);
}

/*
 * The compiled XML.  Each varying node becomes a string holding a marker
 * ("PFHOLE" + a random nonce + its number) in a copy of the tree, which
 * libplist writes; the markers are then found in order, and the XML is
 * cut there.
 */
struct skel_build {
	struct pf_template *t;
	const struct pf_tnode **holes;
	size_t nholes, cap;
	char nonce[40];
};

/* A varying leaf becomes the next marker. */
static struct pf_error *
skel_leaf(void *arg, const struct pf_tnode *n, plist_t *out)
{
	struct skel_build *b = arg;
	char mark[64];

	if (b->nholes == b->cap) {
		const struct pf_tnode **h;
		size_t cap = b->cap ? 2 * b->cap : 16;

		if ((h = reallocarray(b->holes, cap, sizeof(*h))) == NULL)
			return pf_error_nomem();
		b->holes = h;
		b->cap = cap;
	}
	snprintf(mark, sizeof(mark), "PFHOLE%s%zu.", b->nonce, b->nholes);
	b->holes[b->nholes++] = n;
	return (*out = plist_new_string(mark)) ? NULL : pf_error_nomem();
}

static const struct pf_tnode *
top_node(const struct pf_template *t, const char *key)
{
	size_t i;

	for (i = 0; t->tree.kind == PF_TN_DICT && i < t->tree.nkids; i++)
		if (strcmp(t->tree.keys[i], key) == 0)
			return &t->tree.kids[i];
	return NULL;
}

struct pf_error *
pf_profile_compile(struct pf_template *t)
{
	struct pf_error *err = NULL;
	struct skel_build b;
	unsigned char rnd[8];
	plist_t copy = NULL;
	char *xml = NULL, mark[96];
	size_t len = 0, i, at = 0, k, n;
	const char *hit;

	memset(&b, 0, sizeof(b));
	b.t = t;
	if (!pf_random(rnd, sizeof(rnd)))
		return pf_error_ssl(PF_EX_SOFTWARE, "random");
	pf_hex(rnd, sizeof(rnd), b.nonce);
	if ((err = build_tree(&t->tree, &copy, skel_leaf, &b)) != NULL)
		goto done;
	if ((err = serialise(copy, &xml, &len)) != NULL)
		goto done;
	if ((t->skel = calloc(b.nholes + 1, sizeof(*t->skel))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	for (i = 0; i <= b.nholes; i++) {
		struct pf_skel *sk = &t->skel[i];

		if (i == b.nholes) {
			/* no stray marker may be left */
			snprintf(mark, sizeof(mark), "PFHOLE%s", b.nonce);
			if (memmem(xml + at, len - at, mark, strlen(mark)) !=
			    NULL)
				goto bad;
			sk->off = at;
			sk->len = len - at;
			break;
		}
		if (b.holes[i]->kind == PF_TN_STR)
			snprintf(mark, sizeof(mark), "PFHOLE%s%zu.", b.nonce,
			    i);
		else
			snprintf(mark, sizeof(mark), "<string>PFHOLE%s%zu."
			    "</string>", b.nonce, i);
		n = strlen(mark);
		if ((hit = memmem(xml + at, len - at, mark, n)) == NULL)
			goto bad;
		k = (size_t)(hit - xml);
		sk->off = at;
		sk->len = k - at;
		sk->hole = b.holes[i];
		at = k + n;
	}
	t->nskel = b.nholes + 1;
	t->skel_xml = xml;
	t->skel_len = len;
	xml = NULL;
	t->id_node = top_node(t, "PayloadIdentifier");
	t->uuid_node = top_node(t, "PayloadUUID");
	goto done;
bad:
	err = pf_error_fmt(PF_EX_SOFTWARE, "compiling the template: a "
	    "marker is missing or repeated");
done:
	if (err != NULL) {
		free(t->skel);
		t->skel = NULL;
	}
	if (copy != NULL)
		plist_free(copy);
	free(xml);
	free(b.holes);
	return err;
}

void
pf_profile_clear(struct pf_profile *p)
{
	size_t i;

	if (p == NULL)
		return;
	if (p->xml != NULL) {
		OPENSSL_cleanse(p->xml, p->len);
		free(p->xml);
	}
	free(p->identifier);
	free(p->uuid);
	for (i = 0; i < p->nbindings; i++) {
		free(p->bindings[i].kind);
		free(p->bindings[i].name);
		free(p->bindings[i].value);
	}
	free(p->bindings);
	memset(p, 0, sizeof(*p));
}
