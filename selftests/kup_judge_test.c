// SPDX-License-Identifier: GPL-2.0
/*
 * The judge's own test: passes, unless KUP_PLANT=skip asks it to skip,
 * which a guest run must then report as a failure (make judge-check).
 */
#include "kup_test.h"

#include "kselftest_harness.h"

TEST(planted_skip)
{
	const char *plant = getenv("KUP_PLANT");

	if (plant && !strcmp(plant, "skip"))
		SKIP(return, "planted skip");
}

TEST_HARNESS_MAIN
