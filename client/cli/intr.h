/*
 * intr.h - hold off SIGINT, SIGTERM and SIGHUP while a long copy runs, so
 * that it stops and cleans up (unlinks a half-made segment, removes a
 * partial file) instead of dying half-way.
 */
#ifndef TSHM_CLI_INTR_H
#define TSHM_CLI_INTR_H

/* Catch the signals from now on; a blocking read or write they interrupt
 * fails with EINTR. */
void intr_begin(void);

/* The signal caught since intr_begin(), or 0. */
int intr_caught(void);

/* Restore the previous handlers. If a signal was caught, take its default
 * action now, after the cleanup, so the exit status tells of it. */
void intr_end(void);

#endif /* TSHM_CLI_INTR_H */
