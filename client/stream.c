/*
 * stream.c - streams: a ring of frames in one segment, a producer that loans
 * and publishes slots, subscribers that take and release frames in order.
 *
 * Frame k (1, 2, ...) lives in slot (k - 1) % slots. The producer holds the
 * segment's writer lock (segsync/sync.c) from loan to publish, so producers
 * are serialised and one killed mid-frame is broken out like a writer. Its
 * slot-table entry (struct tshm__slot) says what a slot holds: 2k once frame
 * k is published there, 2k - 1 while it is being written. Publishing sets
 * the stream's seq to 2k and wakes waiters, so subscribers wait with the
 * same futex as tshm_wait().
 *
 * Each subscriber has an entry in the subscriber table (a memfd from the
 * daemon; daemon/stream.c) whose cursor is the oldest frame it holds, or
 * the next frame it will take when it holds none: every frame before it is
 * released. A subscriber may hold up to its depth of frames (chosen at
 * subscribe, at most slots - 1, so that a producer always has a slot to
 * fill for the frame it waits for) and release them in any order; its
 * cursor moves when the oldest is released, and never backwards. The subscriber keeps that cursor
 * in its handle and only publishes it to the table (which any holder can write); who holds an
 * entry, and where it starts, is the roster's word (a memfd only the daemon can write). Under the
 * block policy the producer loans frame k only when the cursor of every entry the roster says is
 * held is past k - slots (the frame the slot held), else it sleeps on the table's @release word,
 * which a subscriber bumps after a release when a producer said it waits, and the daemon bumps when
 * a subscriber leaves. Under the overwrite policy the producer never looks; a subscriber checks a
 * slot's state before it hands a frame out and again at release, and counts what it skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#include "header.h"
#include "sync.h"

/* How often a producer waiting for a slot looks for dead subscribers. */
#define STREAM_GONE_CHECK_NS ((uint64_t)50 * 1000 * 1000)
/* How long a take whose producer is in the middle of a frame, or a loan
 * whose slot a subscriber still holds, spins before it sleeps, whatever the
 * handle's spin time, on a host with 2 CPUs or more. A futex sleep and
 * wake-up costs about this much and more on a VM (docs/performance.md: 10
 * to 13 us one way on 2 vCPUs), and the waker pays a FUTEX_WAKE on top;
 * a frame that close is cheaper to wait for awake. A stream whose frames
 * come further apart than this sleeps as before, a spin later. */
#define STREAM_HANDOFF_NS ((uint64_t)10 * 1000)
/* How many times a subscriber starting at the newest frame looks again
 * because seq moved a whole ring past it (stream_sub_newest). */
#define STREAM_NEWEST_TRIES 16u

struct tshm_sub {
        tshm_seg *seg;
        struct tshm__cur_sub *me; /* our entry in the subscriber table */
        uint32_t index;           /* its index */
        uint32_t serial;          /* our subscription's serial in the roster */
        uint64_t next;            /* the next frame we take: ours, not the table's */
        uint32_t depth;           /* the most frames we hold at once */
        uint32_t nheld;           /* frames held now */
        /* The frames held, oldest first: frames are taken in order, and a
         * release closes its gap, so held[0] is the oldest (what the
         * table's cursor says) and held[nheld - 1] the one taken last. */
        uint64_t *held;
        uint64_t held_one; /* held's storage at depth 1 */
        uint64_t missed;   /* in all */
};

static struct tshm__hdr *
stream_hdr(const tshm_seg *seg)
{
        return seg->map;
}

static uint8_t *
stream_slot_data(const tshm_seg *seg, uint64_t frame)
{
        return (uint8_t *)seg->data + ((frame - 1) % seg->slots) * seg->stride;
}

static struct tshm__slot *
stream_slot(const tshm_seg *seg, uint64_t frame)
{
        return &seg->ctl[(frame - 1) % seg->slots];
}

/* Map a memfd sent with an attach reply (the subscriber table read-write,
 * or the roster read-only); takes @fd. It must be sealed at its size
 * (daemon/stream.c), or another holder could shrink it under us, and the
 * roster sealed against writes, or it would be anyone's to forge. */
static int
stream_map_memfd(int fd, uint64_t size, uint64_t want, bool writable, const char *magic,
                 void **ret_map)
{
        int need = F_SEAL_SHRINK | F_SEAL_GROW | (writable ? 0 : F_SEAL_FUTURE_WRITE);
        const struct tshm__cur *head;
        struct stat st;
        void *map;
        int rv = 0;

        if (fd < 0) {
                return TSHM_EPROTO;
        }
        if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != want || size != want ||
            (fcntl(fd, F_GET_SEALS) & need) != need) {
                rv = TSHM_EBADHDR;
                goto out;
        }
        map = mmap(NULL, want, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
                rv = TSHM_ENOMEM;
                goto out;
        }
        /* Both begin with a magic and max_subs. */
        head = map;
        if (memcmp(head->magic, magic, sizeof(head->magic)) != 0 ||
            head->max_subs != TSHM_STREAM_MAX_SUBS) {
                (void)munmap(map, want);
                rv = TSHM_EBADHDR;
                goto out;
        }
        *ret_map = map;
out:
        (void)close(fd);
        return rv;
}

/* The attach requests for @seg's handle: map the subscriber table into
 * seg->cur and the roster into seg->ros, and return the subscriber index
 * (UINT32_MAX without @subscribe). With c->lock held. */
static int
stream_attach(tshm_client *c, tshm_seg *seg, bool subscribe, uint32_t *ret_index)
{
        struct tshm__req req = {
            .op = TSHM_OP_ATTACH, .handle = seg->handle, .subscribe = subscribe};
        struct tshm__reply reply;
        uint32_t index;
        void *map;
        int fd = -1, rv;

        if ((rv = tshm__client_call(c, &req, &reply, &fd)) < 0) {
                return rv;
        }
        index = (uint32_t)reply.handle;
        if (subscribe && reply.handle >= TSHM_STREAM_MAX_SUBS) {
                if (fd >= 0) {
                        (void)close(fd);
                }
                return TSHM_EPROTO;
        }
        if (seg->cur == NULL) {
                if ((rv = stream_map_memfd(fd, reply.size, TSHM_CUR_SIZE, true, TSHM_CUR_MAGIC,
                                           &map)) < 0) {
                        tshm__client_errmsg(c, "'%s': the daemon sent a bad subscriber table",
                                            seg->name);
                        return rv;
                }
                seg->cur = map;
        } else if (fd >= 0) {
                (void)close(fd);
        }
        if (seg->ros == NULL) {
                req.subscribe = false;
                req.roster = true;
                fd = -1;
                if ((rv = tshm__client_call(c, &req, &reply, &fd)) < 0) {
                        return rv;
                }
                if ((rv = stream_map_memfd(fd, reply.size, TSHM_ROS_SIZE, false, TSHM_ROS_MAGIC,
                                           &map)) < 0) {
                        tshm__client_errmsg(c, "'%s': the daemon sent a bad roster", seg->name);
                        return rv;
                }
                seg->ros = map;
        }
        *ret_index = index;
        return 0;
}

int
tshm__stream_attach_producer(tshm_client *c, tshm_seg *seg)
{
        uint32_t index;

        return stream_attach(c, seg, false, &index);
}

void
tshm__stream_unmap(tshm_seg *seg)
{
        if (seg->cur != NULL) {
                (void)munmap(seg->cur, TSHM_CUR_SIZE);
                seg->cur = NULL;
        }
        if (seg->ros != NULL) {
                (void)munmap((void *)seg->ros, TSHM_ROS_SIZE);
                seg->ros = NULL;
        }
        seg->ros_known = false;
}

uint32_t *
tshm__stream_sleepers(tshm_seg *seg, bool *ret_poll)
{
        const struct tshm__hdr *hdr = stream_hdr(seg);
        tshm_client *c = seg->client;
        uint32_t index;

        /* A sleeper with the table always counts itself, whatever the
         * header's flag says now: any writer of the stream can flip that
         * flag, and a sleeper that trusted it could sleep uncounted while
         * the publisher skips the wake-up. Counting where nobody reads the
         * count costs two atomic adds a sleep. */
        *ret_poll = false;
        if (seg->slots == 0) {
                return NULL;
        }
        if (seg->cur != NULL) {
                return &seg->cur->sleepers;
        }
        if (!(__atomic_load_n(&hdr->flags, __ATOMIC_RELAXED) & TSHM_HDR_FLAG_WAKE_COUNTED)) {
                return NULL; /* its publishers wake every time */
        }
        /* A read-only handle that is not a subscriber: map the table to count
         * in (one request, on the first wait that sleeps). */
        if (c != NULL) {
                (void)pthread_mutex_lock(&c->lock);
                if (seg->cur == NULL) {
                        (void)stream_attach(c, seg, false, &index);
                }
                (void)pthread_mutex_unlock(&c->lock);
        }
        if (seg->cur == NULL) {
                /* Publishers of this stream do not wake a sleeper that does
                 * not count: the caller polls instead. */
                *ret_poll = true;
                return NULL;
        }
        return &seg->cur->sleepers;
}

int
tshm_stream_create(tshm_client *c, const char *name, tshm_dtype dtype, size_t ndim,
                   const uint64_t *shape, uint32_t slots, tshm_stream_policy policy, unsigned mode,
                   unsigned flags, tshm_seg **ret_seg)
{
        struct tshm__req req = {.op = TSHM_OP_STREAM_CREATE,
                                .dtype = dtype,
                                .slots = slots,
                                .policy = (uint32_t)policy};

        /* The daemon checks them too; refusing here names the mistake. */
        if (slots < 2 || slots > TSHM_STREAM_MAX_SLOTS ||
            (unsigned)policy > TSHM_STREAM_OVERWRITE) {
                if (c != NULL) {
                        (void)pthread_mutex_lock(&c->lock);
                        tshm__client_errmsg(c, "%u slots or policy %u not valid", slots,
                                            (unsigned)policy);
                        (void)pthread_mutex_unlock(&c->lock);
                }
                return TSHM_EINVAL;
        }
        return tshm__client_create(c, &req, name, ndim, shape, mode, flags, ret_seg);
}

int
tshm_seg_is_stream(const tshm_seg *seg)
{
        return seg->slots != 0 ? 1 : 0;
}

/* Whether the process @pid holding a subscriber entry is gone. The daemon
 * frees the entry of a subscriber whose connection closes; this covers one
 * whose daemon was restarted meanwhile, so that no daemon will. */
static bool
stream_sub_gone(uint32_t pid)
{
        /* 0: the daemon freed the entry after our mask was read (kill(0, 0)
         * would ask about our own process group, and say alive). */
        return pid == 0 || (pid != UINT32_MAX && kill((pid_t)pid, 0) < 0 && errno == ESRCH);
}

_Static_assert(TSHM_STREAM_MAX_SUBS <= 64, "the held entries are a 64-bit mask");

/* Which roster entries are held, as a mask, read again only when the
 * roster's gen moved: the daemon, its only writer, bumps gen after every
 * join and leave (daemon/stream.c), so a mask read after gen is at least as
 * new as it. A join the mask misses is one whose subscriber starts after the
 * frame being loaned, so it needs none of the slots in question. */
static uint64_t
stream_held(tshm_seg *seg)
{
        uint32_t gen = __atomic_load_n(&seg->ros->gen, __ATOMIC_ACQUIRE), i;
        uint64_t held = 0;

        if (seg->ros_known && gen == seg->ros_gen) {
                return seg->ros_held;
        }
        for (i = 0; i < TSHM_STREAM_MAX_SUBS; i++) {
                if (__atomic_load_n(&seg->ros->subs[i].pid, __ATOMIC_ACQUIRE) != 0) {
                        held |= UINT64_C(1) << i;
                }
        }
        seg->ros_known = true;
        seg->ros_gen = gen;
        seg->ros_held = held;
        seg->free_below = 0; /* the cursors must be read again */
        return held;
}

/* Whether every live subscriber has released frame @frame - slots. Who
 * subscribes is the roster's word (the daemon's); their cursors are theirs.
 *
 * The cursors are the subscribers' cache lines, written at every release:
 * reading them for every frame moves a line per subscriber from its CPU.
 * An honest subscriber's cursor only grows, so once every held cursor was
 * seen at c or more, frames below c + slots have a free slot, and the next
 * look is due only then (seg->free_below). A cursor above the frame being
 * loaned is one no subscriber can have (frame is not published yet): it
 * counts as that frame, so a forged one buys at most one pass over the
 * ring before the cursors are read again (one a hostile holder of the table
 * keeps rewriting has that power with or without the cache). Without
 * @check_gone (a spin: no system call) a subscriber behind is not asked
 * whether its process is gone. */
static bool
stream_slot_free(tshm_seg *seg, uint64_t frame, bool check_gone)
{
        const struct tshm__cur *cur = seg->cur;
        uint64_t held, low = frame;
        uint32_t i;

        if (frame <= seg->slots) {
                return true;
        }
        held = stream_held(seg);
        if (frame < seg->free_below) {
                return true;
        }
        for (i = 0; held != 0; i++, held >>= 1) {
                uint64_t c;

                if (!(held & 1u)) {
                        continue;
                }
                c = __atomic_load_n(&cur->subs[i].cursor, __ATOMIC_SEQ_CST);
                if (c <= frame - seg->slots) {
                        if (!check_gone || !stream_sub_gone(__atomic_load_n(&seg->ros->subs[i].pid,
                                                                            __ATOMIC_ACQUIRE))) {
                                return false;
                        }
                        /* Gone: it holds nothing back, now or later (until
                         * the roster changes, the daemon freeing it). */
                        seg->ros_held &= ~(UINT64_C(1) << i);
                        continue;
                }
                low = c < low ? c : low;
        }
        seg->free_below = low + seg->slots;
        return true;
}

/* How long a wait on @seg spins before it sleeps: the handle's spin time,
 * or STREAM_HANDOFF_NS if that is longer, the other end is @busy, there is
 * a second CPU for it to be busy on, and nobody chose the spin time (a
 * chosen one, 0 included, is kept: a caller may have a reason not to burn
 * a core). */
static uint64_t
stream_spin_ns(const tshm_seg *seg, bool busy)
{
        if (busy && !seg->spin_chosen && seg->spin_ns < STREAM_HANDOFF_NS &&
            tshm__sync_multi_cpu()) {
                return STREAM_HANDOFF_NS;
        }
        return seg->spin_ns;
}

/* Before a loan sleeps for a slot: spin on the subscribers' cursors (a
 * subscriber that holds the slot is taking frames, so is likely busy).
 * Returns whether the slot is free. */
static bool
stream_spin_cursors(tshm_seg *seg, uint64_t frame, uint64_t deadline)
{
        uint64_t spin = stream_spin_ns(seg, true), now, until;

        if (spin == 0) {
                return false;
        }
        now = tshm__mono_ns();
        until = now + spin < deadline ? now + spin : deadline;
        while (now < until) {
                for (int i = 0; i < 16; i++) {
                        if (stream_slot_free(seg, frame, false)) {
                                return true;
                        }
                        tshm__sync_pause();
                }
                now = tshm__mono_ns();
        }
        return false;
}

/* Block policy: wait until the slot of @frame is released by every live
 * subscriber, until @deadline (0: @timeout_ms from the moment it must wait).
 * Returns 0, TSHM_ETIMEDOUT, TSHM_ENOENT or -errno. */
static int
stream_wait_slot(tshm_seg *seg, uint64_t frame, int timeout_ms, uint64_t deadline)
{
        struct tshm__cur *cur = seg->cur;
        int rv;

        /* Free already: no store to the table's first line, which every
         * subscriber reads at every release (stream_kick). */
        if (stream_slot_free(seg, frame, false)) {
                return 0;
        }
        if (deadline == 0) {
                deadline = tshm__deadline_ns(timeout_ms);
        }
        if (stream_spin_cursors(seg, frame, deadline)) {
                return 0;
        }
        for (;;) {
                uint32_t r;

                /* Say we wait before we look, so that a release after the
                 * look wakes us (both sides are seq_cst). */
                __atomic_store_n(&cur->prod_waiting, 1, __ATOMIC_SEQ_CST);
                r = __atomic_load_n(&cur->release, __ATOMIC_SEQ_CST);
                if (stream_slot_free(seg, frame, true)) {
                        /* Nobody needs to wake us now. (Producers are
                         * serialised by the lock; one that was broken out of
                         * it may sleep a slice longer.) */
                        __atomic_store_n(&cur->prod_waiting, 0, __ATOMIC_RELAXED);
                        return 0;
                }
                if (__atomic_load_n(&stream_hdr(seg)->state, __ATOMIC_SEQ_CST) &
                    TSHM_SYNC_UNLINKED) {
                        return TSHM_ENOENT;
                }
                /* In slices: a subscriber that dies with no daemon to free
                 * its entry wakes nobody (stream_sub_gone). */
                if ((rv = tshm__futex_wait(&cur->release, r, deadline, STREAM_GONE_CHECK_NS)) < 0) {
                        return rv;
                }
        }
}

int
tshm_stream_loan(tshm_seg *seg, int timeout_ms, void **ret_data)
{
        struct tshm__hdr *hdr = stream_hdr(seg);
        uint32_t tid = tshm__tid();
        uint64_t deadline = 0, frame;
        struct tshm__slot *slot;
        int rv;

        if (!seg->writable) {
                return TSHM_EACCES;
        }
        if (seg->slots == 0 || seg->loaned || seg->writing || ret_data == NULL) {
                return TSHM_EINVAL;
        }
        /* The clock is read for a deadline only when something must wait:
         * a free lock and a free slot need none. */
        if (!tshm__sync_trylock(hdr, tid)) {
                deadline = tshm__deadline_ns(timeout_ms);
                if ((rv = tshm__sync_lock(hdr, tid, timeout_ms, &seg->lock_seen)) < 0) {
                        return rv;
                }
        }
        frame = __atomic_load_n(&hdr->seq, __ATOMIC_ACQUIRE);
        if (!tshm__seq_ok(frame) || frame >= TSHM_SEQ_MAX - 2u) {
                /* A writer stored a counter no subscriber accepts. */
                tshm__sync_unlock(hdr);
                return TSHM_ETORN;
        }
        frame = frame / 2u + 1u;
        if (seg->policy == TSHM_STREAM_BLOCK && seg->cur != NULL &&
            (rv = stream_wait_slot(seg, frame, timeout_ms, deadline)) < 0) {
                tshm__sync_unlock(hdr);
                return rv;
        }
        slot = stream_slot(seg, frame);
        /* Odd: being written. The fence orders it before the frame's bytes,
         * as an overwrite-policy reader sees them (a seqlock's write side:
         * the store itself needs no stronger order). */
        __atomic_store_n(&slot->state, 2u * frame - 1u, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        seg->loaned = true;
        seg->loan_frame = frame;
        seg->write_tid = tid;
        *ret_data = stream_slot_data(seg, frame);
        return 0;
}

int64_t
tshm_stream_publish(tshm_seg *seg)
{
        struct tshm__hdr *hdr = stream_hdr(seg);
        uint64_t frame = seg->loan_frame, now;
        struct tshm__slot *slot;

        if (!seg->loaned) {
                return TSHM_EINVAL;
        }
        seg->loaned = false;
        if (!tshm__sync_still_mine(hdr, seg->write_tid)) {
                return TSHM_ETORN;
        }
        slot = stream_slot(seg, frame);
        now = tshm__real_ns();
        __atomic_store_n(&slot->ts_ns, now, __ATOMIC_RELAXED);
        __atomic_store_n(&slot->state, 2u * frame, __ATOMIC_RELEASE);
        __atomic_store_n(&hdr->publish_ns, now, __ATOMIC_RELAXED);
        /* Release: a subscriber that loads it (acquire) sees the slot's
         * state and bytes. What orders it against the sleeper count is the
         * bump of wake in tshm__sync_publish_wake (a seq_cst RMW), which a
         * sleeper's FUTEX_WAIT compares (segsync/sync.c). */
        __atomic_store_n(&hdr->seq, 2u * frame, __ATOMIC_RELEASE);
        tshm__sync_unlock(hdr);
        /* With nobody asleep, no system call (segsync/sync.c). The producer
         * always holds the table (tshm__stream_attach_producer). */
        tshm__sync_publish_wake(hdr, (hdr->flags & TSHM_HDR_FLAG_WAKE_COUNTED) && seg->cur != NULL
                                         ? &seg->cur->sleepers
                                         : NULL);
        return (int64_t)frame;
}

int
tshm_stream_discard(tshm_seg *seg)
{
        struct tshm__hdr *hdr = stream_hdr(seg);

        if (!seg->loaned) {
                return TSHM_EINVAL;
        }
        seg->loaned = false;
        /* The slot stays odd ("being written"): what it held before is
         * partly overwritten, and the next loan fills it again. */
        if (tshm__sync_still_mine(hdr, seg->write_tid)) {
                tshm__sync_unlock(hdr);
        }
        return 0;
}

/* Start @sub (just joined, at the roster's start) at the newest frame
 * still in the ring, if one was published when it joined: TSHM_SUB_NEWEST.
 *
 * The daemon sets a joining entry's cursor to the newest frame published
 * (start - 1), not to start, and stores it before the entry is held
 * (daemon/stream.c): a producer that sees the entry in the roster sees a
 * cursor that holds that frame's slot. tshm_sub_open_opts moves a
 * TSHM_SUB_NEXT subscriber's cursor up to start at once; cursors only grow,
 * which the producers' cache of them relies on (stream_slot_free).
 *
 * What is left is a producer that looked at the roster before the join,
 * and so may loan that slot without a look at our cursor. Under the
 * overwrite policy that is the policy's own race: the take checks the
 * slot's state before it hands the frame out (moving on to the next frame
 * still there, counted missed, as any take does) and the release checks it
 * again (TSHM_ETORN). Under the block policy the frame must stay put while
 * held, so we look at the header's seq after the join (the daemon's stores
 * happen before its reply, and ours, to move the cursor, is seq_cst before
 * the load): if it says frame newest + slots - 1 is not published yet,
 * then no loan of the newest frame's slot (frame newest + slots) can have
 * begun, and the one that comes later takes the writer lock after that
 * publish and so looks at the roster and our cursor after our look at
 * seq (the publish stores seq, the unlock and the lock's seq_cst
 * compare-and-swap order it before the producer's seq_cst loads of the
 * roster and cursors): it waits for our release. If seq says that frame
 * was published, a producer that missed us may be rewriting the slot: we
 * move the cursor up to the newest frame now (it only grows; the frames
 * skipped were published before we start, so they are not missed) and
 * look again. That ends at the first look that finds fewer than slots - 1
 * frames published past the newest we chose: a producer would have to
 * publish that many between our store of the cursor and our load of seq to
 * keep us going (test_stream_depth.c races one). Returns 0 or TSHM_ETORN
 * (a producer stored a bad seq). */
static void stream_kick(struct tshm__cur *cur);

static int
stream_sub_newest(tshm_sub *sub)
{
        tshm_seg *seg = sub->seg;
        uint64_t newest = sub->next - 1u, seq;
        unsigned tries;

        if (newest == 0) {
                return 0; /* nothing was published: the first frame is the next */
        }
        if (seg->policy != TSHM_STREAM_BLOCK) {
                sub->next = newest;
                __atomic_store_n(&sub->me->cursor, newest, __ATOMIC_RELEASE);
                return 0;
        }
        /* Bounded: only a writer that stores seq far ahead, again and again,
         * keeps it going (a real producer cannot outrun a few looks); then
         * the frame after the last newest seen is the first. */
        for (tries = 0;; tries++) {
                seq = __atomic_load_n(&stream_hdr(seg)->seq, __ATOMIC_SEQ_CST);
                if (!tshm__seq_ok(seq)) {
                        return TSHM_ETORN;
                }
                if (seq / 2u + 2u <= newest + seg->slots) {
                        break;
                }
                newest = seq / 2u;
                __atomic_store_n(&sub->me->cursor, newest, __ATOMIC_SEQ_CST);
                stream_kick(seg->cur);
                if (tries == STREAM_NEWEST_TRIES) {
                        newest++;
                        __atomic_store_n(&sub->me->cursor, newest, __ATOMIC_SEQ_CST);
                        stream_kick(seg->cur);
                        break;
                }
        }
        sub->next = newest;
        return 0;
}

int
tshm_sub_open(tshm_client *c, const char *name, tshm_sub **ret_sub)
{
        return tshm_sub_open_opts(c, name, NULL, ret_sub);
}

/* Check @opts (tshm_sub_opts, from the caller) into *@ret: 0, or -1 for a
 * nonzero reserved field, an unknown start or a depth no stream allows
 * (depth 0 is 1). */
static int
sub_opts_check(const tshm_sub_opts *opts, tshm_sub_opts *ret)
{
        if (opts->reserved[0] != 0 || opts->reserved[1] != 0 || opts->reserved[2] != 0 ||
            (opts->start != TSHM_SUB_NEXT && opts->start != TSHM_SUB_NEWEST) ||
            opts->depth >= TSHM_STREAM_MAX_SLOTS) {
                return -1;
        }
        *ret = *opts;
        if (ret->depth == 0) {
                ret->depth = 1;
        }
        return 0;
}

/* Set a joined subscriber's first frame as @start says. 0 or TSHM_ETORN. */
static int
stream_sub_start(tshm_sub *sub, uint32_t start)
{
        if (start == TSHM_SUB_NEWEST) {
                return stream_sub_newest(sub);
        }
        /* The daemon's cursor holds the newest frame published at the join
         * (stream_sub_newest); we hold none before our start. A producer that
         * saw the join's cursor may be waiting for that slot: tell it. */
        __atomic_store_n(&sub->me->cursor, sub->next, __ATOMIC_SEQ_CST);
        stream_kick(sub->seg->cur);
        return 0;
}

int
tshm_sub_open_opts(tshm_client *c, const char *name, const tshm_sub_opts *opts, tshm_sub **ret_sub)
{
        struct tshm__req req = {.op = TSHM_OP_OPEN, .writable = false};
        tshm_sub_opts o = {.depth = 1, .start = TSHM_SUB_NEXT};
        struct tshm__reply reply;
        tshm_seg *seg = NULL;
        tshm_sub *sub = NULL;
        uint64_t *held = NULL;
        uint32_t index;
        int fd = -1, rv;

        if (c == NULL || ret_sub == NULL || (opts != NULL && sub_opts_check(opts, &o) < 0)) {
                return TSHM_EINVAL;
        }
        if ((sub = tshm__calloc(1, sizeof(*sub))) == NULL ||
            (o.depth > 1 && (held = tshm__calloc(o.depth, sizeof(*held))) == NULL)) {
                tshm__free(sub);
                return TSHM_ENOMEM;
        }
        (void)pthread_mutex_lock(&c->lock);
        if ((rv = tshm__client_name(c, &req, name)) < 0 ||
            (rv = tshm__client_call(c, &req, &reply, &fd)) < 0 ||
            (rv = tshm__client_attach(c, &reply, fd, false, name, &seg)) < 0) {
                goto out;
        }
        if (seg->slots == 0) {
                tshm__client_errmsg(c, "'%s' is an array, not a stream", name);
                rv = TSHM_EINVAL;
                goto out;
        }
        /* Checked before we join: a subscriber that held every slot would
         * leave a block-policy producer nothing to fill. */
        if (o.depth > seg->slots - 1u) {
                tshm__client_errmsg(c, "'%s' has %u slots: a subscriber may hold %u frames at most",
                                    name, seg->slots, seg->slots - 1u);
                rv = TSHM_EINVAL;
                goto out;
        }
        if ((rv = stream_attach(c, seg, true, &index)) < 0 ||
            (rv = tshm__sub_init(sub, seg, index)) < 0) {
                goto out;
        }
        if (held != NULL) {
                sub->held = held;
                sub->depth = o.depth;
                held = NULL;
        }
        if ((rv = stream_sub_start(sub, o.start)) < 0) {
                goto out;
        }
        *ret_sub = sub;
        sub = NULL;
        seg = NULL;
out:
        (void)pthread_mutex_unlock(&c->lock);
        /* tshm_close takes the lock itself; it also frees the table. */
        (void)tshm_close(seg);
        if (sub != NULL && sub->held != &sub->held_one) {
                tshm__free(sub->held);
        }
        tshm__free(sub);
        tshm__free(held);
        /* The ring populated as tshm_open() populates by default (outside
         * the lock, as there), so that the first frames taken do not fault
         * page by page. */
        if (rv == 0) {
                tshm__seg_populate_auto((*ret_sub)->seg, 0);
        }
        return rv;
}

int
tshm__sub_init(tshm_sub *sub, tshm_seg *seg, uint32_t index)
{
        const struct tshm__ros_entry *r;

        if (seg->slots == 0 || seg->cur == NULL || seg->ros == NULL ||
            index >= TSHM_STREAM_MAX_SUBS) {
                return TSHM_EINVAL;
        }
        r = &seg->ros->subs[index];
        memset(sub, 0, sizeof(*sub));
        sub->seg = seg;
        sub->me = &seg->cur->subs[index];
        sub->index = index;
        sub->depth = 1;
        sub->held = &sub->held_one;
        /* Where we start and which subscription is ours: the roster's word,
         * which only the daemon writes (the table's cursor is anyone's). */
        sub->serial = __atomic_load_n(&r->serial, __ATOMIC_SEQ_CST);
        sub->next = __atomic_load_n(&r->start, __ATOMIC_SEQ_CST);
        if (sub->next == 0 || __atomic_load_n(&r->pid, __ATOMIC_SEQ_CST) == 0) {
                return TSHM_EPROTO;
        }
        if (sub->next > TSHM_SEQ_MAX / 2u) {
                /* The daemon started us after a counter a producer
                 * corrupted. */
                return TSHM_ETORN;
        }
        return 0;
}

size_t
tshm__sub_size(void)
{
        return sizeof(struct tshm_sub);
}

int
tshm__sub_ready(const tshm_sub *sub, uint64_t *ret_after_seq)
{
        const tshm_seg *seg = sub->seg;
        const struct tshm__hdr *hdr = stream_hdr(seg);
        const struct tshm__ros_entry *r = &seg->ros->subs[sub->index];
        uint64_t frame = sub->next, s;

        if (sub->nheld >= sub->depth) {
                return TSHM_EINVAL; /* a take would refuse: it holds its depth */
        }
        /* The same looks as tshm_sub_take(), in its order, without waiting. */
        if (__atomic_load_n(&r->pid, __ATOMIC_SEQ_CST) == 0 ||
            __atomic_load_n(&r->serial, __ATOMIC_SEQ_CST) != sub->serial ||
            __atomic_load_n(&stream_slot(seg, frame)->state, __ATOMIC_ACQUIRE) == 2u * frame) {
                return 1;
        }
        s = __atomic_load_n(&hdr->seq, __ATOMIC_SEQ_CST);
        if (!tshm__seq_ok(s) || (!(s & 1u) && s > 2u * (frame - 1u)) ||
            (__atomic_load_n(&hdr->state, __ATOMIC_SEQ_CST) & TSHM_SYNC_UNLINKED)) {
                return 1;
        }
        *ret_after_seq = 2u * (frame - 1u);
        return 0;
}

/* Tell a producer that waits for a slot that one may be free. */
static void
stream_kick(struct tshm__cur *cur)
{
        if (cur != NULL && __atomic_load_n(&cur->prod_waiting, __ATOMIC_SEQ_CST) != 0) {
                __atomic_store_n(&cur->prod_waiting, 0, __ATOMIC_SEQ_CST);
                (void)__atomic_add_fetch(&cur->release, 1, __ATOMIC_SEQ_CST);
                tshm__futex_wake(&cur->release);
        }
}

/* Before a take sleeps: spin on the line of the slot that frame @frame will
 * be published in, which the producer writes twice a frame (at loan and
 * publish), rather than on the header's, which it writes all through one
 * (lock, lease, seq, wake). Spins while the slot still holds @state (what it
 * held before) or frame @frame being written, until *@until (set on the
 * take's first spin: stream_spin_ns() from then, at most @deadline),
 * so that a slot that keeps changing (a writer may store anything there)
 * cannot keep a take spinning past it. Returns whether the slot changed. */
static bool
stream_spin(const tshm_seg *seg, const struct tshm__slot *slot, uint64_t frame, uint64_t state,
            uint64_t deadline, uint64_t *until)
{
        /* The producer is in the middle of a frame if it holds the lock
         * (one look at the header's line, only when the take must wait). */
        bool busy = __atomic_load_n(&stream_hdr(seg)->lock, __ATOMIC_RELAXED) != 0;
        uint64_t spin = stream_spin_ns(seg, busy), now;

        if (spin == 0) {
                return false;
        }
        now = tshm__mono_ns();
        if (*until == 0) {
                *until = now + spin < deadline ? now + spin : deadline;
        }
        while (now < *until) {
                for (int i = 0; i < 64; i++) {
                        uint64_t st = __atomic_load_n(&slot->state, __ATOMIC_RELAXED);

                        if (st != state && st != 2u * frame - 1u) {
                                return true;
                        }
                        tshm__sync_pause();
                }
                now = tshm__mono_ns();
        }
        return false;
}

int
tshm_sub_take(tshm_sub *sub, int timeout_ms, tshm_frame *ret_frame)
{
        tshm_seg *seg = sub->seg;
        struct tshm__hdr *hdr = stream_hdr(seg);
        uint64_t deadline = 0, spin_until = 0, frame, missed = 0;

        if (sub->nheld >= sub->depth || ret_frame == NULL) {
                return TSHM_EINVAL;
        }
        frame = sub->next;
        for (;;) {
                const struct tshm__ros_entry *r = &seg->ros->subs[sub->index];
                struct tshm__slot *slot;
                uint64_t head, state;
                int64_t s;

                if (__atomic_load_n(&r->pid, __ATOMIC_SEQ_CST) == 0 ||
                    __atomic_load_n(&r->serial, __ATOMIC_SEQ_CST) != sub->serial) {
                        /* Our entry was freed: the daemon stopped (it ends
                         * every subscription then). */
                        return TSHM_ECONNRESET;
                }
                /* The frame is in its slot already (the common case when
                 * the subscriber keeps up): the slot's line says so, and the
                 * header's, which the producer writes all through a frame,
                 * is not read at all. */
                slot = stream_slot(seg, frame);
                state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
                if (state == 2u * frame) {
                        break;
                }
                if (deadline == 0) {
                        /* Only a take that waits reads the clock. */
                        deadline = tshm__deadline_ns(timeout_ms);
                }
                if (stream_spin(seg, slot, frame, state, deadline, &spin_until)) {
                        continue; /* the slot changed: look again */
                }
                /* Wait for the counter, counted whatever the header's flag
                 * says (see tshm__stream_sleepers). */
                s = tshm__sync_wait(hdr, 2u * (frame - 1u), deadline, 0, true, &seg->cur->sleepers);
                if (s < 0) {
                        return (int)s;
                }
                head = (uint64_t)s / 2u;
                if (head - frame >= seg->slots) {
                        /* Overwritten already (overwrite policy): skip to the
                         * oldest frame the ring still holds. */
                        missed += head - seg->slots + 1u - frame;
                        frame = head - seg->slots + 1u;
                }
                slot = stream_slot(seg, frame);
                state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
                if (state == 2u * frame) {
                        break;
                }
                /* The producer is rewriting this slot for a later frame:
                 * this one is lost. */
                missed++;
                frame++;
        }
        memset(ret_frame, 0, sizeof(*ret_frame)); /* the reserved tail too */
        ret_frame->data = stream_slot_data(seg, frame);
        ret_frame->seq = frame;
        ret_frame->timestamp_ns =
            __atomic_load_n(&stream_slot(seg, frame)->ts_ns, __ATOMIC_RELAXED);
        ret_frame->missed = missed;
        sub->next = frame + 1u;
        if (missed != 0) {
                sub->missed += missed;
                __atomic_store_n(&sub->me->missed, sub->missed, __ATOMIC_RELAXED);
                /* Our cursor moves past what we skipped, unless an older
                 * frame still holds it. */
                if (sub->nheld == 0) {
                        __atomic_store_n(&sub->me->cursor, frame, __ATOMIC_SEQ_CST);
                }
        }
        sub->held[sub->nheld++] = frame;
        return 0;
}

int
tshm_sub_release_frame(tshm_sub *sub, uint64_t seq)
{
        tshm_seg *seg = sub->seg;
        uint64_t state, cursor;
        uint32_t i;

        for (i = sub->nheld; i > 0 && sub->held[i - 1u] != seq; i--) {
        }
        if (i == 0) {
                return TSHM_EINVAL; /* not held */
        }
        i--;
        sub->nheld--;
        memmove(&sub->held[i], &sub->held[i + 1u], (sub->nheld - i) * sizeof(sub->held[0]));
        /* Orders the caller's reads of the frame before the second look,
         * and the look before the cursor lets a producer reuse the slot. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        state = __atomic_load_n(&stream_slot(seg, seq)->state, __ATOMIC_RELAXED);
        /* The table's cursor is the oldest frame still held (the next to
         * take when none is): only the release of the oldest moves it, and
         * only that one can free the slot a producer waits for. */
        if (i == 0) {
                cursor = sub->nheld != 0 ? sub->held[0] : sub->next;
                if (seg->policy == TSHM_STREAM_OVERWRITE) {
                        /* No producer waits for a release under overwrite:
                         * no fence, and no look at the producer's line of
                         * the table. The cursor is only read for stats
                         * then. */
                        __atomic_store_n(&sub->me->cursor, cursor, __ATOMIC_RELEASE);
                } else {
                        __atomic_store_n(&sub->me->cursor, cursor, __ATOMIC_SEQ_CST);
                        stream_kick(seg->cur);
                }
        }
        return state == 2u * seq ? 0 : TSHM_ETORN;
}

int
tshm_sub_release(tshm_sub *sub)
{
        if (sub->nheld == 0) {
                return TSHM_EINVAL;
        }
        return tshm_sub_release_frame(sub, sub->held[sub->nheld - 1u]);
}

uint32_t
tshm_sub_held(const tshm_sub *sub)
{
        return sub->nheld;
}

tshm_seg *
tshm_sub_seg(const tshm_sub *sub)
{
        return sub->seg;
}

uint64_t
tshm_sub_missed(const tshm_sub *sub)
{
        return sub->missed;
}

int
tshm_sub_close(tshm_sub *sub)
{
        int rv;

        if (sub == NULL) {
                return 0;
        }
        /* Closing the handle ends the subscription in the daemon. */
        rv = tshm_close(sub->seg);
        if (sub->held != &sub->held_one) {
                tshm__free(sub->held);
        }
        tshm__free(sub);
        return rv;
}

int
tshm_stream_stat(tshm_client *c, const char *name, tshm_stream_info *ret_info)
{
        struct tshm__reply reply;
        int rv;

        if (c == NULL || ret_info == NULL) {
                return TSHM_EINVAL;
        }
        if ((rv = tshm__client_stat(c, name, &reply)) < 0) {
                return rv;
        }
        if (!reply.has_stream) {
                (void)pthread_mutex_lock(&c->lock);
                tshm__client_errmsg(c, "'%s' is an array, not a stream", name);
                (void)pthread_mutex_unlock(&c->lock);
                return TSHM_EINVAL;
        }
        *ret_info = reply.stream;
        return 0;
}
