# profactory — build, test, demo, install.
#   make            build build/profactory
#   make test       install missing packages, build, run every test
#   make demo       install missing packages, build, run a batch on a demo PKI
#   make SANITIZE=address,undefined test   the same under ASan + UBSan
#   make fuzz FUZZ_SECONDS=60   libFuzzer targets (clang), each for a set time
#   make install PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
DESTDIR	?=
CC	?= cc
PKGS	= sqlite3 libplist-2.0 libcrypto

ifdef SANITIZE
BUILD	?= build/san
SANFLAGS = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD	?= build
SANFLAGS =
endif

WARN	= -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wvla \
	  -Wformat-security -Wshadow
ifeq ($(CI),true)
WARN	+= -Werror
endif
OPT	?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Ibatch -I$(BUILD)
CFLAGS	+= -std=c11 $(OPT) $(WARN) $(SANFLAGS) -pthread \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	+= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv -pthread
LDFLAGS	+= $(SANFLAGS)

SRCS	= $(filter-out batch/main.c,$(wildcard batch/*.c))
OBJS	= $(SRCS:batch/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/migrations.o
HDRS	= $(wildcard batch/*.h)
SQL	= $(sort $(wildcard sql/*.sql))
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNITS	= $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps demo test unit install clean bench fuzz

all: $(BUILD)/profactory $(UNITS)

deps:
	@scripts/install-deps

$(BUILD)/obj/%.o: batch/%.c $(HDRS) | $(BUILD)/obj
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/migrations.c: $(SQL) scripts/embed-sql | $(BUILD)
	scripts/embed-sql $(SQL) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/migrations.o: $(BUILD)/migrations.c | $(BUILD)/obj
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libpf.a: $(OBJS)
	rm -f $@ && ar rcs $@ $(OBJS)

$(BUILD)/profactory: $(BUILD)/obj/main.o $(BUILD)/libpf.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/t.h $(BUILD)/libpf.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< \
	    $(BUILD)/libpf.a $(LDLIBS)

$(BUILD) $(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

demo:
	@scripts/install-deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

test:
	@scripts/install-deps
	@$(MAKE) --no-print-directory all
	@PROFACTORY_BUILD=$(BUILD) tests/run

bench:
	@scripts/install-deps
	@$(MAKE) --no-print-directory all
	@scripts/bench

# make fuzz: libFuzzer targets (tests/fuzz/, clang only), each run for
# FUZZ_SECONDS on a copy of its seed corpus; fails if a target crashes.
# Built apart in build/fuzz/, never by "make" or "make test".
FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_DIR	= build/fuzz
FUZZ_TARGETS	= csv template csr inspect
FUZZ_BINS	= $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
# the modules the targets exercise, and what they call
FUZZ_MODS	= csvin template profile csr inspect sign util error
FUZZ_OBJS	= $(FUZZ_MODS:%=$(FUZZ_DIR)/obj/%.o)
FUZZ_CPPFLAGS	= -D_GNU_SOURCE -Ibatch
FUZZ_CFLAGS	= -std=c11 -g -O1 $(WARN) -fno-omit-frame-pointer \
		  -fsanitize=address,undefined -fno-sanitize-recover=all \
		  -pthread $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# fuzz_csv cuts the reader's read() calls short (see fuzz_csv.c)
$(FUZZ_DIR)/fuzz_csv: FUZZ_LDEXTRA = -Wl,--wrap=read

fuzz:
	@tests/fuzz/need-clang $(FUZZ_CC)
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@tests/fuzz/run $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

$(FUZZ_DIR)/obj/%.o: batch/%.c $(HDRS) | $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -c -o $@ $<

$(FUZZ_DIR)/libpf.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $(FUZZ_OBJS)

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/check.h $(FUZZ_DIR)/libpf.a $(HDRS)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	    -o $@ $< $(FUZZ_DIR)/libpf.a $(FUZZ_LDEXTRA) $(LDLIBS)

$(FUZZ_DIR)/obj:
	mkdir -p $@

install: $(BUILD)/profactory
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/profactory $(DESTDIR)$(PREFIX)/bin/profactory
	ln -sf profactory $(DESTDIR)$(PREFIX)/bin/profactory-verify-csr
	install -m 0644 profactory.1 $(DESTDIR)$(PREFIX)/share/man/man1/profactory.1

clean:
	rm -rf build
