/*
 * template: parse and validate a template (an XML plist profile whose
 * string values may hold placeholders) against the facts of Apple's
 * profile, SCEP, certificate, Wi-Fi and VPN payload schemas.  A loaded
 * template is immutable and may be shared by threads.
 *
 * Placeholders inside string values:
 *   {{COLUMN}}         the user's value in that CSV column
 *   {{challenge}}      this profile's one-time challenge
 *   {{uuid:LABEL}}     a fresh UUID per profile, equal for equal LABELs
 *   {{user}} {{template}} {{run}}
 *   {{int:COLUMN}} {{bool:COLUMN}}  (only as the whole string) an integer or
 *                      boolean from the column
 * Literal PayloadUUID values are treated as {{uuid:...}} labels, so every
 * profile gets fresh UUIDs and references to them (PayloadCertificateUUID)
 * stay wired.
 */
#ifndef PF_TEMPLATE_H
#define PF_TEMPLATE_H

#include <stddef.h>

#include "error.h"

#define PF_TEMPLATE_MAX_BYTES	(1024 * 1024)
#define PF_TEMPLATE_MAX_DEPTH	32

struct pf_template;

/*
 * Parse and validate xml[0..len).  label prefixes every message (a file
 * name, or "template wifi v3").  Errors are PF_EX_DATAERR and name the key
 * path, e.g. "wifi.plist: PayloadContent[1].PayloadContent.Keysize:
 * expected integer, found string".  With force, problems Apple devices
 * tolerate (a literal Challenge, Keysize 0) become warnings through warn;
 * without it they are errors.  Unknown keys are always only warnings.
 * Unknown {{...}} forms, broken plists, missing required keys and wrong
 * types are always errors.
 */
struct pf_error *pf_template_load(struct pf_template **out, const char *label,
    const char *xml, size_t len, int force, const struct pf_warn *warn);
void pf_template_free(struct pf_template *t);

/* CSV columns the template refers to ({{COL}}, {{int:COL}}, {{bool:COL}}),
 * each once, in order of first use; strings owned by t. */
size_t pf_template_ncolumns(const struct pf_template *t);
const char *pf_template_column(const struct pf_template *t, size_t i);

/* 1 if the template holds {{challenge}}. */
int pf_template_has_challenge(const struct pf_template *t);
/* Top-level PayloadIdentifier as written (placeholders unexpanded). */
const char *pf_template_identifier(const struct pf_template *t);
/* Top-level PayloadDisplayName as written, or NULL. */
const char *pf_template_display_name(const struct pf_template *t);
/* Number of payloads, and the PayloadType of payload i (owned by t). */
size_t pf_template_npayloads(const struct pf_template *t);
const char *pf_template_payload_type(const struct pf_template *t, size_t i);

/*
 * Check that xml[0..len) is a well-formed XML plist that libplist 2.2 may
 * be given: the grammar it is lax about, UTF-8, no control characters, no
 * DTD internal subset, nesting at most PF_TEMPLATE_MAX_DEPTH.  For plists
 * that are not templates (a profile to inspect).  Errors are
 * PF_EX_DATAERR, "LABEL: line N: ...".
 */
struct pf_error *pf_plist_prescan(const char *label, const char *xml,
    size_t len);

#endif
