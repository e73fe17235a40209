/* SPDX-License-Identifier: MIT */
/* Replies of the forward and the reverse front end alike. */
#include <errno.h>

#include "fs.h"

void veil_reply_xattr(fuse_req_t req, const void *val, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}
