/*
 * CHECK(cond): a check of a fuzz target's contract.  A false one aborts,
 * naming the file, line and condition, so that libFuzzer keeps the input
 * as a crash.
 */
#ifndef PF_FUZZ_CHECK_H
#define PF_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#endif
