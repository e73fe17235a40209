/* SPDX-License-Identifier: MIT */
#include "cli.h"

int veil_cmd_mount(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	veil_err("mount: not built yet");
	return VEIL_EXIT_MOUNT;
}
