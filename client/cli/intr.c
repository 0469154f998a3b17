/*
 * intr.c - deferred termination signals.
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "intr.h"

static const int intr_signals[] = {SIGINT, SIGTERM, SIGHUP};

#define NSIGNALS (sizeof(intr_signals) / sizeof(intr_signals[0]))

static volatile sig_atomic_t intr_sig;
static struct sigaction intr_old[NSIGNALS];
static bool intr_set[NSIGNALS]; /* our handler is installed */

static void
intr_on_signal(int sig)
{
        intr_sig = sig;
}

void
intr_begin(void)
{
        struct sigaction sa;
        size_t i;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = intr_on_signal;
        (void)sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0; /* no SA_RESTART: interrupt a blocking read */
        intr_sig = 0;
        for (i = 0; i < NSIGNALS; i++) {
                /* A signal the caller ignores (nohup) stays ignored. */
                intr_set[i] = sigaction(intr_signals[i], NULL, &intr_old[i]) == 0 &&
                              intr_old[i].sa_handler != SIG_IGN &&
                              sigaction(intr_signals[i], &sa, NULL) == 0;
        }
}

int
intr_caught(void)
{
        return intr_sig;
}

/* Restore the handlers; then, if @act, take a caught signal's default
 * action. */
static void
intr_restore(bool act)
{
        int sig;
        size_t i;

        for (i = 0; i < NSIGNALS; i++) {
                if (intr_set[i]) {
                        (void)sigaction(intr_signals[i], &intr_old[i], NULL);
                        intr_set[i] = false;
                }
        }
        /* Read after the handlers are back: a signal caught up to then is
         * seen here, one after it gets the old handler. */
        sig = intr_sig;
        if (act && sig != 0) {
                (void)signal(sig, SIG_DFL);
                (void)raise(sig);
        }
}

void
intr_end(void)
{
        intr_restore(true);
}

void
intr_end_quietly(void)
{
        intr_restore(false);
}
