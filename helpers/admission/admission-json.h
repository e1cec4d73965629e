/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* JSON of a judgement and of the GC a decision or a pressure check ran: one shape for both reports. */

#include <stdint.h>

#include "admission.h"

typedef struct json_object json_object;

/* A judgement as JSON: verdict, bytes, reason, limit, and every filesystem judged (admission-json.c). */
json_object *admit_judgement_to_json(const Judgement *j);
/* The GC under a decision or a pressure check: the first judgement, the target, the result or the error. */
json_object *admit_gc_to_json(const Judgement *first, uint64_t target_free, const GcResult *res, int error);
