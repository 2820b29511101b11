/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place for kernel-version differences. kup is written against
 * current mainline; older kernels get what they lack here, preferably by
 * feature test rather than by version number.
 */
#ifndef _KUP_COMPAT_H
#define _KUP_COMPAT_H

#include <linux/version.h>

/* pin_user_pages_fast(), unpin_user_pages_dirty_lock(), FOLL_LONGTERM. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 8, 0)
#error "kup needs Linux 5.8 or later"
#endif

/* Timers: renamed in 6.2 (timer_delete_sync) and 6.16 (timer_container_of). */
#include <linux/timer.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define timer_delete_sync(t) del_timer_sync(t)
#endif
#ifndef timer_container_of
#define timer_container_of(var, t, field) from_timer(var, t, field)
#endif

/* eventfd_signal() lost its count argument in 6.8. */
#include <linux/eventfd.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 8, 0)
#define kup_eventfd_signal(ctx) eventfd_signal(ctx, 1)
#else
#define kup_eventfd_signal(ctx) eventfd_signal(ctx)
#endif

#endif /* _KUP_COMPAT_H */
