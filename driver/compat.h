/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place for kernel-version differences, force-included into every
 * file of every kup module (compat.mk, which each Kbuild includes). kup is
 * written against current mainline; older kernels get what they lack
 * here, under the mainline name. Where a distribution may backport a
 * change, the test is on the headers of the kernel we build for
 * (KUP_HAVE_* from compat.mk), not on its version.
 *
 * The oldest kernel: 6.1, the oldest one the test bed boots. (kup needs at
 * least FOLL_LONGTERM pins that fork copies early (5.9), unrcu_pointer()
 * (5.14) and the maple-tree VMA iterator (6.1).)
 */
#ifndef _KUP_COMPAT_H
#define _KUP_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "kup needs Linux 6.1 or later"
#endif

/* 6.2 renamed del_timer_sync() (6.1.y has both); 6.16 from_timer(). */
#include <linux/timer.h>
#ifndef KUP_HAVE_TIMER_DELETE_SYNC
#define timer_delete_sync(t) del_timer_sync(t)
#endif
#ifndef timer_container_of
#define timer_container_of(var, t, field) from_timer(var, t, field)
#endif

/* 6.8: eventfd_signal() lost its count argument. */
#include <linux/eventfd.h>
#ifndef KUP_HAVE_EVENTFD_SIGNAL_1
#define eventfd_signal(ctx) eventfd_signal(ctx, 1)
#endif

/* 6.5: pin_user_pages() lost its vmas argument. */
#include <linux/mm.h>
#ifndef KUP_HAVE_PIN_USER_PAGES_4
#define pin_user_pages(start, nr, flags, pages) \
	pin_user_pages(start, nr, flags, pages, NULL)
#endif

/* 6.13: hrtimer_setup() sets the callback with the clock and mode. */
#include <linux/hrtimer.h>
#ifndef KUP_HAVE_HRTIMER_SETUP
static inline void hrtimer_setup(struct hrtimer *timer,
				 enum hrtimer_restart (*fn)(struct hrtimer *),
				 clockid_t clock_id, enum hrtimer_mode mode)
{
	hrtimer_init(timer, clock_id, mode);
	timer->function = fn;
}
#endif

/*
 * 6.13 (commit cdd30ebb1b9f, "module: Convert symbol namespace to string
 * literal"): the namespace argument of EXPORT_SYMBOL_NS_GPL() and
 * MODULE_IMPORT_NS() is a string literal, EXPORT_SYMBOL_NS_GPL(f, "KUP");
 * before, a bare identifier that the macros stringified. kup writes the
 * mainline form; an older kernel gets the same macros taking a string.
 * __EXPORT_SYMBOL(sym, license, ns) took the namespace as a string on
 * both sides of the change; its license argument is "GPL" since the 6.5
 * rework of the export tables (which brought __EXPORT_SYMBOL_REF), and
 * was the section suffix "_gpl" before.
 */
#include <linux/export.h>
#include <linux/module.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
#undef EXPORT_SYMBOL_NS_GPL
#ifdef __EXPORT_SYMBOL_REF
#define EXPORT_SYMBOL_NS_GPL(sym, ns)	__EXPORT_SYMBOL(sym, "GPL", ns)
#else
#define EXPORT_SYMBOL_NS_GPL(sym, ns)	__EXPORT_SYMBOL(sym, "_gpl", ns)
#endif
#undef MODULE_IMPORT_NS
#define MODULE_IMPORT_NS(ns)		MODULE_INFO(import_ns, ns)
#endif

#endif /* _KUP_COMPAT_H */
