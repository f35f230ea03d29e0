/*
 * template_impl: the compiled form of a loaded template.  Private to
 * template.c, which builds it, and profile.c, which fills it; no other
 * module includes this header.
 *
 * pf_template_load() parses the XML with libplist and mirrors the tree in
 * pf_tnode nodes.  Every string is split once into segments (literal text,
 * a column, the challenge, a UUID label, ...), so filling a profile never
 * parses a placeholder again.  A node whose subtree holds no placeholder
 * is copied as a whole with plist_copy().
 */
#ifndef PF_TEMPLATE_IMPL_H
#define PF_TEMPLATE_IMPL_H

#include <stddef.h>

#include <plist/plist.h>

enum pf_seg_kind {
	PF_SEG_LIT,		/* literal text */
	PF_SEG_COL,		/* {{COLUMN}} */
	PF_SEG_CHALLENGE,	/* {{challenge}} */
	PF_SEG_UUID,		/* {{uuid:LABEL}}, or a literal PayloadUUID */
	PF_SEG_USER,		/* {{user}} */
	PF_SEG_TEMPLATE,	/* {{template}} */
	PF_SEG_RUN,		/* {{run}} */
};

struct pf_seg {
	enum pf_seg_kind kind;
	const char *lit;	/* PF_SEG_LIT: into the source string */
	size_t len;		/* PF_SEG_LIT: byte length */
	size_t idx;		/* PF_SEG_COL: column; PF_SEG_UUID: label */
};

enum pf_tn_kind {
	PF_TN_DICT,
	PF_TN_ARRAY,
	PF_TN_STR,		/* a string, literal or with segments */
	PF_TN_INT,		/* "{{int:COLUMN}}" */
	PF_TN_BOOL,		/* "{{bool:COLUMN}}" */
	PF_TN_SCALAR,		/* any other leaf, copied as is */
};

enum pf_bind_kind {
	PF_BIND_NONE,
	PF_BIND_SUBJECT,	/* value of a SCEP Subject pair */
	PF_BIND_SAN,		/* value of a SCEP SubjectAltName key */
};

struct pf_tnode {
	enum pf_tn_kind kind;
	plist_t src;		/* the template's node (owned by t->root) */
	int dynamic;		/* subtree holds a placeholder: fill, not copy */
	char **keys;		/* PF_TN_DICT: nkids keys, malloc'd */
	struct pf_tnode *kids;	/* DICT/ARRAY: malloc'd array of nkids */
	size_t nkids;
	struct pf_seg *segs;	/* PF_TN_STR with placeholders: malloc'd */
	size_t nsegs;		/* 0 for a literal string */
	size_t col;		/* PF_TN_INT, PF_TN_BOOL: column index */
	int challenge;		/* a segment is {{challenge}} */
	int challenge_ok;	/* ... and this is a SCEP Challenge */
	/* Allowed values checked at fill time for values that come from
	 * placeholders (static tables in template.c, or NULL). */
	const char *const *allowed_strs;	/* NULL-terminated */
	const long long *allowed_ints;
	size_t nallowed_ints;
	char *path;		/* key path for fill-time messages, malloc'd,
				 * or NULL */
	enum pf_bind_kind bind;
	const char *bind_name;	/* "CN", "rfc822Name": owned by the template */
	size_t payload_id;	/* 1 + i for the PayloadIdentifier of
				 * PayloadContent[i], else 0 */
};

/* A piece of the compiled XML (pf_profile_compile): literal text, then
 * the value of a node, unless it is the last piece. */
struct pf_skel {
	size_t off, len;	/* into skel_xml */
	const struct pf_tnode *hole;	/* or NULL */
};

struct pf_template {
	plist_t root;		/* parsed template, owned */
	struct pf_tnode tree;	/* compiled mirror of root */
	char **columns;		/* referenced columns, first use order,
				 * malloc'd */
	size_t ncolumns;
	char **labels;		/* UUID labels, malloc'd */
	size_t nlabels;
	int has_challenge;
	size_t nsecret;		/* string nodes holding {{challenge}} */
	size_t nbind;		/* nodes with placeholders and bind !=
				 * PF_BIND_NONE: filled per user */
	const struct pf_tnode **fixed;	/* literal values bound as well (their
				 * attribute type also takes user data),
				 * malloc'd */
	size_t nfixed;
	/* Payloads' PayloadIdentifier nodes when placeholders could make two
	 * of them equal (checked once filled), else NULL; npayloads. */
	const struct pf_tnode **pids;
	const char *identifier;	/* top-level PayloadIdentifier (in root) */
	const char *display_name; /* or NULL (in root) */
	const char **ptypes;	/* PayloadType of each payload (in root),
				 * malloc'd array */
	size_t npayloads;
	char *skel_xml;		/* compiled XML, malloc'd (profile.c) */
	size_t skel_len;
	struct pf_skel *skel;	/* malloc'd, nskel pieces */
	size_t nskel;
	const struct pf_tnode *id_node;	/* top-level PayloadIdentifier */
	const struct pf_tnode *uuid_node; /* top-level PayloadUUID */
};

/* Compile t's XML into pieces and holes (profile.c). */
struct pf_error *pf_profile_compile(struct pf_template *t);

#endif
