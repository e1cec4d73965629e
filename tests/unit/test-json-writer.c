/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The streaming writer against json-c: every document written both ways must
 * give the same bytes, plain and pretty, whatever the strings hold.
 */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json-util.h"
#include "json-writer.h"
#include "macro.h"

static const char *const strings[] = {
        "",
        "plain/path/with/slashes.qcow2",
        "quote \" backslash \\ end",
        "controls \b \f \n \r \t \x01 \x1f and DEL \x7f",
        "invalid \xff\xfe utf-8 \xc3",
        "valid caf\xc3\xa9 \xe6\x97\xa5",
        "json:{\"file\":{\"filename\":\"/x\"}}",
};

/* The same document through json-c (returned) and through the writer (into f). */
static json_object *build(JsonWriter *w, size_t i) {
        json_object *top = json_object_new_array(), *o = json_object_new_object(), *inner = json_object_new_object();
        const char *s = strings[i % ELEMENTSOF(strings)];

        json_writer_array_begin(w, NULL);
        json_writer_object_begin(w, NULL);
        json_add_string(o, "name", s);
        json_writer_string(w, "name", s);
        json_add_string(o, s, "as a key");
        json_writer_string(w, s, "as a key");
        json_object_object_add(o, "n", json_object_new_int64(INT64_MIN + (int64_t) i));
        json_writer_int(w, "n", INT64_MIN + (int64_t) i);
        json_object_object_add(o, "big", json_object_new_int64(INT64_MAX));
        json_writer_int(w, "big", INT64_MAX);
        json_object_object_add(o, "yes", json_object_new_boolean(i % 2));
        json_writer_bool(w, "yes", i % 2);
        json_object_object_add(o, "none", NULL);
        json_writer_null(w, "none");
        json_add_string(inner, "missing", NULL);
        json_writer_object_begin(w, "inner");
        json_writer_string(w, "missing", NULL);
        json_writer_object_end(w);
        json_object_object_add(o, "inner", inner);
        json_writer_object_end(w);
        json_object_array_add(top, o);
        json_object_array_add(top, json_new_string_sanitized(s));
        json_writer_string(w, NULL, s);
        json_writer_array_end(w);
        return top;
}

START_TEST(test_json_writer_matches_json_c) {
        for (int pretty = 0; pretty <= 1; pretty++) {
                char *buf = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&buf, &len);
                JsonWriter w;
                json_object *j;

                ck_assert_ptr_nonnull(f);
                json_writer_init(&w, f, pretty);
                j = build(&w, (size_t) _i);
                ck_assert_int_eq(fclose(f), 0);
                ck_assert_str_eq(buf, json_object_to_json_string_ext(j, pretty ? JSON_OUTPUT_PRETTY : JSON_OUTPUT_PLAIN));
                json_object_put(j);
                free(buf);
        }
}
END_TEST

START_TEST(test_json_writer_unsigned) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        JsonWriter w;

        ck_assert_ptr_nonnull(f);
        json_writer_init(&w, f, false);
        json_writer_object_begin(&w, NULL);
        json_writer_uint(&w, "max", UINT64_MAX);
        json_writer_array_begin(&w, "empty");
        json_writer_array_end(&w);
        json_writer_object_end(&w);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_str_eq(buf, "{\"max\":18446744073709551615,\"empty\":[]}");
        free(buf);
}
END_TEST

/* Too deep is dropped, never written past the writer's state. */
START_TEST(test_json_writer_depth_limit) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        JsonWriter w;

        ck_assert_ptr_nonnull(f);
        json_writer_init(&w, f, true);
        for (unsigned i = 0; i < JSON_WRITER_MAX_DEPTH + 4; i++)
                json_writer_array_begin(&w, NULL);
        ck_assert_uint_eq(w.depth, JSON_WRITER_MAX_DEPTH);
        for (unsigned i = 0; i < JSON_WRITER_MAX_DEPTH + 4; i++)
                json_writer_array_end(&w);
        ck_assert_uint_eq(w.depth, 0);
        ck_assert_int_eq(fclose(f), 0);
        free(buf);
}
END_TEST

static Suite *json_writer_suite(void) {
        Suite *s = suite_create("json-writer");
        TCase *tc = tcase_create("writer");

        tcase_add_loop_test(tc, test_json_writer_matches_json_c, 0, (int) ELEMENTSOF(strings) * 2);
        tcase_add_test(tc, test_json_writer_unsigned);
        tcase_add_test(tc, test_json_writer_depth_limit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(json_writer_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
