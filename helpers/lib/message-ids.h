/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Journal MESSAGE_IDs, one per kind of event. Each has an entry in
 * units/boxlite.catalog (checked by a test). Generated with systemd-id128 new.
 */

#define BOXLITE_MESSAGE_GC_RECLAIMED_STR "64f8f96e0d814b94941060e7e019d66b"
#define BOXLITE_MESSAGE_GC_SUMMARY_STR "2f76ccf213f2457b96f82b973a9b54da"
#define BOXLITE_MESSAGE_GC_FAIL_CLOSED_STR "773d1b64d1bf428991c19b34696dd4be"
#define BOXLITE_MESSAGE_GC_RESTORED_STR "c02c4baa715e49798fb5dfc75c1e635f"
#define BOXLITE_MESSAGE_ADMIT_OK_STR "adf621787fcc4f0b9b66e6c5539945bb"
#define BOXLITE_MESSAGE_ADMIT_WARN_STR "7aa6b6000be54d0eadf5f2c0e1947857"
#define BOXLITE_MESSAGE_ADMIT_REJECT_STR "18df0cfe9db04b27ba717e91d1155058"
#define BOXLITE_MESSAGE_CHAIN_INCOMPLETE_STR "fb9c804b53fc43b8b070d3f28174bebf"
