/*
 * profile: fill a template for one user as an XML plist, in the form
 * libplist writes.  Values are inserted as data (escaped), never as
 * markup.
 */
#ifndef PF_PROFILE_H
#define PF_PROFILE_H

#include <stddef.h>

#include "error.h"
#include "template.h"

/* The largest filled profile: signed (with its certificates) it stays
 * within the 16 MiB that inspect and mail take. */
#define PF_PROFILE_XML_MAX	(15 * 1024 * 1024)

struct pf_profile_vars {
	const char *const *names;	/* CSV column names, header order */
	const char *const *values;	/* this user's values, same order */
	size_t ncols;
	const char *user;		/* key column value */
	const char *template_name;
	const char *run;		/* run id */
	const char *challenge;		/* NUL-terminated secret */
};

/* A SCEP Subject or SubjectAltName value that came from user data; the
 * certificate request must carry the same value. */
struct pf_binding {
	char *kind;		/* "subject" or "san" (malloc'd) */
	char *name;		/* "CN", "O", "2.5.4.3", "rfc822Name", ... */
	char *value;		/* the filled value */
};

struct pf_profile {
	char *xml;		/* malloc'd plist bytes, holds the challenge */
	size_t len;
	char *identifier;	/* top-level PayloadIdentifier, malloc'd */
	char *uuid;		/* top-level PayloadUUID, malloc'd */
	struct pf_binding *bindings;	/* malloc'd array, or NULL */
	size_t nbindings;
};

/*
 * Build the profile for one user.  Fresh UUIDs come from OpenSSL's RNG.
 * Errors are PF_EX_DATAERR for the user's data ("column \"age\": \"x\" is
 * not an integer", "column \"cn\" not in the CSV"), PF_EX_SOFTWARE
 * otherwise.  On error *p is left empty.
 */
struct pf_error *pf_profile_build(const struct pf_template *t,
    const struct pf_profile_vars *v, struct pf_profile *p);

/* The same, built as a libplist tree and serialised by libplist: slower,
 * the reference the tests hold pf_profile_build() to. */
struct pf_error *pf_profile_build_tree(const struct pf_template *t,
    const struct pf_profile_vars *v, struct pf_profile *p);

/* Wipe the XML (it holds the challenge) and free everything; NULL-safe. */
void pf_profile_clear(struct pf_profile *p);

#endif
