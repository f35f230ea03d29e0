/*
 * manifest: manifest.csv, manifest.json and index.html of a run, written
 * row by row in CSV order to hidden temporary files and renamed into place
 * by pf_manifest_finish(), so a reader never sees half a manifest.
 * index.html is a plain HTML5 page (no script, nothing fetched, every
 * value escaped) with a row per manifest row, the profiles to hand out
 * linked by their relative paths, and the run summary.
 */
#ifndef PF_MANIFEST_H
#define PF_MANIFEST_H

#include <stdio.h>
#include <time.h>

#include "error.h"
#include "outdir.h"

struct pf_manifest;

struct pf_manifest_row {
	long line;			/* CSV line, 0 if none */
	const char *user;
	const char *template_name;
	long template_version;		/* 0 if unknown */
	const char *status;		/* issued | reissued | unchanged |
					 * revoked | failed */
	const char *file;		/* relative to the run directory */
	const char *sha256;		/* hex, or NULL */
	long long bytes;		/* -1 if none */
	const char *payload_identifier;
	long long challenge_id;		/* 0 if none */
	time_t challenge_expires;	/* 0 if none */
	const char *error;		/* NULL unless failed */
};

struct pf_manifest_summary {
	const char *run;		/* run name */
	const char *kind;		/* run | regenerate */
	time_t started, finished;
	long long duration_ms;
	const char *csv;
	const char *signer_subject;	/* NULL when unsigned */
	const char *signer_sha256;
	time_t signer_not_after;
	long long rows, issued, reissued, unchanged, revoked, failed;
};

/* Start the manifests and the page in od's run directory. */
struct pf_error *pf_manifest_open(struct pf_manifest **out,
    struct pf_outdir *od);
struct pf_error *pf_manifest_add(struct pf_manifest *m,
    const struct pf_manifest_row *row);
/* Write the summary, flush, sync and rename the three files into place. */
struct pf_error *pf_manifest_finish(struct pf_manifest *m,
    const struct pf_manifest_summary *sum);
/* Close and remove the temporary files (NULL-safe). */
void pf_manifest_abort(struct pf_manifest *m);

#endif
