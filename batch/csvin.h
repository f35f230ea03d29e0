/*
 * csvin: a streaming RFC 4180 reader on libcsv.  Memory is bounded by the
 * longest record, never by the file.  Records carry the physical line on
 * which they start, for error messages ("users.csv:12: ...").
 */
#ifndef PF_CSVIN_H
#define PF_CSVIN_H

#include <stddef.h>

#include "error.h"

#define PF_CSV_MAX_FIELD	(64 * 1024)	/* longer: the row is bad */
#define PF_CSV_MAX_RECORD	(4 * 1024 * 1024) /* longer: fatal error */
#define PF_CSV_MAX_COLUMNS	1024		/* wider header: fatal */

struct pf_csv;

struct pf_csv_row {
	long line;		/* 1-based line on which the record starts */
	size_t nfields;		/* fields in this record (may differ from
				 * the header; then problem is set) */
	char **fields;		/* owned by the reader, NUL-terminated, valid
				 * until the next pf_csv_next() */
	size_t *lens;		/* byte length of each field */
	const char *problem;	/* NULL, or why the row cannot be used
				 * (static or reader-owned text, e.g.
				 * "column \"name\": invalid UTF-8"); a bad
				 * row is still returned so the caller can
				 * report and skip it */
};

/*
 * Open path and read its header row.  A UTF-8 BOM is skipped.  Errors:
 * PF_EX_NOINPUT (cannot open), PF_EX_DATAERR (empty file, empty or
 * duplicate column name, invalid UTF-8 in the header, too many columns),
 * each message starting with "path:line: ".
 */
struct pf_error *pf_csv_open(struct pf_csv **out, const char *path);

/*
 * Next record into *row (owned by the reader), or *row = NULL at the end.
 * Blank lines are skipped.  Row-level problems (field count differs from
 * the header, a NUL byte, invalid UTF-8, a control character other than
 * tab/CR/LF, a field longer than PF_CSV_MAX_FIELD) are reported through
 * row->problem.  Errors (record longer than PF_CSV_MAX_RECORD, a quote
 * left open at end of file, read error) end the file: PF_EX_DATAERR or
 * PF_EX_IOERR, message "path:line: ...".
 */
struct pf_error *pf_csv_next(struct pf_csv *r, struct pf_csv_row **row);

size_t pf_csv_ncols(const struct pf_csv *r);
/* Header name of column i (owned by the reader). */
const char *pf_csv_colname(const struct pf_csv *r, size_t i);
/* Index of the column called name, or -1. */
long pf_csv_colindex(const struct pf_csv *r, const char *name);
/* Names as an array of ncols pointers (owned by the reader). */
const char *const *pf_csv_colnames(const struct pf_csv *r);
const char *pf_csv_path(const struct pf_csv *r);

/* Rewind to the first record after the header (for a second pass). */
struct pf_error *pf_csv_rewind(struct pf_csv *r);

/* NULL-safe. */
void pf_csv_close(struct pf_csv *r);

#endif
