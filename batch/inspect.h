/*
 * inspect: check a profile file the way a device does (CMS signature,
 * content digest, signer validity, chain to a trusted root) and describe
 * what it holds: signer, top-level keys, payloads, the UUID references
 * between payloads, SCEP settings.  A SCEP Challenge is never reported,
 * only whether it is set and how long it is.
 */
#ifndef PF_INSPECT_H
#define PF_INSPECT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "util.h"

#define PF_INSPECT_MAX_BYTES	(16 * 1024 * 1024)	/* profile file */
#define PF_INSPECT_CA_MAX_BYTES	(16 * 1024 * 1024)	/* --ca file */

/* What the checks concluded. */
enum pf_verdict_kind {
	PF_VERDICT_VERIFIED,	/* signature valid, chain reaches a root */
	PF_VERDICT_SIGNATURE,	/* signature valid, chain not checked */
	PF_VERDICT_FAILED,	/* a check failed: see the problems */
	PF_VERDICT_UNSIGNED,	/* a bare plist */
};

struct pf_inspect_opts {
	const char *label;	/* the file name, for messages and output */
	const char *ca_label;	/* the --ca file name, or NULL for none */
	const char *ca_pem;	/* its bytes (PEM, one or more
				 * certificates); NULL for none */
	size_t ca_len;
	time_t now;		/* time to check certificates against */
};

struct pf_inspection;

/*
 * Inspect data[0..len), a signed profile (DER CMS SignedData with the
 * plist embedded) or a bare XML plist.  The data are only read; they hold
 * the challenge, so the caller wipes them.
 *
 * With ca_pem, the self-signed certificates in it are the trusted roots
 * (a device trusts roots; intermediates must travel in the profile, so
 * other certificates in the file are not used) and each signer's chain
 * must reach one of them.  Without it the signature is checked with the
 * signer certificate the profile carries and the chain is not checked.
 *
 * Failed checks are not errors: they are in the inspection (verdict and
 * problems).  Errors: PF_EX_DATAERR when data is neither a DER CMS
 * SignedData with embedded content nor an XML plist; PF_EX_CONFIG when
 * ca_pem holds no certificate or no root; PF_EX_SOFTWARE otherwise.  On
 * success *out is owned by the caller (pf_inspection_free).
 */
struct pf_error *pf_inspect(struct pf_inspection **out, const uint8_t *data,
    size_t len, const struct pf_inspect_opts *o);
/* Wipes what the inspection held of the profile; NULL-safe. */
void pf_inspection_free(struct pf_inspection *in);

enum pf_verdict_kind pf_inspection_verdict(const struct pf_inspection *in);
/* Why the verdict is FAILED, one reason each; owned by in. */
size_t pf_inspection_nproblems(const struct pf_inspection *in);
const char *pf_inspection_problem(const struct pf_inspection *in, size_t i);
/* Why a signed file's content is not a usable profile ("not a plist:
 * ..."), or NULL; the facts about the signature still hold.  Owned by in. */
const char *pf_inspection_content_error(const struct pf_inspection *in);

/*
 * The report, appended to b: a text one for people (one "label: value"
 * line per fact, strings with control characters escaped, ending with a
 * "verdict:" line), or one JSON object with the same facts and a final
 * newline.  Errors: out of memory.
 */
struct pf_error *pf_inspection_text(const struct pf_inspection *in,
    struct pf_buf *b);
struct pf_error *pf_inspection_json(const struct pf_inspection *in,
    struct pf_buf *b);

#endif
