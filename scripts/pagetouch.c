/*
 * pagetouch MIB — what a page of memory new to this process costs here.
 *
 * Maps MIB MiB of anonymous memory and writes one byte to each 4 KiB page,
 * then unmaps it, maps the same amount again at once and does the same.
 * Prints the wall-clock microseconds per page of each pass: the first is
 * memory the kernel had free (on a virtual machine that gives free memory
 * back to its host, a page the host must provide again); the second is
 * memory freed a moment ago.  A run needs new pages for every profile it
 * writes (its file's page cache, its inode and names), so the first
 * figure is part of what a profile costs.  Used by scripts/bench; not
 * part of profactory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE	4096

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Microseconds per page to touch size bytes of new memory. */
static double
touch(size_t size)
{
	volatile char *p;
	double t0, t1;
	size_t i;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "pagetouch: mmap: %s\n", strerror(errno));
		exit(1);
	}
	t0 = now();
	for (i = 0; i < size; i += PAGE)
		p[i] = 1;
	t1 = now();
	munmap((void *)p, size);
	return (t1 - t0) / (double)(size / PAGE) * 1e6;
}

int
main(int argc, char *argv[])
{
	double fresh, again;
	long mib;

	if (argc != 2 || (mib = strtol(argv[1], NULL, 10)) <= 0 ||
	    mib > 4096) {
		fprintf(stderr, "usage: pagetouch MIB\n");
		return 64;
	}
	fresh = touch((size_t)mib << 20);
	again = touch((size_t)mib << 20);
	printf("%.2f %.2f\n", fresh, again);
	return 0;
}
