/*
 * log.c - the daemon's log: stderr with syslog priority prefixes ("<4>")
 * under systemd (JOURNAL_STREAM), plain "tshmd: warning: ..." lines on a
 * terminal, or syslog(3) once daemonised.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "tshmd.h"

#include "sync.h"

static int log_level = LOG_INFO;
static bool log_syslog;
static bool log_journal;

void
tshmd_log_init(int level, bool syslog_mode)
{
        log_level = level;
        log_syslog = syslog_mode;
        log_journal = getenv("JOURNAL_STREAM") != NULL;
        if (log_syslog) {
                openlog("tshmd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        }
}

void
tshmd_log_set_level(int level)
{
        log_level = level;
}

static const char *
log_prio_name(int prio)
{
        switch (prio) {
        case LOG_EMERG:
        case LOG_ALERT:
        case LOG_CRIT:
        case LOG_ERR:
                return "error";
        case LOG_WARNING:
                return "warning";
        case LOG_NOTICE:
                return "notice";
        case LOG_INFO:
                return "info";
        default:
                return "debug";
        }
}

/* Counted from the loop and the peer thread (each call site's limit is
 * used by one thread only). */
static uint64_t log_suppressed;

uint64_t
tshmd_log_suppressed(void)
{
        return __atomic_load_n(&log_suppressed, __ATOMIC_RELAXED);
}

static void
log_emit(int prio, const char *line)
{
        if (log_syslog) {
                syslog(prio, "%s", line);
        } else if (log_journal) {
                (void)fprintf(stderr, "<%d>%s\n", prio, line);
        } else {
                (void)fprintf(stderr, "tshmd: %s: %s\n", log_prio_name(prio), line);
        }
}

void
tshmd_log_limited(struct tshmd_log_limit *lim, int prio, const char *fmt, ...)
{
        char line[1024];
        uint64_t now;
        va_list ap;

        if (prio > log_level) {
                return;
        }
        now = tshm__mono_ns();
        if (lim->window_ns == 0 ||
            now - lim->window_ns >= (uint64_t)TSHMD_LOG_WINDOW_MS * 1000000u) {
                lim->window_ns = now;
                lim->lines = 0;
        }
        if (lim->lines >= TSHMD_LOG_BURST) {
                lim->dropped++;
                (void)__atomic_fetch_add(&log_suppressed, 1, __ATOMIC_RELAXED);
                return;
        }
        lim->lines++;
        va_start(ap, fmt);
        (void)vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (lim->dropped != 0) {
                size_t n = strlen(line);

                (void)snprintf(line + n, sizeof(line) - n, " (%u similar lines suppressed before)",
                               lim->dropped);
                lim->dropped = 0;
        }
        log_emit(prio, line);
}
