// SPDX-License-Identifier: GPL-2.0
/*
 * A POSIX program: kup.h must not change its feature macros (with
 * _GNU_SOURCE, strerror_r() returns char * and this does not build).
 */
#define _POSIX_C_SOURCE 200809L
#include <kup.h>

#include <string.h>

int main(void)
{
	char buf[64];
	int ret = strerror_r(EINVAL, buf, sizeof(buf));

	return ret;
}
