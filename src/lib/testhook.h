/* SPDX-License-Identifier: MIT */
/*
 * Pause points for the crash tests (tests/integration/test_crash.py), built
 * only with meson -Dtest_hooks=true: tests/run-all.sh sets it, a default or
 * release build compiles every veil_test_pause() to nothing.
 *
 * With the option, veil_test_pause(POINT) does nothing unless the
 * environment variable VEILFS_TEST_PAUSE is POINT; then it creates the file
 * named by VEILFS_TEST_PAUSE_FILE (if set) and sleeps until killed, so a
 * test can SIGKILL the daemon exactly there.
 *
 * veil_test_wait(POINT) is the same with VEILFS_TEST_WAIT, but it only
 * waits until the file named by VEILFS_TEST_WAIT_GO exists, then goes on:
 * a test can run another command exactly there.
 */
#ifndef VEILFS_TESTHOOK_H
#define VEILFS_TESTHOOK_H

#ifdef VEIL_TEST_HOOKS
void veil_test_pause(const char *point);
void veil_test_wait(const char *point);
#else
#define veil_test_pause(point) ((void)0)
#define veil_test_wait(point) ((void)0)
#endif

#endif
