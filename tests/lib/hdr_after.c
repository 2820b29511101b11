// SPDX-License-Identifier: GPL-2.0
/*
 * kup.h after system headers, strict C11: the feature macros are fixed
 * before kup.h is seen, so it must do with what strict C11 declares.
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <stdlib.h>

#include <kup.h>

#ifdef _GNU_SOURCE
#error "kup.h defined _GNU_SOURCE"
#endif

int main(void)
{
	struct kup_device *dev = NULL;
	int ret = kup_open("kup_echo", &dev);

	printf("%s\n", strerror(-ret));
	if (!ret)
		kup_close(dev);
	return 0;
}
