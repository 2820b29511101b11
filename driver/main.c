// SPDX-License-Identifier: GPL-2.0
/*
 * kup: shared-memory channels between a process and kernel code, with no
 * system call on the data path. See include/uapi/linux/kup.h for the
 * region layout and the protocol, include/linux/kup.h for the kernel API.
 */

#include <linux/module.h>

#include "debugfs.h"
#include "region.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

static int __init kup_init(void)
{
	int ret = kup_region_init();

	if (ret)
		return ret;
	kup_debugfs_init();
	pr_info("loaded, ABI %u\n", KUP_ABI_VERSION);
	return 0;
}

static void __exit kup_exit(void)
{
	kup_debugfs_exit();
	kup_region_exit();
}

module_init(kup_init);
module_exit(kup_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kup maintainers");
MODULE_DESCRIPTION("Shared-memory channels between a process and kernel code");
MODULE_VERSION(KUP_VERSION);
