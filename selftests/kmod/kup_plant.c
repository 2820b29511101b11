// SPDX-License-Identifier: GPL-2.0
/*
 * kup_plant: planted faults that prove the test bed's judge (make
 * judge-check). Test-only, built for the guest with KUP_TESTS=m, never
 * installed. Loaded with plant=redzone it overwrites one byte past a
 * kmalloc(64) object and frees it (slub_debug's "Right Redzone
 * overwritten" report, or KASAN's); with plant=pin it pins one page of
 * the loading process and never unpins it (the pin counters stay
 * unbalanced). Either must turn the guest run red.
 */

#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

static char *plant = "";
module_param(plant, charp, 0444);
MODULE_PARM_DESC(plant, "The fault to plant: redzone or pin");

/* The object's size, read at run time so the compiler cannot see it. */
static unsigned int size = 64;
module_param(size, uint, 0444);
MODULE_PARM_DESC(size, "Size of the object whose redzone is overwritten");

static int plant_redzone(void)
{
	unsigned int n = READ_ONCE(size);
	u8 *p = kmalloc(n, GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	OPTIMIZER_HIDE_VAR(p);
	p[n] = 0x5a;
	kfree(p);
	return 0;
}

static int plant_pin(void)
{
	unsigned long addr = current->mm->start_stack & PAGE_MASK;
	struct page *page;
	int ret;

	ret = pin_user_pages_fast(addr, 1, FOLL_WRITE | FOLL_LONGTERM, &page);
	return ret == 1 ? 0 : -EFAULT;
}

static int __init plant_init(void)
{
	int ret = -EINVAL;

	if (!strcmp(plant, "redzone"))
		ret = plant_redzone();
	else if (!strcmp(plant, "pin"))
		ret = plant_pin();
	pr_info("planted '%s': %d\n", plant, ret);
	return ret;
}

static void __exit plant_exit(void)
{
}

module_init(plant_init);
module_exit(plant_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Planted faults that the kup test bed must report");
