/*
 * log.c - the daemon's log: stderr with syslog priority prefixes ("<4>")
 * under systemd (JOURNAL_STREAM), plain "tshmd: warning: ..." lines on a
 * terminal, or syslog(3) once daemonised.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "tshmd.h"

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

void
tshmd_log(int prio, const char *fmt, ...)
{
        char line[1024];
        va_list ap;

        if (prio > log_level) {
                return;
        }
        va_start(ap, fmt);
        (void)vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (log_syslog) {
                syslog(prio, "%s", line);
        } else if (log_journal) {
                (void)fprintf(stderr, "<%d>%s\n", prio, line);
        } else {
                (void)fprintf(stderr, "tshmd: %s: %s\n", log_prio_name(prio), line);
        }
}
