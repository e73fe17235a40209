/* SPDX-License-Identifier: MIT */
/*
 * veilfs/format.h — names reserved in a cipher directory (docs/format.md
 * §Directory layout). Every reserved name contains a '.', which base64url
 * never does, so none can collide with an encrypted name.
 */
#ifndef VEILFS_FORMAT_H
#define VEILFS_FORMAT_H

#define VEIL_CONF_NAME "veilfs.conf"
#define VEIL_DIRIV_NAME "veilfs.diriv"
#define VEIL_LONGNAME_PREFIX "veilfs.ln."
#define VEIL_LONGNAME_SUFFIX ".name"
#define VEIL_LONGLINK_PREFIX "veilfs.lt."
/* The header of a plaintext folder prepared for reverse mode. */
#define VEIL_REVERSE_CONF ".veilfs-reverse.conf"
/* Temporary files and directories of atomic creations. */
#define VEIL_TEMP_PREFIX "veilfs.tmp."

#endif
