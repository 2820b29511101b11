# SPDX-License-Identifier: GPL-2.0
#
# kup: build the modules, check them, and test them in QEMU guests.
#
#   make                 build the modules against KDIR (the running kernel)
#   make check           everything, on every guest kernel (KERNELS): deps,
#                        C/C++ header checks, checkpatch, the library's
#                        host tests under sanitizers, then per kernel a
#                        W=1 -Werror build, sparse, dkms, the selftests in a
#                        guest; then the demo from a fresh copy of the tree
#   make judge-check     prove the guest judge with planted faults
#   make demo            boot a guest and run the channel demo
#   make bench           boot a guest and compare kup with the alternatives
#   make bench-boots     the same in BOOTS guests (3), targets by the median
#   make fuzz            boot a guest and run the fuzzers for longer
#                        (FUZZ_SECONDS each, default 300; FUZZ_SEED=N
#                        replays a run)
#   make kcsan           the selftests on the KCSAN kernel (a race in kup
#                        fails; the core kernel's are listed)
#   make soak            boot a guest and run the lifecycle soak
#                        (SOAK_SECONDS, default 600)
#   make profile         one benchmark method under perf in a guest
#   make kselftest       run the selftests on this machine with the kernel's
#                        kselftest runner (root; modprobes kup, kup_echo)
#   make sparse | style  static checks only
#   make man-check       lint the man pages (man/)
#   make dkms-install    install the source with dkms for the running kernel
#                        (DKMS_EXTRAS="kup_rot13 kup_bench" adds modules)
#   make install         the library, its ABI header, kup.pc, man pages,
#                        udev, sysusers.d, modules-load.d and modprobe.d
#                        files (PREFIX=/usr/local, DESTDIR); make uninstall
#   make install-check   install into a scratch DESTDIR, build an app with
#                        pkg-config against it alone, uninstall; versions
#
# KERNEL=6.1 (default), 6.12 or 6.12-rt picks the guest kernel of demo,
# bench, profile, sparse and test-qemu; Debian 12's packages, looked up at
# run time. KERNEL=debug or kcsan: the debug kernels built from
# linux-source-6.12 (docs/debug-kernel.md). Downloaded and built kernels
# are cached in KUP_CACHE (/var/cache/kup).

TOP := $(CURDIR)
# The one version: VERSION. dkms.conf and lib/kup.h carry copies, checked
# by make install-check (scripts/install-check.sh).
KUP_VERSION := $(shell cat $(TOP)/VERSION)
BUILD := $(TOP)/build
KERNELS := 6.1 6.12 6.12-rt
# The debug lane of make check: a kernel built from linux-source-6.12 with
# KASAN, lockdep, kmemleak, UBSAN and fault injection (kernel/debug.config,
# scripts/debug-kernel.sh). DEBUG_KERNELS= skips it; kcsan adds the KCSAN
# kernel (make kcsan runs it alone).
DEBUG_KERNELS ?= debug
KERNEL ?= 6.1
export KUP_CACHE ?= /var/cache/kup

# KDIR: the running kernel's build tree, else the newest installed headers.
KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(patsubst %/Module.symvers,%,$(lastword $(sort $(wildcard \
	/usr/src/linux-headers-*/Module.symvers)))))

CC ?= gcc
CXX ?= g++
UAPI_CFLAGS := -I$(TOP)/include/uapi -I$(TOP)/lib
WARN := -Wall -Wextra -Werror
TEST_CFLAGS := -O2 -g -Wall -Werror -D_GNU_SOURCE $(UAPI_CFLAGS) -pthread
# The selftests, in the order the guest runs them: a binary missing from
# the guest is a failure, not a test silently not run. One list, the
# kselftest target's TEST_GEN_PROGS (selftests/Makefile).
SELFTESTS := $(strip $(subst \,,$(subst TEST_GEN_PROGS :=,,$(shell \
	sed -n '/^TEST_GEN_PROGS :=/,/[^\]$$/p' selftests/Makefile))))
# Built always, run only in the debug lane (the stock kernels have no fault
# injection; a skip there would be a failure).
DEBUG_SELFTESTS := kup_fault_test
SELFTEST_SRCS := $(wildcard selftests/*.c selftests/*.h lib/*.h \
	include/uapi/linux/kup.h)
BIN := $(BUILD)/bin

# What deps.sh found: common tools, and the guest kernel KERNEL.
-include $(BUILD)/env.mk
-include $(BUILD)/env-$(KERNEL).mk
# Each kernel's modules are built in a copy of the sources: objects of one
# kernel never mix with another's.
# driver/: kup.ko; samples/: kup_echo.ko, kup_rot13.ko; bench/kmod/:
# kup_bench.ko. The guest also gets the test-only modules
# (selftests/kmod); dkms never.
MODULE_DIRS := driver samples bench/kmod
MODSRC := Kbuild compat.mk VERSION include $(MODULE_DIRS) selftests/kmod
KUP_TEST_MODS := KUP_TESTS=m
MODDIR = $(BUILD)/mod-$(KERNEL)
# Where qemu-run.sh finds the modules: the build's directories, ':'-separated
empty :=
space := $(empty) $(empty)
GUEST_MODDIRS = $(subst $(space),:,$(addprefix $(MODDIR)/,$(MODULE_DIRS) \
	selftests/kmod))

.PHONY: all module modules clean deps sparse style selftests headers-check lib-check \
	man-check \
	judge-check _judge-check \
	check test-qemu demo demo-fresh bench bench-boots profile kselftest \
	dkms-install dkms-uninstall _dkms-add install uninstall install-check _modules _sparse _style _selftests _test-qemu _demo \
	_bench _bench-boots _profile _dkms-check _check-kernel _check fuzz soak _fuzz _soak \
	kcsan

all: module
modules: module

module:
	@test -n "$(KDIR)" || { echo "no kernel build tree: set KDIR" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(TOP) modules

clean:
	@test -z "$(KDIR)" || $(MAKE) -C $(KDIR) M=$(TOP) clean
	rm -rf $(BUILD)

# Every target below that needs the test bed runs deps first, then a
# sub-make that reads what deps wrote (build/env*.mk).
deps:
	bash scripts/deps.sh $(sort $(KERNELS) $(KERNEL))

# Modules for the guest kernel KERNEL, W=1, warnings are errors.
_modules:
	@mkdir -p $(MODDIR)
	@tar -c $(MODSRC) | tar -x -C $(MODDIR)
	$(MAKE) -C $(GUEST_KDIR) M=$(MODDIR) W=1 KCFLAGS=-Werror $(KUP_TEST_MODS) \
		modules

sparse: deps
	$(MAKE) -f $(TOP)/Makefile _sparse

_sparse: _modules
	@$(MAKE) -C $(GUEST_KDIR) M=$(MODDIR) $(KUP_TEST_MODS) clean >/dev/null
	$(MAKE) -C $(GUEST_KDIR) M=$(MODDIR) C=2 $(KUP_TEST_MODS) modules 2>&1 | \
		tee $(BUILD)/sparse-$(KERNEL).log
	@! grep -E 'warning|error' $(BUILD)/sparse-$(KERNEL).log | \
		grep -v 'Skipping BTF' || \
		{ echo "sparse ($(KERNEL)): not clean" >&2; exit 1; }
	@echo "sparse ($(KERNEL)): clean"

style: deps
	$(MAKE) -f $(TOP)/Makefile _style

# checkpatch --strict: any error, warning or check fails. compat.h is the
# one file allowed to compare LINUX_VERSION_CODE.
CHECKPATCH_FLAGS := --no-tree --strict --terse --show-types
# lib/kup.h is user space: no kernel types, no BIT(), no kernel attribute
# macros, and KUPLIB_* macros (as liburing's IOURINGINLINE).
LIB_CHECKPATCH_IGNORE := PREFER_KERNEL_TYPES,BIT_MACRO,ARCH_DEFINES,$(strip \
	COMPLEX_MACRO,PREFER_DEFINED_ATTRIBUTE_MACRO)
STYLE_SRCS := $(filter-out %.mod.c driver/compat.h,\
	$(wildcard $(addsuffix /*.c,$(MODULE_DIRS)) \
	$(addsuffix /*.h,$(MODULE_DIRS)))) include/linux/kup.h \
	include/uapi/linux/kup.h selftests/kmod/kup_ktest.c \
	selftests/kmod/kup_plant.c examples/client-module/kup_hello.c

_style:
	@mkdir -p $(BUILD)
	@{ perl $(CHECKPATCH) $(CHECKPATCH_FLAGS) -f $(STYLE_SRCS); \
	  perl $(CHECKPATCH) $(CHECKPATCH_FLAGS) -f lib/kup.h lib/kernproxy.h \
		--ignore $(LIB_CHECKPATCH_IGNORE); \
	  perl $(CHECKPATCH) $(CHECKPATCH_FLAGS) \
		--ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON -f driver/compat.h; \
	} | tee $(BUILD)/style.log
	@! grep -v '^total: 0 errors, 0 warnings, 0 checks' $(BUILD)/style.log \
		| grep . || { echo "style: checkpatch is not clean" >&2; exit 1; }
	@echo "style: checkpatch --strict clean"

# User-space programs for the guest (static: the guest has only busybox).
selftests: deps
	$(MAKE) -f $(TOP)/Makefile _selftests

# The selftests are a kselftest target (selftests/Makefile, lib.mk):
# scripts/ksft-build.sh copies selftests/ into a kernel-style tree in
# build/ as tools/testing/selftests/kup, builds it there with the kernel's
# lib.mk and installs it in $(BIN)/ksft (run_kselftest.sh,
# kselftest-list.txt, kselftest/runner.sh, kup/, run-selftests.sh). The
# framework (lib.mk, the runner, the harness) comes from KSFT_DIR, a kernel
# tree's tools/testing/selftests, when given; else from Debian's
# linux-source-6.1 tarball (deps.sh installs it), else from the newest
# /usr/src/linux-source-*.tar.xz. kup_soak runs only in make soak and
# kup_fault_test only on the debug kernels (TEST_GEN_PROGS_EXTENDED).
KSFT_SRC = $(or $(if $(wildcard $(KSFT_DIR)/lib.mk),$(KSFT_DIR)),$(wildcard \
	/usr/src/linux-source-6.1.tar.xz),$(lastword $(sort $(wildcard \
	/usr/src/linux-source-*.tar.xz))))

_selftests: $(addprefix $(BIN)/,kup_demo kup_bench)
	@rm -f $(BIN)/kup_*_test $(BIN)/kup_soak $(BIN)/run-selftests.sh
	bash scripts/ksft-build.sh '$(KSFT_SRC)' $(BUILD)/ksft $(BIN)/ksft \
		USERLDFLAGS=-static
	@printf '%s\n' $(SELFTESTS) >$(BIN)/selftests.list

$(BIN)/kup_demo: examples/kup_demo.c $(SELFTEST_SRCS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(TEST_CFLAGS) -static -o $@ $<

$(BIN)/kup_bench: bench/kup_bench.c bench/kmod/kup_bench.h $(SELFTEST_SRCS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(TEST_CFLAGS) -static -o $@ $< -luring

# lib/kup.h and lib/kernproxy.h must each build alone as strict C11 and
# C++11/17/20 with warnings as errors. kup.h alone must not define the
# FreeBSD KUP names: here they are enumerators, which a function or macro
# of the same name would break.
KERNPROXY_NAMES := kernproxy_open, kernproxy_channel, kernproxy_receive, \
	kernproxy_send, kernproxy_close, kernproxy_error, KP_NB, EKU_SHUTDOWN, \
	EKU_NOTREADY
headers-check:
	@mkdir -p $(BUILD)
	printf '#include <kup.h>\nenum { %s };\n%s\n' '$(KERNPROXY_NAMES)' \
		'int main(void) { return KUP_NONBLOCK - 1 + kernproxy_open; }' \
		>$(BUILD)/hdr.c
	printf '#include <kernproxy.h>\n#include <kup.h>\n%s\n' \
		'int main(void) { return KP_NB - 1; }' >$(BUILD)/hdr-kp.c
	for f in hdr hdr-kp; do \
		$(CC) -std=c11 -pedantic $(WARN) $(UAPI_CFLAGS) -fsyntax-only \
			$(BUILD)/$$f.c || exit 1; \
		cp $(BUILD)/$$f.c $(BUILD)/$$f.cc; \
		for std in c++11 c++17 c++20; do \
			$(CXX) -std=$$std -pedantic $(WARN) $(UAPI_CFLAGS) \
				-fsyntax-only $(BUILD)/$$f.cc || exit 1; \
		done; \
	done

# The man pages: mandoc -Tlint clean, every library and kernel API function
# documented, every link resolved (installs mandoc when missing).
man-check:
	bash scripts/man-check.sh

# Boot KERNEL in QEMU with the modules and programs, run MODE, judge.
# TESTS="kup_chan_test ..." runs some selftest binaries only. The debug
# kernels also run the fault-injection tests.
ifneq ($(filter debug kcsan,$(KERNEL)),)
TESTS ?= $(SELFTESTS) $(DEBUG_SELFTESTS)
else
TESTS ?= $(SELFTESTS)
endif
# Settings of the adversarial tests, exported in the guest (guest-init.sh):
# FUZZ_SEED=N replays a fuzz run, FUZZ_SECONDS and SOAK_SECONDS bound the
# fuzzers and the soak; empty: the tests' defaults.
GUEST = printf '%s\n' $(TESTS) >$(BIN)/selftests.list && \
	printf 'KUP_FUZZ_SEED=%s\nKUP_FUZZ_SECONDS=%s\nKUP_SOAK_SECONDS=%s\n' \
	'$(FUZZ_SEED)' '$(FUZZ_SECONDS)' '$(SOAK_SECONDS)' >$(BIN)/test-env && \
	bash scripts/qemu-run.sh $(1) $(GUEST_IMAGE) \
	$(GUEST_MODDIRS) $(BIN) $(BUILD) $(2) $(KERNEL)

test-qemu: deps
	$(MAKE) -f $(TOP)/Makefile _test-qemu

# The KCSAN kernel runs the suite several times slower than the others
# (its watchpoints stall every instrumented access): 90 minutes.
_test-qemu: _modules _selftests
	$(call GUEST,tests,$(if $(filter kcsan,$(KERNEL)),5400,1800))

# make check: the static checks once, then every kernel; one summary line
# per kernel and the total; then the README's main command from a fresh
# copy of the tree, as a new user runs it.
check:
	bash scripts/deps.sh $(KERNELS) $(DEBUG_KERNELS)
	$(MAKE) -f $(TOP)/Makefile _check

# lib/kup.h on the host, against a fake kernel peer, under ASan+UBSan,
# TSan and plain (tests/lib).
lib-check:
	$(MAKE) -C tests/lib check

_check: headers-check man-check install-check _style lib-check _selftests
	@rc=0; for k in $(KERNELS); do \
		$(MAKE) -f $(TOP)/Makefile KERNEL=$$k _check-kernel || rc=1; \
	done; \
	for k in $(DEBUG_KERNELS); do \
		$(MAKE) -f $(TOP)/Makefile KERNEL=$$k _test-qemu || rc=1; \
	done; \
	bash scripts/summary.sh $(BUILD) $(KERNELS) $(DEBUG_KERNELS) || rc=1; \
	$(MAKE) -f $(TOP)/Makefile KERNEL=6.1 _judge-check || rc=1; \
	$(MAKE) -f $(TOP)/Makefile demo-fresh || rc=1; \
	exit $$rc

kcsan:
	$(MAKE) -f $(TOP)/Makefile test-qemu KERNEL=kcsan

_check-kernel: _sparse _dkms-check _modules
	$(call GUEST,tests,1800)

# The judge's self-test: a planted slub redzone overwrite, pin leak,
# skipped test and hanging test program must each turn a guest run red
# (scripts/judge-check.sh).
judge-check: deps
	$(MAKE) -f $(TOP)/Makefile _judge-check

_judge-check: _modules _selftests
	bash scripts/judge-check.sh $(GUEST_IMAGE) \
		$(GUEST_MODDIRS) $(BIN) $(BUILD) $(KERNEL)

# The demo from a copy of the tracked (and new, unignored) files with no
# build/ folder: a new user's first command.
demo-fresh:
	rm -rf $(BUILD)/fresh
	mkdir -p $(BUILD)/fresh
	git ls-files -co --exclude-standard | tar -cT - | tar -x -C $(BUILD)/fresh
	env -u MAKEFLAGS -u MAKELEVEL $(MAKE) -C $(BUILD)/fresh demo
	@echo "demo-fresh: the demo passed from a tree without build/"

demo: deps
	$(MAKE) -f $(TOP)/Makefile _demo

_demo: _modules _selftests
	$(call GUEST,demo,600)

# The benchmark in the guest: table on the terminal, JSON and plots in
# build/bench/. BENCH_ARGS=quick for a short run; BENCH_ARGS="only
# raw,kup-poll 100000" for some methods only.
bench: deps
	$(MAKE) -f $(TOP)/Makefile _bench

_bench: _modules _selftests
	@echo "$(BENCH_ARGS)" >$(BIN)/bench-args
	$(call GUEST,bench,1800)
	bash scripts/bench-report.sh $(BUILD)/console-bench-$(KERNEL).log \
		$(BUILD)/bench-$(KERNEL)

# The benchmark in BOOTS guests in a row (3 by default): each boot's JSON
# in build/bench-KERNEL/boot-N.json, then the median of each target's
# ratio over the boots (scripts/bench-summary.py) in
# build/bench-KERNEL/summary.txt.
BOOTS ?= 3
bench-boots: deps
	$(MAKE) -f $(TOP)/Makefile _bench-boots

_bench-boots: _modules _selftests
	@rm -f $(BUILD)/bench-$(KERNEL)/boot-*.json
	@for i in $$(seq $(BOOTS)); do \
		$(MAKE) -f $(TOP)/Makefile _bench || exit 1; \
		cp $(BUILD)/bench-$(KERNEL)/results.json \
			$(BUILD)/bench-$(KERNEL)/boot-$$i.json; \
	done
	python3 scripts/bench-summary.py $(KERNEL) \
		$(BUILD)/bench-$(KERNEL)/boot-*.json | \
		tee $(BUILD)/bench-$(KERNEL)/summary.txt

# The fuzzers for longer, and the soak: selftest binaries run in a guest
# of KERNEL as test-qemu runs them (console-fuzz-KERNEL.log,
# console-soak-KERNEL.log).
fuzz: deps
	$(MAKE) -f $(TOP)/Makefile _fuzz TESTS=kup_fuzz_test \
		FUZZ_SECONDS=$(or $(FUZZ_SECONDS),300)

_fuzz: _modules _selftests
	$(call GUEST,fuzz,$(shell expr 2 \* $(FUZZ_SECONDS) + 900))

soak: deps
	$(MAKE) -f $(TOP)/Makefile _soak TESTS=kup_soak \
		SOAK_SECONDS=$(or $(SOAK_SECONDS),600)

_soak: _modules _selftests
	$(call GUEST,soak,$(shell expr $(SOAK_SECONDS) + 900))

# One benchmark method under perf in the guest (cpu-clock sampling of the
# whole guest): PROFILE=raw, kup-poll, kup-adaptive, uring-sqpoll or
# kup-pipe. The report is in build/console-profile-KERNEL.log.
PROFILE ?= kup-poll
profile: deps
	@command -v perf >/dev/null || \
		apt-get install -y --no-install-recommends linux-perf
	$(MAKE) -f $(TOP)/Makefile _profile

_profile: _modules _selftests
	@echo "only $(PROFILE) 2000000" >$(BIN)/bench-args
	$(call GUEST,profile,1800)

# On this host (root; kup and kup_echo installed, e.g. by make
# dkms-install): the selftests built from the kselftest copy (dynamic, in
# build/kselftest), run by the kernel's run_kselftest.sh; the installed
# modules are loaded with modprobe, and unloaded after if they were not
# loaded before. No deps: nothing is installed, no kernel downloaded; only
# the kernel's selftests framework is needed (KSFT_DIR or linux-source, as
# above). A test whose prerequisite is missing skips (TAP "# SKIP"); make
# fails only if a test failed.
kselftest:
	bash scripts/ksft-build.sh '$(KSFT_SRC)' $(BUILD)/ksft-host \
		$(BUILD)/kselftest
	$(BUILD)/kselftest/run-selftests.sh --host || [ $$? = 4 ]

# make install: what an application needs, where pkg-config finds it.
# kup.h goes to INCLUDEDIR, the ABI header to INCLUDEDIR/kup/linux/kup.h
# (kup.pc adds -I$(INCLUDEDIR)/kup, so kup.h's #include <linux/kup.h>
# finds it; /usr/include/linux belongs to the kernel headers' package).
# The system files go under SYSCONFDIR, where a local install belongs; a
# distribution package sets UDEVRULESDIR=/usr/lib/udev/rules.d and so on.
PREFIX ?= /usr/local
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(PREFIX)/share/pkgconfig
SYSCONFDIR ?= /etc
UDEVRULESDIR ?= $(SYSCONFDIR)/udev/rules.d
SYSUSERSDIR ?= $(SYSCONFDIR)/sysusers.d
MODLOADDIR ?= $(SYSCONFDIR)/modules-load.d
MODPROBEDIR ?= $(SYSCONFDIR)/modprobe.d
MANPAGES := $(wildcard man/*.[3479])
# Every file install writes, as DESTDIR-relative paths: uninstall removes
# exactly these.
INSTALLED := $(INCLUDEDIR)/kup.h $(INCLUDEDIR)/kernproxy.h \
	$(INCLUDEDIR)/kup/linux/kup.h \
	$(PKGCONFIGDIR)/kup.pc \
	$(foreach m,$(MANPAGES),$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
	$(UDEVRULESDIR)/60-kup.rules $(SYSUSERSDIR)/kup.conf \
	$(MODLOADDIR)/kup.conf $(MODPROBEDIR)/kup.conf

$(BUILD)/kup.pc: kup.pc.in VERSION
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' \
		-e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
		-e 's|@VERSION@|$(KUP_VERSION)|' $< >$@

# kup.pc depends on PREFIX: made afresh at each install.
install:
	@rm -f $(BUILD)/kup.pc
	$(MAKE) -f $(TOP)/Makefile $(BUILD)/kup.pc
	install -D -m 644 lib/kup.h $(DESTDIR)$(INCLUDEDIR)/kup.h
	install -D -m 644 lib/kernproxy.h $(DESTDIR)$(INCLUDEDIR)/kernproxy.h
	install -D -m 644 include/uapi/linux/kup.h \
		$(DESTDIR)$(INCLUDEDIR)/kup/linux/kup.h
	install -D -m 644 $(BUILD)/kup.pc $(DESTDIR)$(PKGCONFIGDIR)/kup.pc
	@set -e; for m in $(MANPAGES); do \
		sec=$${m##*.}; \
		install -D -m 644 $$m $(DESTDIR)$(MANDIR)/man$$sec/$${m##*/}; \
	done; echo "installed $(words $(MANPAGES)) man pages in $(DESTDIR)$(MANDIR)"
	install -D -m 644 udev/60-kup.rules $(DESTDIR)$(UDEVRULESDIR)/60-kup.rules
	install -D -m 644 sysusers.d/kup.conf $(DESTDIR)$(SYSUSERSDIR)/kup.conf
	install -D -m 644 modules-load.d/kup.conf $(DESTDIR)$(MODLOADDIR)/kup.conf
	install -D -m 644 modprobe.d/kup.conf $(DESTDIR)$(MODPROBEDIR)/kup.conf

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/kup/linux $(DESTDIR)$(INCLUDEDIR)/kup \
		2>/dev/null

# The CI check of the above, host only (scripts/install-check.sh).
install-check:
	bash scripts/install-check.sh

DKMS_SRC := /usr/src/kup-$(KUP_VERSION)
# Modules dkms installs besides kup.ko and kup_echo.ko (dkms.conf), opt-in:
# DKMS_EXTRAS="kup_rot13 kup_bench".
DKMS_EXTRAS ?=
# DKMS_KVER=release: build and install for that kernel, not the running one.
DKMS_KVER ?=
dkms_k := $(if $(DKMS_KVER),-k $(DKMS_KVER))

# Register the sources with dkms: copy them, without build products, to
# where dkms wants them, add DKMS_EXTRAS to the copy's dkms.conf, dkms
# add. A kup/KUP_VERSION registered already (an earlier dkms-install) is
# removed first, with what it built and installed: running it again
# starts afresh from the current sources.
_dkms-add:
	@if dkms status kup/$(KUP_VERSION) 2>/dev/null | grep -q .; then \
		echo "dkms: removing the kup $(KUP_VERSION) registered before"; \
		dkms remove kup/$(KUP_VERSION) --all >/dev/null; \
	fi
	rm -rf $(DKMS_SRC)
	mkdir -p $(DKMS_SRC)
	cp -r --parents Kbuild compat.mk VERSION Makefile dkms.conf include \
		scripts/dkms-post-build.sh $(MODULE_DIRS) $(DKMS_SRC)/
	find $(DKMS_SRC) \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' \
		-o -name '*.mod' -o -name '*.mod.c' -o -name '*.o.d' \) -delete
	@n=2; for m in $(DKMS_EXTRAS); do \
		case $$m in \
		kup_rot13) loc=samples/ ;; \
		kup_bench) loc=bench/kmod/ ;; \
		*) echo "DKMS_EXTRAS: '$$m' is not kup_rot13 or kup_bench" >&2; \
			exit 1 ;; \
		esac; \
		printf '%s[%d]="%s"\n' BUILT_MODULE_NAME $$n $$m \
			BUILT_MODULE_LOCATION $$n $$loc \
			DEST_MODULE_LOCATION $$n /kernel/drivers/misc \
			>>$(DKMS_SRC)/dkms.conf; \
		n=$$((n + 1)); \
	done
	dkms add kup/$(KUP_VERSION)

# Can run again: the second run replaces what the first installed.
dkms-install: _dkms-add
	dkms build kup/$(KUP_VERSION) $(dkms_k)
	dkms install kup/$(KUP_VERSION) $(dkms_k)

dkms-uninstall:
	-dkms remove kup/$(KUP_VERSION) --all
	rm -rf $(DKMS_SRC)

# dkms builds the package for the guest kernel (registered twice, as two
# make dkms-install do), then the client-module template against it; then
# everything is removed (scripts/dkms-check.sh).
_dkms-check:
	bash scripts/dkms-check.sh $(KUP_VERSION) $(GUEST_KVER)
