# profactory — build, test, demo, install.
#   make            build build/profactory
#   make test       install missing packages, build, run every test
#   make demo       install missing packages, build, run a batch on a demo PKI
#   make SANITIZE=address,undefined test   the same under ASan + UBSan
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

install: $(BUILD)/profactory
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/profactory $(DESTDIR)$(PREFIX)/bin/profactory
	ln -sf profactory $(DESTDIR)$(PREFIX)/bin/profactory-verify-csr
	install -m 0644 profactory.1 $(DESTDIR)$(PREFIX)/share/man/man1/profactory.1

clean:
	rm -rf build
