# SPDX-License-Identifier: GPL-2.0
#
# kup: build the modules, check them, and test them in a QEMU guest.
#
#   make                 build kup.ko, kup_echo.ko, kup_rot13.ko against KDIR
#   make check           everything: deps, W=1 build, sparse, checkpatch,
#                        selftests and C/C++ header checks, guest test run
#   make demo            boot the guest and run the channel demo
#   make bench           boot the guest and compare kup with the alternatives
#   make profile         one benchmark method under perf in the guest
#   make kselftest       run the selftests on this machine (module loaded)
#   make sparse | style  static checks only
#   make dkms-install    install the source with dkms for the running kernel

KUP_VERSION := 0.1.0
TOP := $(CURDIR)
BUILD := $(TOP)/build

# KDIR: the running kernel's build tree, else the newest installed headers.
KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(patsubst %/Module.symvers,%,$(lastword $(sort $(wildcard \
	/usr/src/linux-headers-*/Module.symvers)))))

CC ?= gcc
CXX ?= g++
UAPI_CFLAGS := -I$(TOP)/include/uapi -I$(TOP)/lib
WARN := -Wall -Wextra -Werror
TEST_CFLAGS := -O2 -g -Wall -Werror -D_GNU_SOURCE $(UAPI_CFLAGS) -pthread
SELFTESTS := kup_region_test kup_chan_test kup_wake_test kup_kernproxy_test \
	kup_cxx_test
SELFTEST_SRCS := $(wildcard selftests/*.c selftests/*.h lib/kup.h \
	include/uapi/linux/kup.h)

-include $(BUILD)/env.mk

.PHONY: all module modules clean deps guest-modules sparse style \
	selftests headers-check check test-qemu demo kselftest dkms-install \
	dkms-uninstall dkms-check bench profile

all: module
modules: module

module:
	@test -n "$(KDIR)" || { echo "no kernel build tree: set KDIR" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(TOP) modules

clean:
	@test -z "$(KDIR)" || $(MAKE) -C $(KDIR) M=$(TOP) clean
	rm -rf $(BUILD)/selftests $(BUILD)/guest $(BUILD)/demo $(BUILD)/*.log

deps:
	bash scripts/deps.sh

# Modules for the guest kernel, warnings are errors.
guest-modules: deps
	$(MAKE) -f $(TOP)/Makefile _guest-modules

_guest-modules:
	$(MAKE) -C $(GUEST_KDIR) M=$(TOP) W=1 KCFLAGS=-Werror modules

sparse: deps
	$(MAKE) -f $(TOP)/Makefile _sparse

_sparse:
	@$(MAKE) -C $(GUEST_KDIR) M=$(TOP) clean >/dev/null
	$(MAKE) -C $(GUEST_KDIR) M=$(TOP) C=2 modules 2>&1 | tee $(BUILD)/sparse.log
	@! grep -E 'warning|error' $(BUILD)/sparse.log | grep -v 'Skipping BTF' \
		|| { echo "sparse: not clean" >&2; exit 1; }

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
	$(wildcard driver/*.c driver/*.h)) include/linux/kup.h \
	include/uapi/linux/kup.h

_style:
	@{ perl $(CHECKPATCH) $(CHECKPATCH_FLAGS) -f $(STYLE_SRCS); \
	  perl $(CHECKPATCH) $(CHECKPATCH_FLAGS) -f lib/kup.h \
		--ignore $(LIB_CHECKPATCH_IGNORE); \
	  perl $(CHECKPATCH) $(CHECKPATCH_FLAGS) \
		--ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON -f driver/compat.h; \
	} | tee $(BUILD)/style.log
	@! grep -v '^total: 0 errors, 0 warnings, 0 checks' $(BUILD)/style.log \
		| grep . || { echo "style: checkpatch is not clean" >&2; exit 1; }
	@echo "style: checkpatch --strict clean"

selftests: deps
	$(MAKE) -f $(TOP)/Makefile _selftests

_selftests: $(addprefix $(BUILD)/selftests/,$(SELFTESTS) kup_demo \
	kup_bench run-selftests.sh)

$(BUILD)/selftests/%: selftests/%.c $(SELFTEST_SRCS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(TEST_CFLAGS) -I$(KSFT_DIR) -static -o $@ $< -luring

$(BUILD)/selftests/kup_cxx_test: selftests/kup_cxx_test.cc $(SELFTEST_SRCS)
	@mkdir -p $(@D)
	$(CXX) -std=c++17 $(WARN) -pedantic $(UAPI_CFLAGS) -pthread -static \
		-o $@ $<

$(BUILD)/selftests/kup_demo: examples/kup_demo.c $(SELFTEST_SRCS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(TEST_CFLAGS) -static -o $@ $<

$(BUILD)/selftests/kup_bench: bench/kup_bench.c driver/kup_bench.h \
	$(SELFTEST_SRCS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(TEST_CFLAGS) -static -o $@ $< -luring

$(BUILD)/selftests/run-selftests.sh: selftests/run-selftests.sh
	@mkdir -p $(@D)
	install -m 755 $< $@

# lib/kup.h must build as strict C11 and C++17 with warnings as errors.
headers-check:
	@mkdir -p $(BUILD)
	printf '#include <kup.h>\nint main(void) { return KUP_NONBLOCK - 1; }\n' \
		>$(BUILD)/hdr.c
	$(CC) -std=c11 -pedantic $(WARN) $(UAPI_CFLAGS) -fsyntax-only $(BUILD)/hdr.c
	cp $(BUILD)/hdr.c $(BUILD)/hdr.cc
	$(CXX) -std=c++17 -pedantic $(WARN) $(UAPI_CFLAGS) -fsyntax-only $(BUILD)/hdr.cc

test-qemu: guest-modules selftests
	bash scripts/qemu-run.sh tests $(GUEST_VMLINUX) $(TOP)/driver \
		$(BUILD)/selftests $(BUILD) 1800
	@bash scripts/summary.sh $(BUILD)/console-tests.log

check: deps headers-check sparse style dkms-check guest-modules selftests
	$(MAKE) -f $(TOP)/Makefile test-qemu

demo: guest-modules selftests
	bash scripts/qemu-run.sh demo $(GUEST_VMLINUX) $(TOP)/driver \
		$(BUILD)/selftests $(BUILD) 600

# The benchmark in the guest: table on the terminal, JSON and plots in
# build/bench/. BENCH_ARGS=quick for a short run; BENCH_ARGS="only
# raw,kup-poll 100000" for some methods only.
bench: guest-modules selftests
	@echo "$(BENCH_ARGS)" >$(BUILD)/selftests/bench-args
	bash scripts/qemu-run.sh bench $(GUEST_VMLINUX) $(TOP)/driver \
		$(BUILD)/selftests $(BUILD) 1800
	bash scripts/bench-report.sh $(BUILD)/console-bench.log $(BUILD)/bench

# One benchmark method under perf in the guest (cpu-clock sampling of the
# whole guest): PROFILE=raw, kup-poll, kup-adaptive, uring-sqpoll or
# kup-pipe. The report is in build/console-profile.log.
PROFILE ?= kup-poll
profile: guest-modules selftests
	@command -v perf >/dev/null || apt-get install -y --no-install-recommends linux-perf
	@echo "only $(PROFILE) 2000000" >$(BUILD)/selftests/bench-args
	bash scripts/qemu-run.sh profile $(GUEST_VMLINUX) $(TOP)/driver \
		$(BUILD)/selftests $(BUILD) 1800

# On a host that can load modules (root, kup and kup_echo loaded).
kselftest: deps
	$(MAKE) -f $(TOP)/Makefile _selftests
	KUP_ECHO_KO=$(TOP)/driver/kup_echo.ko \
		$(BUILD)/selftests/run-selftests.sh $(BUILD)/selftests

DKMS_SRC := /usr/src/kup-$(KUP_VERSION)
# Copy the module sources, without build products, to where dkms wants them.
DKMS_COPY = rm -rf $(DKMS_SRC) && mkdir -p $(DKMS_SRC) && \
	cp -r Kbuild Makefile dkms.conf driver include $(DKMS_SRC)/ && \
	find $(DKMS_SRC) \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' \
		-o -name '*.mod' -o -name '*.mod.c' -o -name '*.o.d' \) -delete

dkms-install:
	$(DKMS_COPY)
	dkms add kup/$(KUP_VERSION)
	dkms build kup/$(KUP_VERSION)
	dkms install kup/$(KUP_VERSION)

dkms-uninstall:
	-dkms remove kup/$(KUP_VERSION) --all
	rm -rf $(DKMS_SRC)

# dkms builds the package for the guest kernel, then everything is removed.
dkms-check: deps
	$(MAKE) -f $(TOP)/Makefile _dkms-check

_dkms-check:
	@if dkms status kup 2>/dev/null | grep -q kup; then \
		echo "dkms-check: kup is installed with dkms here; skipped"; \
	else \
		set -e; $(DKMS_COPY); \
		trap 'dkms remove kup/$(KUP_VERSION) --all >/dev/null 2>&1; \
			rm -rf $(DKMS_SRC)' EXIT; \
		dkms add kup/$(KUP_VERSION) && \
		dkms build kup/$(KUP_VERSION) -k $(KUP_KVER) && \
		ls /var/lib/dkms/kup/$(KUP_VERSION)/$(KUP_KVER)/x86_64/module/kup.ko* && \
		echo "dkms-check: kup $(KUP_VERSION) builds with dkms for $(KUP_KVER)"; \
	fi
