# SPDX-License-Identifier: GPL-2.0
# What every kup module is built with (driver/, samples/, bench/kmod/;
# each Kbuild includes this file): kup's headers, pr_fmt, the version,
# and driver/compat.h force-included, with its feature tests on the
# headers of the kernel we build for (a distribution may backport a
# change without its version number).
kup_top := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
KUP_VERSION := $(shell cat $(kup_top)/VERSION 2>/dev/null)
ifeq ($(KUP_VERSION),)
$(error kup: no VERSION file next to compat.mk)
endif

ccflags-y += -I$(kup_top)/include
ccflags-y += -D'pr_fmt(fmt)=KBUILD_MODNAME ": " fmt'
ccflags-y += -DKUP_VERSION='"$(KUP_VERSION)"'
ccflags-y += -include $(kup_top)/driver/compat.h

# Parentheses are written \x28 and \x29: make counts the real ones.
kup_inc := $(srctree)/include/linux
kup_eventfd_1 := $(shell grep -qsP 'void eventfd_signal\x28struct eventfd_ctx \*ctx\x29' \
	$(kup_inc)/eventfd.h && echo y)
kup_pup_vmas := $(shell grep -sA2 -P '^long pin_user_pages\x28' $(kup_inc)/mm.h | \
	grep -qs vmas && echo y)
kup_hrtimer_setup := $(shell grep -qsP 'void hrtimer_setup\x28' \
	$(kup_inc)/hrtimer.h && echo y)
ccflags-$(kup_eventfd_1) += -DKUP_HAVE_EVENTFD_SIGNAL_1
ifneq ($(kup_pup_vmas),y)
ccflags-y += -DKUP_HAVE_PIN_USER_PAGES_4
endif
ccflags-$(kup_hrtimer_setup) += -DKUP_HAVE_HRTIMER_SETUP
kup_timer_delete_sync := $(shell grep -qsP 'int timer_delete_sync\x28' \
	$(kup_inc)/timer.h && echo y)
ccflags-$(kup_timer_delete_sync) += -DKUP_HAVE_TIMER_DELETE_SYNC
