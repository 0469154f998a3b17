/*
 * json.h - a small JSON writer for the --json outputs: objects written key
 * by key, with commas placed for the caller.
 */
#ifndef TSHM_CLI_JSON_H
#define TSHM_CLI_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json_obj {
        FILE *out;
        bool first;
};

/* Write @s as a JSON string literal, escaped. */
void json_string(FILE *out, const char *s);

/* "{", then members, then "}". */
void json_obj_begin(struct json_obj *o, FILE *out);
void json_obj_end(struct json_obj *o);

/* One member each. json_obj_key() writes only the key and ':', for a value
 * the caller writes itself. */
void json_obj_key(struct json_obj *o, const char *key);
void json_obj_str(struct json_obj *o, const char *key, const char *value);
void json_obj_u64(struct json_obj *o, const char *key, uint64_t value);

#endif /* TSHM_CLI_JSON_H */
