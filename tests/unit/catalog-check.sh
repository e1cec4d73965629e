#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every MESSAGE_ID in message-ids.h has an entry in units/boxlite.catalog.
set -euo pipefail
ids="$1" catalog="$2"
missing=0
for id in $(grep -o '"[0-9a-f]\{32\}"' "$ids" | tr -d '"'); do
        if ! grep -qx -- "-- $id" "$catalog"; then
                echo "MESSAGE_ID $id has no catalog entry in $catalog"
                missing=1
        fi
done
exit $missing
