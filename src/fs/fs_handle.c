/* SPDX-License-Identifier: MIT */
/*
 * The list of open file and directory handles of a front end (forward and
 * reverse alike). The kernel need not send RELEASE or RELEASEDIR before the
 * session ends (a daemon stopped by a signal, a lazy unmount): what is left
 * on the list then is closed and freed by veil_handles_destroy().
 */
#include "fs.h"

void veil_handles_init(struct veil_handles *l)
{
	pthread_mutex_init(&l->lock, NULL);
	l->head.prev = l->head.next = &l->head;
	l->head.close = NULL;
}

void veil_handle_add(struct veil_handles *l, struct veil_handle *h,
		     void (*close)(struct veil_handle *h))
{
	h->close = close;
	pthread_mutex_lock(&l->lock);
	h->prev = &l->head;
	h->next = l->head.next;
	h->next->prev = h;
	l->head.next = h;
	pthread_mutex_unlock(&l->lock);
}

void veil_handle_del(struct veil_handles *l, struct veil_handle *h)
{
	pthread_mutex_lock(&l->lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	h->prev = h->next = NULL;
	pthread_mutex_unlock(&l->lock);
}

void veil_handles_destroy(struct veil_handles *l)
{
	pthread_mutex_lock(&l->lock);
	while (l->head.next != &l->head) {
		struct veil_handle *h = l->head.next;

		h->prev->next = h->next;
		h->next->prev = h->prev;
		h->close(h);
	}
	pthread_mutex_unlock(&l->lock);
	pthread_mutex_destroy(&l->lock);
}
