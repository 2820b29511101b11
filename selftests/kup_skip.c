// SPDX-License-Identifier: GPL-2.0
/*
 * Stands in for a test that could not be built here (selftests/Makefile):
 * reports a skip, kselftest style (exit 4), with the reason.
 */
#include "kselftest.h"

int main(void)
{
	ksft_print_header();
	ksft_exit_skip("%s\n", KUP_SKIP_REASON);
}
