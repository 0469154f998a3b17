/*
 * intr.h - hold off SIGINT, SIGTERM and SIGHUP while a long copy runs, so
 * that it stops and cleans up (unlinks a half-made segment, removes a
 * partial file) instead of dying half-way; or catch them to end a command
 * that runs until interrupted.
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

/* Restore the previous handlers, and take no action for a caught signal:
 * for a command that runs until interrupted (watch), being stopped is how
 * it ends, and it exits 0. */
void intr_end_quietly(void);

#endif /* TSHM_CLI_INTR_H */
