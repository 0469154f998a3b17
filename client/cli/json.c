/*
 * json.c - a small JSON writer.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"

void
json_string(FILE *out, const char *s)
{
        const unsigned char *p = (const unsigned char *)s;

        (void)putc('"', out);
        for (; *p != '\0'; p++) {
                if (*p == '"' || *p == '\\') {
                        (void)putc('\\', out);
                        (void)putc(*p, out);
                } else if (*p == '\n') {
                        (void)fputs("\\n", out);
                } else if (*p == '\t') {
                        (void)fputs("\\t", out);
                } else if (*p < 0x20 || *p == 0x7f) {
                        (void)fprintf(out, "\\u%04x", *p);
                } else {
                        (void)putc(*p, out);
                }
        }
        (void)putc('"', out);
}

void
json_obj_begin(struct json_obj *o, FILE *out)
{
        o->out = out;
        o->first = true;
        (void)putc('{', out);
}

void
json_obj_end(struct json_obj *o)
{
        (void)putc('}', o->out);
}

void
json_obj_key(struct json_obj *o, const char *key)
{
        if (!o->first) {
                (void)fputs(", ", o->out);
        }
        o->first = false;
        json_string(o->out, key);
        (void)fputs(": ", o->out);
}

void
json_obj_str(struct json_obj *o, const char *key, const char *value)
{
        json_obj_key(o, key);
        json_string(o->out, value);
}

void
json_obj_u64(struct json_obj *o, const char *key, uint64_t value)
{
        json_obj_key(o, key);
        (void)fprintf(o->out, "%" PRIu64, value);
}
