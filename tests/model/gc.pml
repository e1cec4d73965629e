/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * boxlite-gc's delete protocol (helpers/gc/gc-delete.c, run by gc_run() in gc.c) against
 * concurrent box starts, snapshots/clones and box removals. See
 * docs/gc-protocol-model.md for the protocol, the properties and the results.
 *
 * The file system is reduced to what the protocol reads and writes:
 *   cur[i]   the file under images/disk-images/<image i>: 0 none, else its
 *            inode generation (an image built again is a new generation)
 *   asd[i]   the file under images/disk-images/.boxlite-gc-<image i>
 *   fresh[i] cur[i] changed within the grace window
 *   ov[s]    overlay slot s: 0 none, i+1 an overlay whose backing chain ends
 *            at image i, by name. The GC walks the slots in the order 0, 1, 2.
 *   box[s]   ov[s] belongs to a box, snapshot or base that boxlite finished
 *            creating (an overlay still being written is not a box yet)
 *
 * Each statement is one indivisible step; every GC step is one system call,
 * with the local decisions that follow it folded in.
 *
 * Variants (spin -D...):
 *   NO_RECHECK    mutant: no second walk, every file moved aside is unlinked
 *   GRACE0        mutant: no grace window
 *   STRICT        check that no box ever dangles, without the exception for
 *                 the window docs/gc-safety.md documents
 *   VERIFY        every writer of a reference stats the image again once its
 *                 overlay is in place, and fails (removing the overlay) if
 *                 the name no longer resolves
 *   ATOMIC_OPEN   opening the backing and creating the overlay are one step
 *   CLONE_COPY    a clone copies the overlay file without opening its backing
 *   BIND_INODE    a box depends on the very file it was created on, not on
 *                 whatever file carries the name later
 *   FIX_LEFTOVER  proposed fix: a run that finds the name of an aside file
 *                 taken unlinks the aside file instead of leaving it
 *   LOCKED        writers hold <home>/.lock shared from their existence check
 *                 until their overlay is in place; the GC holds it exclusive
 *                 from phase 1 to the end of its run
 *   LIVENESS      compile the LTL properties (pan -a -f -N <name>)
 *
 * Directory renames during the walk of boxes/ (see "Box directories" below):
 *   RENAME        the box directory of slot 1 moves between two names of
 *                 boxes/, back and forth, for ever
 *   EXCHANGE      the box directories of slots 1 and 2 are exchanged
 *                 (renameat2(RENAME_EXCHANGE)), back and forth, for ever
 *   with either, the walk is the consistent walk of helpers/walk/walk.c, or:
 *   WALK_ENOENT_IS_EMPTY  today's walk: one pass, each listed name opened
 *                 right after it is listed; a name gone meanwhile references
 *                 nothing, and nothing is verified
 *   TRUST_TIMES   mutant: a racy directory is not re-listed, its timestamps
 *                 are trusted
 *   NO_INO_CHECK  mutant: an opened box directory is not compared with the
 *                 inode its name had in the listing
 *   ONE_CALL_RELIST  proposed fix: the re-list of a racy directory is one
 *                 getdents() call, which sees the whole directory at once (by
 *                 default every listing reads each entry by a call of its
 *                 own, with renames in between, as in a directory too large
 *                 for one buffer)
 *   POST_PROOF    the walk of a directory not stat'ed before it is listed
 *                 (walk.c, post_prove()): no inode check on open, no re-list;
 *                 the pass counts only if boxes/'s timestamp, read once its
 *                 walk is over, predates the pass and its racy window (no
 *                 change since the pass began, and none in the tick it began)
 *   RACY_RESTART  proposed fix: a pass that took a racy directory never
 *                 counts; the walk waits for the clock to leave the tick and
 *                 starts again (instead of re-listing)
 *   REWALK        the incremental walk: a change marks the unit (entry of
 *                 boxes/) it was seen in, or boxes/ itself, and the next
 *                 round walks only what changed, up to NROUND rounds; its
 *                 re-list is always one getdents() call (with POST_PROOF,
 *                 TRUST_TIMES, NO_INO_CHECK too)
 *   REWALK_RENAMED_INTO_ONLY  mutant (implies REWALK): a re-listed entry is
 *                 kept when its name was listed before, whatever inode it
 *                 holds now; only new names and changed units are walked
 *   NROUND        with REWALK: rounds before the walk fails closed (3)
 *   VIEW          with REWALK: also assert that an accepted view holds every
 *                 box directory (the walk's own claim, what a dry run sees)
 *   NSTART, NCLONE, NREMOVE, NCRASH   how many starts (1 or 2), clones
 *                 (0 or 1), removals (0 or 1) and killed GC runs; by
 *                 default 2, 1, 1 and 1
 */

#ifndef NSTART
#define NSTART 2
#endif
#ifndef NCLONE
#define NCLONE 1
#endif
#ifndef NREMOVE
#define NREMOVE 1
#endif
#ifndef NCRASH
#define NCRASH 1
#endif

#if defined(RENAME) && defined(EXCHANGE)
#error "RENAME and EXCHANGE are separate variants"
#endif
#if defined(RENAME) || defined(EXCHANGE)
#define DIRS 1          /* box directories under names of boxes/, walked by name */
#endif
#if defined(REWALK_RENAMED_INTO_ONLY) && !defined(REWALK)
#define REWALK 1
#endif
#ifdef REWALK
#if !defined(DIRS) || defined(WALK_ENOENT_IS_EMPTY) || defined(RACY_RESTART)
#error "REWALK goes with RENAME or EXCHANGE, and replaces the pass loop"
#endif
#endif

#define NI 2            /* disk-image names */
#define NS 3            /* slot 0: snapshot/clone target, walked first; 1, 2: the starts' boxes */

byte cur[NI];
byte asd[NI];
bit fresh[NI];
byte ngen[NI];          /* generations handed out so far, per name */
byte ov[NS];
bit box[NS];
bit win[NS];            /* written in the documented window, see OPEN_AND_CREATE */
byte building;          /* starts between renaming their build in and finishing */
#ifdef BIND_INODE
byte og[NS];            /* the generation the overlay was created on */
#endif
#ifdef LOCKED
byte lk;                /* the home lock: 0 free, 255 held by the GC, else its shared holders */
#endif
#ifdef DIRS
/*
 * Box directories. Slot s's overlay lives in a box directory of its own,
 * which exists from the start (an empty directory references nothing). The
 * names of boxes/ are numbered in the order getdents() returns them (hash
 * order, so a rename can move an entry behind or ahead of a listing that is
 * under way). at[p]: the directory (slot + 1, which is also its inode) under
 * name p, 0 none.
 *   RENAME:   names 0, 2: slots 0, 2; slot 1 moves between names 1 and 3
 *             (ahead of slot 2 in the listing, and behind it)
 *   EXCHANGE: names 0, 1, 2: slots 0, 1, 2; slots 1 and 2 trade names
 * Timestamps of boxes/ (mtime and ctime change together on every rename in
 * it) are coarse: a change within the tick of the current timestamp leaves it
 * as it is. One observer (the GC's walk) compares them, so two bits do:
 *   rtick  boxes/'s timestamp lies in the current tick
 *   ctchg  boxes/'s timestamp differs from the one the walk took last
 */
#ifdef RENAME
#define NP 4
#else
#define NP 3
#endif
byte at[NP];
bit rtick;
bit ctchg;
#endif

#define REFS(i)    (ov[0] == (i) + 1 || ov[1] == (i) + 1 || ov[2] == (i) + 1)
#define GONE(i)    (cur[i] == 0 && asd[i] == 0)
/*
 * A box dangles when the file its overlay backs onto is gone: not under its
 * name, and not aside either (then no run puts it back). With BIND_INODE the
 * name must lead to the very file the box was created on, or be free while
 * that file is aside.
 */
#ifdef BIND_INODE
#define DANGLES(s) (box[s] && ov[s] != 0 && cur[ov[s] - 1] != og[s] && \
                    !(cur[ov[s] - 1] == 0 && asd[ov[s] - 1] == og[s]))
#else
#define DANGLES(s) (box[s] && ov[s] != 0 && GONE(ov[s] - 1))
#endif
#ifdef STRICT
#define BAD(s)     DANGLES(s)
#else
/*
 * The guarantee as docs/gc-safety.md states it: a box dangles only through
 * the documented window, i.e. its writer opened an image it had not built
 * before the GC moved it aside, and created the overlay after the second walk
 * had passed the slot (win[s]).
 */
#define BAD(s)     (DANGLES(s) && !win[s])
#endif
#define ANY_DANGLES (DANGLES(0) || DANGLES(1) || DANGLES(2))
/*
 * Safety. A box can only start to dangle in a step that unlinks a file or
 * finishes a box (or, with BIND_INODE, renames a new build in); the invariant
 * is asserted in every such step.
 */
#define SAFE       assert(!(BAD(0) || BAD(1) || BAD(2)))

/*
 * Coarse time: a tick makes every existing file older than the grace. Ticks
 * wait while a start that built its image is running: the assumption that a
 * start finishes within the grace (10 min) of renaming its image in, which is
 * what the grace window relies on.
 */
active proctype clock() {
end:    do
        :: d_step {
                building == 0 && (fresh[0] || fresh[1]) ->
                fresh[0] = 0; fresh[1] = 0;
                printf("tick: the grace passes for every existing image\n")
           }
        od
}

/* renameat2(.boxlite-gc-<i>, <i>, RENAME_NOREPLACE); on EEXIST the file stays aside. */
#define PUT_BACK(i) \
        d_step { \
                if \
                :: cur[i] == 0 && asd[i] != 0 -> \
                        cur[i] = asd[i]; asd[i] = 0; fresh[i] = 1;   /* new ctime: in grace again */ \
                        printf("gc: puts image %d back\n", i) \
                :: cur[i] != 0 && asd[i] != 0 -> \
                        printf("gc: cannot put image %d back (EEXIST), it stays aside\n", i) \
                :: else -> skip \
                fi \
        }

#ifdef FIX_LEFTOVER
#define RECOVER(i) \
        d_step { \
                if \
                :: i == 0 -> printf("gc: run starts\n") \
                :: else -> skip \
                fi; \
                if \
                :: cur[i] == 0 && asd[i] != 0 -> \
                        cur[i] = asd[i]; asd[i] = 0; fresh[i] = 1; \
                        printf("gc: puts image %d back, left aside by a killed run\n", i) \
                :: cur[i] != 0 && asd[i] != 0 -> \
                        asd[i] = 0; \
                        printf("gc: image %d was re-created, unlinks the stale aside copy\n", i); \
                        SAFE \
                :: else -> skip \
                fi \
        }
#else
#define RECOVER(i) \
        d_step { \
                if \
                :: i == 0 -> printf("gc: run starts\n") \
                :: else -> skip \
                fi; \
                if \
                :: cur[i] == 0 && asd[i] != 0 -> \
                        cur[i] = asd[i]; asd[i] = 0; fresh[i] = 1; \
                        printf("gc: puts image %d back, left aside by a killed run\n", i) \
                :: cur[i] != 0 && asd[i] != 0 -> \
                        printf("gc: cannot put image %d back (EEXIST), it stays aside\n", i) \
                :: else -> skip \
                fi \
        }
#endif

/* Walk n reads slot s: the overlay's backing name, resolved to the file it names now. */
#define WALK(n, s) d_step { WALK_SLOT(n, s) }
#define WALK_SLOT(n, s) WALK_SLOT_INTO(n, s, inc)
/* bad: the bit a missing layer sets (the walk's, or with REWALK its unit's) */
#define WALK_SLOT_INTO(n, s, bad) \
                if \
                :: ov[s] == 0 -> printf("gc: walk %d: slot %d is empty\n", n, s) \
                :: ov[s] != 0 && cur[ov[s] - 1] == 0 -> \
                        bad = 1;   /* a missing layer: the walk is not complete */ \
                        printf("gc: walk %d: slot %d names image %d, which is missing: incomplete\n", n, s, ov[s] - 1) \
                :: ov[s] != 0 && cur[ov[s] - 1] != 0 -> \
                        pin[ov[s] - 1] = pin[ov[s] - 1] | (1 << cur[ov[s] - 1]); \
                        printf("gc: walk %d: slot %d pins image %d\n", n, s, ov[s] - 1) \
                fi

#ifndef DIRS
/* The walk of the home: the slots in a fixed order (nothing moves). */
#define WALK_HOME(n) WALK(n, 0); WALK(n, 1); WALK(n, 2)
#else
/*
 * A name whose entry never changes (slot 0's, and slot 2's under RENAME)
 * gives the same answer to every listing and every open, so listing and
 * opening it are left out (those steps commute with every other step); only
 * reading its directory is a step.
 */
#ifdef WALK_ENOENT_IS_EMPTY
/*
 * Today's walk (gc.c, refs_walk_dir()): each entry is opened as soon as
 * getdents() has returned it; a name that is gone by then is taken to
 * reference nothing, and whatever directory the name leads to is read.
 */
#define WALK_NAME(n, q) \
        d_step { lst[q] = at[q]; printf("gc: walk %d: lists name %d: inode %d\n", n, q, at[q]) }; \
        if \
        :: lst[q] == 0 -> skip \
        :: else -> \
                d_step { \
                        if \
                        :: at[q] == 0 -> \
                                printf("gc: walk %d: name %d is gone (ENOENT): references nothing\n", n, q) \
                        :: else -> \
                                printf("gc: walk %d: opens name %d: inode %d\n", n, q, at[q]); \
                                WALK_SLOT(n, at[q] - 1) \
                        fi \
                } \
        fi
#ifdef RENAME
#define WALK_HOME(n) \
        WALK(n, 0); WALK_NAME(n, 1); WALK(n, 2); WALK_NAME(n, 3); \
        d_step { lst[1] = 0; lst[3] = 0 }
#else
#define WALK_HOME(n) \
        WALK(n, 0); WALK_NAME(n, 1); WALK_NAME(n, 2); \
        d_step { lst[1] = 0; lst[2] = 0 }
#endif
#else
/*
 * The consistent walk (walk.c). One pass: fstat boxes/ (take its timestamp,
 * note whether it is racy), list it, open every listed name and check that
 * it leads to the listed inode (ENOENT or another inode: the pass is void),
 * read each opened directory through its descriptor; then fstat boxes/ again
 * (timestamp changed: void) and, if it was racy, list it again (a different
 * listing: void). A void pass starts the walk again; after NPASS passes the
 * walk fails closed (inc: nothing is deleted).
 */
#define NPASS 4
#define LIST(n, q) d_step { lst[q] = at[q]; printf("gc: walk %d: lists name %d: inode %d\n", n, q, at[q]) }
#define RELIST(n, q) d_step { chg = chg || lst[q] != at[q]; \
                              printf("gc: walk %d: lists name %d again: inode %d\n", n, q, at[q]) }
#ifdef RENAME
#define MV1 1           /* the names whose entries change */
#define MV2 3
#else
#define MV1 1
#define MV2 2
#endif
#ifdef ONE_CALL_RELIST
#define RELIST_ALL(n) d_step { chg = (lst[MV1] != at[MV1] || lst[MV2] != at[MV2]); \
                               printf("gc: walk %d: lists boxes/ again in one call: changed %d\n", n, chg) }
#else
#define RELIST_ALL(n) RELIST(n, MV1); RELIST(n, MV2)
#endif
#if defined(NO_INO_CHECK) || defined(POST_PROOF)
#define SAME_INODE(q) (at[q] != 0)
#else
#define SAME_INODE(q) (at[q] == lst[q])
#endif
/* openat(boxes/, name q), check the inode; then read the directory through the descriptor */
#define OPEN(n, q) \
        if \
        :: chg || lst[q] == 0 -> skip \
        :: else -> \
                d_step { \
                        if \
                        :: SAME_INODE(q) -> opn = at[q]; \
                                printf("gc: walk %d: opens name %d: inode %d\n", n, q, at[q]) \
                        :: else -> chg = 1; \
                                printf("gc: walk %d: opens name %d: gone or another inode, the pass is void\n", n, q) \
                        fi \
                }; \
                if \
                :: chg -> skip \
                :: else -> d_step { WALK_SLOT(n, opn - 1); opn = 0 } \
                fi \
        fi
#define READ_STATIC(n, s) \
        if \
        :: chg -> skip \
        :: else -> WALK(n, s) \
        fi
#ifdef RENAME
#define LIST_ALL(n) LIST(n, 1); LIST(n, 3)
#define OPEN_ALL(n) READ_STATIC(n, 0); OPEN(n, 1); READ_STATIC(n, 2); OPEN(n, 3)
#else
#define LIST_ALL(n) LIST(n, 1); LIST(n, 2)
#define OPEN_ALL(n) READ_STATIC(n, 0); OPEN(n, 1); OPEN(n, 2)
#endif
#ifdef TRUST_TIMES
#define RACY_CHECK(n) skip
#elif defined(POST_PROOF)
/* the timestamp must be older than the pass: unchanged since it began (ctchg, above) and not racy then */
#define RACY_CHECK(n) \
        if \
        :: !chg && racy -> d_step { chg = 1; printf("gc: walk %d: boxes/ is too recent to prove anything\n", n) } \
        :: else -> skip \
        fi
#elif defined(RACY_RESTART)
/* a racy pass never counts: wait until the clock has left the tick, then start again */
#define RACY_CHECK(n) \
        if \
        :: !chg && racy -> d_step { chg = 1; printf("gc: walk %d: boxes/ was racy, the pass is void\n", n) }; \
                rtick == 0 \
        :: else -> skip \
        fi
#else
#define RACY_CHECK(n) \
        if \
        :: !chg && racy -> RELIST_ALL(n) \
        :: else -> skip \
        fi
#endif
#ifndef REWALK
#define WALK_HOME(n) \
        pass = 0; \
        do \
        :: atomic { ctchg = 0; racy = rtick; chg = 0;   /* atomic: a loop cannot jump into a d_step */ \
                    printf("gc: walk %d, pass %d: fstat boxes/ (racy %d)\n", n, pass + 1, racy) }; \
                LIST_ALL(n); \
                OPEN_ALL(n); \
                if \
                :: !chg -> d_step { chg = ctchg; printf("gc: walk %d: fstat boxes/ again: changed %d\n", n, chg) } \
                :: else -> skip \
                fi; \
                RACY_CHECK(n); \
                if \
                :: !chg -> break \
                :: chg && pass < NPASS - 1 -> \
                        d_step { pass++; inc = 0; pin[0] = 0; pin[1] = 0; \
                                 printf("gc: walk %d: boxes/ changed, starts again\n", n) } \
                :: chg && pass == NPASS - 1 -> \
                        d_step { inc = 1; printf("gc: walk %d: boxes/ never held still: fails closed\n", n) }; \
                        break \
                fi \
        od; \
        atomic { pass = 0; chg = 0; racy = 0; lst[MV1] = 0; lst[MV2] = 0 }
#else
/*
 * The incremental walk (REWALK). Each entry of boxes/ is a unit; the units
 * under the names that change have a state of their own: ucg[q], the unit
 * under name q is still to be walked (new to the listing, or its walk saw a
 * change), and uinc[q], its walk found a missing layer. Round 1 is the pass
 * above, except that an open that finds the name gone or another inode
 * leaves that unit changed and the walk goes on with the next entry. Each
 * round ends with the check of boxes/ (fstat; if racy, one getdents() call
 * compared with the listing); a failure is "top changed" (top). A round
 * with no change is accepted. Otherwise the next round: if top, boxes/ is
 * stat'ed and listed again; an entry equal in name and inode to a unit
 * walked without change is kept, every other entry is walked as a new unit,
 * and a unit no longer listed is forgotten with its errors (pins are never
 * dropped). If boxes/ held, only the changed units are walked again, by
 * their listed name. After NROUND rounds with a change the walk fails
 * closed. The racy window is anchored at round 1: a timestamp that changed
 * since is newer than round 1's start, so every later re-stat is racy.
 * With POST_PROOF, round 1 is the post-proof pass; if boxes/ proves nothing,
 * nothing of that round is kept (its opens were not checked) and the next
 * round walks everything with boxes/ careful.
 */
#ifndef NROUND
#define NROUND 3
#endif
#ifdef VIEW
/*
 * The view itself: urd[q], the directory the unit under name q was read
 * from. An accepted view must hold every box directory that moves (they all
 * stay in boxes/), whatever the overlays in them: what a dry run reports.
 */
#define VIEW_FORGET(q)  ; urd[q] = 0
#define VIEW_READ(q)    ; urd[q] = opn
#define IN_VIEW(d)      (urd[MV1] == (d) || urd[MV2] == (d))
#ifdef RENAME
#define VIEW_CHECK      ; assert(IN_VIEW(2))
#else
#define VIEW_CHECK      ; assert(IN_VIEW(2) && IN_VIEW(3))
#endif
#define VIEW_DONE       ; urd[MV1] = 0; urd[MV2] = 0
#else                   /* each a statement to append, or nothing */
#define VIEW_FORGET(q)
#define VIEW_READ(q)
#define VIEW_CHECK
#define VIEW_DONE
#endif
#ifdef REWALK_RENAMED_INTO_ONLY
/* mutant: a name the last listing had is kept, whatever inode it holds now */
#define KEEP(q) (!ucg[q] && lst[q] != 0 && at[q] != 0)
#else
#define KEEP(q) (!ucg[q] && lst[q] != 0 && lst[q] == at[q])
#endif
#define LIST_UNIT(n, q) \
        d_step { \
                if \
                :: KEEP(q) -> printf("gc: walk %d: lists name %d: inode %d, kept\n", n, q, at[q]) \
                :: else -> ucg[q] = (at[q] != 0); uinc[q] = 0 VIEW_FORGET(q); \
                        printf("gc: walk %d: lists name %d: inode %d\n", n, q, at[q]) \
                fi; \
                lst[q] = at[q] \
        }
#ifdef NO_INO_CHECK
#define UNIT_INODE(q) (at[q] != 0)
#elif defined(POST_PROOF)
#define UNIT_INODE(q) (pass == 0 -> at[q] != 0 : at[q] == lst[q])
#else
#define UNIT_INODE(q) (at[q] == lst[q])
#endif
/* openat(boxes/, name q), check the inode; then read the directory through the descriptor */
#define WALK_UNIT(n, q) \
        if \
        :: !ucg[q] -> skip \
        :: else -> \
                d_step { \
                        if \
                        :: UNIT_INODE(q) -> opn = at[q]; \
                                printf("gc: walk %d: opens name %d: inode %d\n", n, q, at[q]) \
                        :: else -> \
                                printf("gc: walk %d: opens name %d: gone or another inode, the unit changed\n", n, q) \
                        fi \
                }; \
                if \
                :: opn == 0 -> skip \
                :: else -> d_step { WALK_SLOT_INTO(n, opn - 1, uinc[q]) VIEW_READ(q); ucg[q] = 0; opn = 0 } \
                fi \
        fi
/* the units whose entry never changes: read in round 1 (and after a failed proof), kept after */
#define READ_FULL(n, s) \
        if \
        :: whole -> WALK(n, s) \
        :: else -> skip \
        fi
#ifdef RENAME
#define WALK_UNITS(n) READ_FULL(n, 0); WALK_UNIT(n, 1); READ_FULL(n, 2); WALK_UNIT(n, 3)
#else
#define WALK_UNITS(n) READ_FULL(n, 0); WALK_UNIT(n, 1); WALK_UNIT(n, 2)
#endif
#ifdef TRUST_TIMES
#define RELIST_TOP(n) skip
#else
#define RELIST_TOP(n) \
        if \
        :: !top && racy -> \
                d_step { top = (lst[MV1] != at[MV1] || lst[MV2] != at[MV2]); \
                         printf("gc: walk %d: lists boxes/ again in one call: changed %d\n", n, top) } \
        :: else -> skip \
        fi
#endif
#define VERIFY_TOP(n) \
        d_step { top = ctchg; whole = 0; printf("gc: walk %d: fstat boxes/ again: changed %d\n", n, top) }; \
        RELIST_TOP(n)
#ifdef POST_PROOF
#define ROUND_END(n) \
        if \
        :: pass == 0 -> \
                d_step { \
                        top = ctchg || racy; whole = 0; \
                        if \
                        :: top -> ucg[MV1] = 1; ucg[MV2] = 1; whole = 1; inc = 0; \
                                printf("gc: walk %d: boxes/ proves nothing: walked again whole, careful\n", n) \
                        :: else -> printf("gc: walk %d: boxes/ is proven by its timestamp\n", n) \
                        fi \
                } \
        :: else -> VERIFY_TOP(n) \
        fi
#else
#define ROUND_END(n) VERIFY_TOP(n)
#endif
#define WALK_HOME(n) \
        d_step { pass = 0; top = 1; whole = 1; ucg[MV1] = 1; ucg[MV2] = 1 }; \
        do \
        :: if \
           :: top -> \
                atomic { ctchg = 0; racy = (pass == 0 -> rtick : 1); \
                         printf("gc: walk %d, round %d: fstat boxes/ (racy %d)\n", n, pass + 1, racy) }; \
                LIST_UNIT(n, MV1); LIST_UNIT(n, MV2) \
           :: else -> skip \
           fi; \
           WALK_UNITS(n); \
           ROUND_END(n); \
           if \
           :: !top && !ucg[MV1] && !ucg[MV2] -> \
                d_step { inc = inc || uinc[MV1] || uinc[MV2]; \
                         printf("gc: walk %d: round %d saw no change: its view counts\n", n, pass + 1) \
                         VIEW_CHECK }; \
                break \
           :: (top || ucg[MV1] || ucg[MV2]) && pass < NROUND - 1 -> \
                d_step { pass++; printf("gc: walk %d: changed (boxes/ %d, names %d %d): round %d\n", \
                                        n, top, ucg[MV1], ucg[MV2], pass + 1) } \
           :: (top || ucg[MV1] || ucg[MV2]) && pass == NROUND - 1 -> \
                d_step { inc = 1; printf("gc: walk %d: boxes/ never settled: fails closed\n", n) }; \
                break \
           fi \
        od; \
        atomic { pass = 0; racy = 0; top = 0; whole = 0; lst[MV1] = 0; lst[MV2] = 0; \
                 ucg[MV1] = 0; ucg[MV2] = 0; uinc[MV1] = 0; uinc[MV2] = 0 VIEW_DONE }
#endif
#endif
#endif

/*
 * A run may be killed after any step that changed the file system. (Killing
 * it before its first rename is the same as a run that has not started.)
 */
#define CRASH_POINT \
        if \
        :: crashes < NCRASH -> crashes++; printf("gc: killed\n"); goto killed \
        :: true -> skip \
        fi

/* Phase 1 for image i: statx (the file scanned?), rename aside, statx the aside name. */
#define MOVE_ASIDE(i) \
        if \
        :: cand[i] == 0 -> skip \
        :: d_step { cand[i] != 0 && cur[i] != cand[i] -> cand[i] = 0 }   /* changed: keep */ \
        :: cand[i] != 0 && cur[i] == cand[i] -> \
                d_step { \
                        if \
                        :: asd[i] == 0 && cur[i] != 0 -> \
                                asd[i] = cur[i]; cur[i] = 0; \
                                mov[i] = (asd[i] == cand[i]); \
                                printf("gc: phase 1: moves image %d aside\n", i) \
                        :: else -> cand[i] = 0;      /* cannot move aside: keep */ \
                                printf("gc: phase 1: cannot move image %d aside\n", i) \
                        fi \
                }; \
                CRASH_POINT; \
                if \
                :: cand[i] != 0 && !mov[i] -> PUT_BACK(i); cand[i] = 0; CRASH_POINT   /* replaced meanwhile */ \
                :: else -> skip \
                fi \
        fi

/* Phase 3 for image i: put back if the second walk was incomplete or pinned it, else unlink. */
#define UNLINK(i) \
        d_step { \
                asd[i] = 0; \
                printf("gc: phase 3: unlinks image %d\n", i); \
                SAFE \
        }
#ifdef NO_RECHECK
#define UNLINK_OR_PUT_BACK(i) \
        if \
        :: mov[i] -> UNLINK(i) \
        :: else -> skip \
        fi
#else
#define UNLINK_OR_PUT_BACK(i) \
        if \
        :: mov[i] && (inc || (pin[i] & (1 << cand[i])) != 0) -> PUT_BACK(i) \
        :: mov[i] && !inc && (pin[i] & (1 << cand[i])) == 0 -> UNLINK(i) \
        :: else -> skip \
        fi
#endif

#ifdef GRACE0
#define IN_GRACE(i) false
#else
#define IN_GRACE(i) (cur[i] == cand[i] && fresh[i])
#endif
#define CLASSIFY(i) \
        if \
        :: cand[i] == 0 -> skip \
        :: cand[i] != 0 && (inc || (pin[i] & (1 << cand[i])) != 0) -> cand[i] = 0 \
        :: cand[i] != 0 && !(inc || (pin[i] & (1 << cand[i])) != 0) && IN_GRACE(i) -> cand[i] = 0 \
        :: else -> printf("gc: selects image %d\n", i) \
        fi

#ifdef LOCKED
/* flock(<home>/.lock, LOCK_EX) from phase 1 to the end of the run (a killed run drops it) */
#define GC_LOCK \
        if \
        :: cand[0] == 0 && cand[1] == 0 -> skip \
        :: else -> d_step { lk == 0 -> lk = 255; printf("gc: takes the lock\n") } \
        fi
#define GC_UNLOCK \
        if \
        :: lk == 255 -> lk = 0 \
        :: else -> skip \
        fi
/* writers: LOCK_SH from their existence check until their overlay is in place */
#define W_LOCK          d_step { lk != 255 -> lk++ }
#define W_UNLOCK        lk--
#else
#define GC_LOCK         skip
#define GC_UNLOCK       skip
#define W_LOCK          skip
#define W_UNLOCK        skip
#endif

#ifdef DIRS
proctype gc() {         /* run by init once boxes/ is laid out */
#else
active proctype gc() {
#endif
        byte pin[NI];   /* generations a walk found in a chain, as bits */
        bit inc;        /* the walk was not complete */
        byte cand[NI];  /* the generation scanned under each name; 0 once kept */
        bit mov[NI];    /* moved aside */
        byte crashes;
#ifdef DIRS
        byte lst[NP];   /* the listing of boxes/: the inode under each name */
        byte opn;       /* the directory just opened */
        bit racy;       /* boxes/'s timestamp was in the current tick at the pass's first fstat */
        bit chg;        /* the pass is void */
        byte pass;
#ifdef REWALK
        bit top;        /* boxes/ changed: stat and list it again */
        bit whole;      /* this round reads every unit */
        bit ucg[NP];    /* the unit under each name is still to be walked */
        bit uinc[NP];   /* its walk found a missing layer */
#ifdef VIEW
        byte urd[NP];   /* the directory it was read from */
#endif
#endif
#endif

end:    do
        :: /* recover_aside(): put back what a killed run left aside */
                RECOVER(0); CRASH_POINT;
                RECOVER(1);

                /* refs_collect(): the first walk */
                WALK_HOME(1);

                /* gc_scan_candidates(): statx each name */
                cand[0] = cur[0];
                cand[1] = cur[1];

                /*
                 * gc_classify_candidates(): keep what is pinned, everything if the walk
                 * was incomplete, and what is in grace. A candidate replaced since the
                 * scan is kept whatever its age (the statx in move_aside() sees the
                 * change). Locks held by running VMs keep images too; the model does
                 * not count on them.
                 */
                d_step {
                        CLASSIFY(0); CLASSIFY(1);
                        inc = 0; pin[0] = 0; pin[1] = 0
                }

                GC_LOCK;
                /* move_aside(): phase 1 */
                MOVE_ASIDE(0);
                MOVE_ASIDE(1);

#ifndef NO_RECHECK
                /* recheck_and_unlink(): phase 2, the second walk (a no-op if nothing was moved) ... */
                if
                :: mov[0] || mov[1] -> WALK_HOME(2)
                :: else -> skip
                fi;
#endif
                /* ... and phase 3 */
                UNLINK_OR_PUT_BACK(0); CRASH_POINT;
                UNLINK_OR_PUT_BACK(1);
killed:         /* the run ends or dies: its memory is gone, aside files stay */
                atomic { inc = 0; pin[0] = 0; pin[1] = 0; cand[0] = 0; cand[1] = 0; mov[0] = 0; mov[1] = 0; GC_UNLOCK }
        od
}

/*
 * A writer (who: start or clone) creates overlay slot s backing onto image i.
 * qemu-img create (without -u) opens the backing file, closes it, and then
 * creates the overlay: check, then write. A writer that finds the name
 * missing fails with ENOENT before any overlay names it: a clean failure.
 * reuse: the writer did not build the image, so the grace does not protect
 * it; if the file it opened no longer carries the name when its overlay
 * appears, the writer is in the documented window (win).
 */
#ifdef VERIFY
#define CREATED(s)      skip
#else
#define CREATED(s)      box[s] = 1; SAFE   /* the writer is done: the box exists */
#endif
#ifdef BIND_INODE
#define BIND(s, g)      og[s] = g
#define OPENED(g, i)    g = cur[i]           /* the file opened */
#define MOVED(g, i)     (cur[i] != g)        /* it no longer carries the name */
#else
#define BIND(s, g)      skip
#define OPENED(g, i)    skip
#define MOVED(g, i)     (cur[i] == 0)        /* the name no longer resolves */
#endif

#ifdef ATOMIC_OPEN
#define OPEN_AND_CREATE(who, s, i, reuse) \
        if \
        :: d_step { cur[i] == 0 -> ok = 0; printf("%e, slot %d: image %d is missing: fails (ENOENT)\n", who, s, i) } \
        :: d_step { cur[i] != 0 -> ov[s] = i + 1; BIND(s, cur[i]); ok = 1; \
                    printf("%e, slot %d: opens image %d and creates its overlay\n", who, s, i); \
                    CREATED(s) } \
        fi
#else
#define OPEN_AND_CREATE(who, s, i, reuse) \
        if \
        :: d_step { cur[i] == 0 -> ok = 0; printf("%e, slot %d: opens image %d: ENOENT, fails\n", who, s, i) } \
        :: d_step { cur[i] != 0 -> OPENED(g, i); printf("%e, slot %d: opens image %d\n", who, s, i) } -> \
                d_step { \
                        ov[s] = i + 1; BIND(s, g); win[s] = (reuse && MOVED(g, i)); ok = 1; \
                        printf("%e, slot %d: creates its overlay on image %d\n", who, s, i); \
                        if \
                        :: win[s] -> printf("    (in the window: the file it opened is no longer image %d)\n", i) \
                        :: else -> skip \
                        fi; \
                        CREATED(s) \
                } \
        fi
#endif

#ifdef VERIFY
/* stat the image once the overlay is in place; if it is gone, remove the overlay and fail */
#define COMMIT(who, s, i) \
        if \
        :: ok -> d_step { \
                        if \
                        :: cur[i] == 0 -> ov[s] = 0; win[s] = 0; \
                                printf("%e, slot %d: image %d is gone: removes its overlay, fails\n", who, s, i) \
                        :: else -> box[s] = 1; printf("%e, slot %d: image %d is still there: done\n", who, s, i) \
                        fi; \
                        SAFE \
                } \
        :: else -> skip \
        fi
#else
#define COMMIT(who, s, i) skip
#endif

mtype = { start, clone };     /* writer names in trails */

/* A box start: reuse the cached image, or build it in tmp/ and rename it in. */
proctype starter(byte s) {
        byte i, g;
        bit built, ok;

        W_LOCK;
        if                                          /* stat images/disk-images/<i> */
        :: d_step { cur[0] != 0 -> i = 0; printf("start, slot %d: image 0 is cached\n", s) }
        :: d_step { cur[1] != 0 -> i = 1; printf("start, slot %d: image 1 is cached\n", s) }
        :: d_step { cur[0] == 0 -> i = 0; built = 1; printf("start, slot %d: image 0 is missing\n", s) }
        :: d_step { cur[1] == 0 -> i = 1; built = 1; printf("start, slot %d: image 1 is missing\n", s) }
        fi;
        if
        :: built ->
#ifdef BIND_INODE
                /* build in tmp/, rename in with RENAME_NOREPLACE (a concurrent build wins) */
                d_step {
                        if
                        :: cur[i] == 0 -> ngen[i]++; cur[i] = ngen[i]; fresh[i] = 1; building++;
                                printf("start, slot %d: builds image %d and renames it in\n", s, i);
                                SAFE    /* a box made on an older file of this name that is aside now dangles */
                        :: else -> built = 0;
                                printf("start, slot %d: builds image %d, another start was first: uses that\n", s, i)
                        fi
                }
#else
                /* build in tmp/, rename in */
                d_step {
                        ngen[i]++; cur[i] = ngen[i]; fresh[i] = 1; building++;
                        printf("start, slot %d: builds image %d and renames it in\n", s, i)
                }
#endif
        :: else -> skip
        fi;
        OPEN_AND_CREATE(start, s, i, !built);
        COMMIT(start, s, i);
        d_step {
                if
                :: built -> building--
                :: else -> skip
                fi;
                W_UNLOCK;
                i = 0; g = 0; built = 0; ok = 0
        }
}

/*
 * A snapshot or clone of a box: a new overlay in slot 0 on the same image,
 * made with qemu-img create -b <image>, or (CLONE_COPY) by copying the box's
 * overlay file, which reads the source and then writes the copy.
 */
#ifdef BIND_INODE
#define SOURCE_GEN(g, s) g = og[s]
#else
#define SOURCE_GEN(g, s) skip
#endif
proctype cloner() {
        byte i, g;
        bit ok, w;

        W_LOCK;
        if                                          /* read a box's overlay */
        :: d_step { box[1] -> i = ov[1] - 1; SOURCE_GEN(g, 1); w = win[1]; ok = 1;
                    printf("clone, slot 0: reads the overlay of slot 1 (image %d)\n", i) }
        :: d_step { box[2] -> i = ov[2] - 1; SOURCE_GEN(g, 2); w = win[2]; ok = 1;
                    printf("clone, slot 0: reads the overlay of slot 2 (image %d)\n", i) }
        :: d_step { !box[1] && !box[2] -> ok = 0 }  /* no box to clone */
        fi;
        if
        :: ok ->
#ifdef CLONE_COPY
                d_step {
                        ov[0] = i + 1; BIND(0, g); win[0] = w;
                        printf("clone, slot 0: writes its copy (the backing is not opened)\n");
                        CREATED(0)
                };
#else
                OPEN_AND_CREATE(clone, 0, i, 1);
#endif
                COMMIT(clone, 0, i)
        :: else -> skip
        fi;
        d_step { W_UNLOCK; i = 0; g = 0; ok = 0; w = 0 }
}

/* Removes a box (with its snapshots), or a base. */
proctype remover() {
        if
        :: d_step { box[0] -> ov[0] = 0; box[0] = 0; win[0] = 0; printf("remove: slot 0\n") }
        :: d_step { box[1] -> ov[1] = 0; box[1] = 0; win[1] = 0; printf("remove: slot 1\n") }
        :: d_step { box[2] -> ov[2] = 0; box[2] = 0; win[2] = 0; printf("remove: slot 2\n") }
        fi
}

#ifdef DIRS
/*
 * Renames in boxes/, for ever. A rename in the tick of boxes/'s current
 * timestamp leaves the timestamp as it is; otherwise it sets a new one, which
 * then lies in the current tick until the clock moves on.
 */
#ifdef RENAME
#define MOVE \
        if \
        :: at[1] != 0 -> at[3] = at[1]; at[1] = 0; printf("mover: renames the box directory of slot 1 (inode 2) from name 1 to name 3") \
        :: else -> at[1] = at[3]; at[3] = 0; printf("mover: renames the box directory of slot 1 (inode 2) from name 3 to name 1") \
        fi
#else
#define MOVE \
        tmp = at[1]; at[1] = at[2]; at[2] = tmp; tmp = 0; \
        printf("mover: exchanges the box directories under names 1 and 2 (slots 1 and 2)")
#endif
proctype mover() {
        byte tmp;

end:    do
        :: d_step { rtick -> MOVE; printf(" (same tick: boxes/ keeps its timestamp)\n") }
        :: d_step { !rtick -> MOVE; ctchg = 1; rtick = 1; printf(" (boxes/ gets a new timestamp)\n") }
        :: d_step { rtick -> rtick = 0; printf("mover: the timestamp clock leaves the tick\n") }
        od
}
#endif

init {
        /* Both images are cached, unreferenced and older than the grace. */
        atomic {
                cur[0] = 1; cur[1] = 1; ngen[0] = 1; ngen[1] = 1;
#ifdef DIRS
                at[0] = 1; at[1] = 2; at[2] = 3;   /* boxes/ is older than the tick */
                run gc();
                run mover();
#endif
                run starter(1);
#if NSTART > 1
                run starter(2);
#endif
#if NCLONE > 0
                run cloner();
#endif
#if NREMOVE > 0
                run remover();
#endif
        }
}

#ifdef LIVENESS
/*
 * An image that is unreferenced from some point on, while no box dangles (a
 * dangling box makes every walk incomplete, and the GC then keeps everything
 * on purpose), is eventually gone for good under its name ...
 */
ltl reclaimed { (<>[] (!REFS(0) && !ANY_DANGLES)) -> <>[] (cur[0] == 0) }
/* ... and no copy of it is left aside. */
ltl no_leftover { (<>[] (!REFS(0) && !ANY_DANGLES)) -> <>[] GONE(0) }
#endif
