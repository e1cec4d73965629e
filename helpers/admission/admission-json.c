/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* JSON of a judgement and of the GC a decision or a pressure check ran: one shape for both reports. */

#include <string.h>

#include <json-c/json.h>

#include "admission-json.h"
#include "json-util.h"

static json_object *filesystems_to_json(const Judgement *j) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < j->n_filesystems; i++) {
                const FsJudgement *f = &j->filesystems[i];
                json_object *o = json_object_new_object(), *parts = json_object_new_array();

                json_add_string(o, "part", home_part_to_string(f->part));
                for (int p = 0; p < _HOME_PART_MAX; p++)
                        if (f->parts & (1U << p))
                                json_object_array_add(parts, json_object_new_string(home_part_to_string(p)));
                json_object_object_add(o, "parts", parts);
                json_add_string(o, "path", f->path);
                if (f->source)
                        json_add_string(o, "source", f->source);
                json_object_object_add(o, "available_bytes", json_object_new_uint64(f->space.available_bytes));
                json_object_object_add(o, "total_bytes", json_object_new_uint64(f->space.total_bytes));
                json_add_string(o, "verdict", verdict_to_string(f->verdict));
                json_add_string(o, "limit", admit_limit_to_string(f->limit));
                json_object_object_add(o, "readable", json_object_new_boolean(f->readable));
                json_add_string(o, "reason", f->reason);
                json_object_array_add(a, o);
        }
        return a;
}

json_object *admit_judgement_to_json(const Judgement *j) {
        json_object *o = json_object_new_object();

        json_add_string(o, "verdict", verdict_to_string(j->verdict));
        json_object_object_add(o, "available_bytes", json_object_new_uint64(j->space.available_bytes));
        json_object_object_add(o, "total_bytes", json_object_new_uint64(j->space.total_bytes));
        json_add_string(o, "reason", j->reason);
        json_add_string(o, "limit", admit_limit_to_string(j->limit));
        json_object_object_add(o, "readable", json_object_new_boolean(j->readable));
        if (j->space.inodes_total > 0) {
                json_object_object_add(o, "available_inodes", json_object_new_uint64(j->space.inodes_available));
                json_object_object_add(o, "total_inodes", json_object_new_uint64(j->space.inodes_total));
        }
        json_add_string(o, "part", home_part_to_string(j->part));
        json_object_object_add(o, "filesystems", filesystems_to_json(j));
        return o;
}


json_object *admit_gc_to_json(const Judgement *first, uint64_t target_free, const GcResult *res, int error) {
        json_object *gc = json_object_new_object();

        json_object_object_add(gc, "first", admit_judgement_to_json(first));
        if (target_free > 0)
                json_object_object_add(gc, "target_free_bytes", json_object_new_uint64(target_free));
        if (res) {
                json_object_object_add(gc, "ok", json_object_new_boolean(gc_result_ok(res)));
                json_object_object_add(gc, "reclaimed_count", json_object_new_uint64(res->n_reclaimed));
                json_object_object_add(gc, "reclaimed_bytes", json_object_new_uint64(res->reclaimed_bytes));
                json_object_object_add(gc, "reclaimed_allocated_bytes", json_object_new_uint64(res->reclaimed_allocated));
                json_object_object_add(gc, "errors", json_object_new_uint64(res->n_errors));
        } else {
                json_object_object_add(gc, "ok", json_object_new_boolean(false));
                json_add_string(gc, "error", strerror(-error));
        }
        return gc;
}
