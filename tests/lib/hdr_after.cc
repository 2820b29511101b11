// SPDX-License-Identifier: GPL-2.0
/* kup.h after C++ standard headers, C++17. */
#include <cstdio>
#include <cstring>
#include <string>

#include <kup.h>

int main()
{
	struct kup_device *dev = nullptr;
	std::string name = "kup_echo";
	int ret = kup_open(name.c_str(), &dev);

	std::printf("%s\n", std::strerror(-ret));
	if (!ret)
		kup_close(dev);
	return 0;
}
