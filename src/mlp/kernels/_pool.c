/* The kernels' parallel runtime (see _pool.h for the contract).
 *
 * Why not an OpenMP parallel region per job: a region ends in a barrier that waits for every
 * thread of the team, also one whose core another process has taken. Measured on a 2-core VM
 * with one busy process beside: config C trained 13x slower on two OpenMP threads than on one,
 * each of the hundreds of regions per epoch waiting a scheduler time slice for the thread that
 * was not running. Here nobody waits for a thread that has not started:
 *
 *   - the caller publishes the job (fn, ctx, parts) and a claim word holding the job's
 *     generation (high 32 bits) and the unclaimed parts [front, back) (16 bits each; a job of
 *     more than 65535 parts keeps only the next part, in 32 bits);
 *   - every thread claims parts by compare-and-swap on that word, so a part is run exactly
 *     once whoever takes it, and a worker that wakes up late finds nothing left. The caller
 *     takes parts from the front, the workers from the back: with two threads of equal speed
 *     each gets the same half of every job step after step, and its data stays in its core's
 *     cache (claiming in one order made config C 8 % slower than OpenMP's static split);
 *   - the caller then waits only for parts that were taken: it spins briefly, then sleeps until
 *     the worker that finishes the last part wakes it;
 *   - idle workers spin for spin_us microseconds (jobs of one training step come microseconds
 *     apart), then sleep on a condition variable; a worker that sees a job more than 100 us
 *     after it was posted (waking a halted vCPU takes up to milliseconds on a small VM) leaves
 *     that job to the caller and is on time for the next;
 *   - when the caller had to wait much longer than its own parts took (a worker was descheduled
 *     in the middle of a part), the following jobs run on the caller alone for a while, a period
 *     that doubles while stalls keep coming (from 5 ms up to 0.5 s) and starts again from 5 ms
 *     after a quiet second: a machine whose second core is busy then trains at one-thread speed
 *     instead of paying a time slice per job. A job still running when the period ends hands
 *     its remaining parts to the pool.
 */
#include "_pool.h"
#include "_platform.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(_WIN32) && (defined(__GNUC__) || defined(__clang__))
#define MLP_HAVE_POOL 1
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#else
#define MLP_HAVE_POOL 0
#endif

#define MLP_MAX_WORKERS 256

static int g_mode =
#if MLP_HAVE_POOL
    MLP_RUNTIME_POOL;
#elif defined(_OPENMP)
    MLP_RUNTIME_OPENMP_DYNAMIC;
#else
    MLP_RUNTIME_POOL;
#endif

static double g_spin_us = 50.0;
static int g_keep_awake = 0;

/* ------------------------------------------------------------------------ statistics */
static long long s_jobs, s_serial, s_by_workers, s_stalls, s_solo, s_late;

#if defined(__GNUC__) || defined(__clang__)
#define STAT_ADD(counter, n) __atomic_fetch_add(&(counter), (n), __ATOMIC_RELAXED)
#define STAT_GET(counter) __atomic_load_n(&(counter), __ATOMIC_RELAXED)
#define STAT_SET(counter, v) __atomic_store_n(&(counter), (v), __ATOMIC_RELAXED)
#else
#define STAT_ADD(counter, n) ((counter) += (n))
#define STAT_GET(counter) (counter)
#define STAT_SET(counter, v) ((counter) = (v))
#endif

void mlp_runtime_get_stats(mlp_runtime_stats *out) {
    out->jobs = STAT_GET(s_jobs);
    out->serial_jobs = STAT_GET(s_serial);
    out->parts_by_workers = STAT_GET(s_by_workers);
    out->stalls = STAT_GET(s_stalls);
    out->solo_periods = STAT_GET(s_solo);
    out->late_wakeups = STAT_GET(s_late);
}

void mlp_runtime_reset_stats(void) {
    STAT_SET(s_jobs, 0);
    STAT_SET(s_serial, 0);
    STAT_SET(s_by_workers, 0);
    STAT_SET(s_stalls, 0);
    STAT_SET(s_solo, 0);
    STAT_SET(s_late, 0);
}

static void run_serial(ptrdiff_t parts, mlp_part_fn fn, void *ctx) {
    ptrdiff_t p;
    for (p = 0; p < parts; p++)
        fn(ctx, p);
}

/* ------------------------------------------------------------------------ OpenMP modes */
static void run_openmp(ptrdiff_t parts, int threads, mlp_part_fn fn, void *ctx, int dynamic) {
#ifdef _OPENMP
    long p;
    /* OpenMP 2.0 constructs only (MSVC) */
    if (dynamic) {
#pragma omp parallel num_threads(threads)
        {
            unsigned long long state = mlp_ftz_enter();
#pragma omp for schedule(dynamic, 1)
            for (p = 0; p < (long)parts; p++)
                fn(ctx, p);
            mlp_ftz_exit(state);
        }
    } else {
#pragma omp parallel num_threads(threads)
        {
            unsigned long long state = mlp_ftz_enter();
#pragma omp for schedule(static)
            for (p = 0; p < (long)parts; p++)
                fn(ctx, p);
            mlp_ftz_exit(state);
        }
    }
#else
    (void)threads;
    (void)dynamic;
    run_serial(parts, fn, ctx);
#endif
}

#if MLP_HAVE_POOL
/* ------------------------------------------------------------------------ the pool */
#define LOAD(x, order) __atomic_load_n(&(x), order)
#define STORE(x, v, order) __atomic_store_n(&(x), (v), order)
#define ACQ __ATOMIC_ACQUIRE
#define REL __ATOMIC_RELEASE
#define RLX __ATOMIC_RELAXED
#define SEQ __ATOMIC_SEQ_CST

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

#define STALL_MIN_NS 300000LL       /* a wait this long is a stall whatever the part sizes */
#define LATE_NS 100000LL            /* a worker this late for a job leaves it to the caller */
#define SOLO_MIN_NS 5000000LL       /* first solo period after a stall */
#define SOLO_MAX_NS 500000000LL
#define SOLO_RESET_NS 1000000000LL  /* a second without stalls starts the doubling again */

typedef struct {
    /* the job, written by the caller before it publishes the claim word */
    mlp_part_fn fn;
    void *ctx;
    ptrdiff_t parts;
    int two_ended;            /* the claim word holds front and back (parts <= 0xffff) */
    uint64_t claim;           /* generation << 32 | front << 16 | back, or | next part */
    ptrdiff_t done;           /* parts finished */
    uint32_t posted;          /* generation of the latest job; idle workers watch it */
    long long posted_at;      /* when it was posted (ns) */
    uint32_t generation;      /* the caller's counter (under `submit`) */
    int active;               /* workers that may take parts */
    int started;              /* worker threads created */
    int sleepers;             /* active workers asleep on `wake` */
    int caller_waiting;
    long long solo_until;     /* before this time (ns) jobs run on the caller alone */
    long long solo_length;
    long long last_stall;
    pthread_mutex_t submit;   /* one job in the pool at a time */
    pthread_mutex_t lock;     /* for the condition variables */
    pthread_cond_t wake;      /* idle workers */
    pthread_cond_t resized;   /* workers beyond `active` */
    pthread_cond_t finished;  /* the caller, waiting for the last part */
} Pool;

static Pool g_pool = {
    NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, SOLO_MIN_NS, 0,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
};
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

/* Claim and run parts of job `gen` until none is left, from the back of the unclaimed range
 * when `from_back`; returns how many this thread ran and the longest of them (ns) when
 * `longest` is given. */
static ptrdiff_t take_parts(Pool *pool, uint32_t gen, long long *longest, int from_back) {
    ptrdiff_t ran = 0;
    uint64_t word = LOAD(pool->claim, ACQ);
    for (;;) {
        mlp_part_fn fn;
        void *ctx;
        ptrdiff_t parts, part;
        uint64_t next;
        if ((uint32_t)(word >> 32) != gen)
            return ran;
        /* Read before the claim succeeds: if the job changed meanwhile, the claim fails. */
        fn = LOAD(pool->fn, RLX);
        ctx = LOAD(pool->ctx, RLX);
        parts = LOAD(pool->parts, RLX);
        if (LOAD(pool->two_ended, RLX)) {
            ptrdiff_t front = (ptrdiff_t)((word >> 16) & 0xffffu), back = (ptrdiff_t)(word & 0xffffu);
            if (front >= back)
                return ran;
            part = from_back ? back - 1 : front;
            next = from_back ? word - 1 : word + (1u << 16);
        } else {
            part = (ptrdiff_t)(word & 0xffffffffu);
            if (part >= parts)
                return ran;
            next = word + 1;
        }
        if (!__atomic_compare_exchange_n(&pool->claim, &word, next, 0, ACQ, ACQ))
            continue; /* `word` now holds the current value */
        if (longest) {
            long long t0 = now_ns(), t;
            fn(ctx, part);
            t = now_ns() - t0;
            if (t > *longest)
                *longest = t;
        } else {
            fn(ctx, part);
        }
        ran++;
        if (__atomic_add_fetch(&pool->done, 1, SEQ) == parts && LOAD(pool->caller_waiting, SEQ)) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->finished);
            pthread_mutex_unlock(&pool->lock);
        }
        word = LOAD(pool->claim, ACQ);
    }
}

static void *worker_main(void *arg) {
    Pool *pool = &g_pool;
    int index = (int)(intptr_t)arg;
    uint32_t seen = LOAD(pool->posted, ACQ);
    /* Our own thread: flush-to-zero for its whole life, nobody else's state to restore. */
    (void)mlp_ftz_enter();
    for (;;) {
        uint32_t gen;
        long long spin_until = 0, awake_until = 0;
        int checks = 0;
        for (;;) {
            if (index >= LOAD(pool->active, ACQ)) {
                pthread_mutex_lock(&pool->lock);
                while (index >= LOAD(pool->active, ACQ))
                    pthread_cond_wait(&pool->resized, &pool->lock);
                pthread_mutex_unlock(&pool->lock);
                seen = LOAD(pool->posted, ACQ); /* jobs posted meanwhile are long gone */
                spin_until = 0;
                continue;
            }
            gen = LOAD(pool->posted, ACQ);
            if (gen != seen)
                break;
            if (spin_until == 0) {
                long long started = now_ns();
                spin_until = started + (long long)(g_spin_us * 1000.0);
                awake_until = started + (long long)(MLP_KEEP_AWAKE_US * 1000.0);
            }
            if ((++checks & 31) != 0 || now_ns() < spin_until
                || (g_spin_us > 0 && LOAD(g_keep_awake, RLX) && now_ns() < awake_until)) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool->lock);
            __atomic_add_fetch(&pool->sleepers, 1, SEQ);
            while (LOAD(pool->posted, SEQ) == seen && index < LOAD(pool->active, ACQ))
                pthread_cond_wait(&pool->wake, &pool->lock);
            __atomic_sub_fetch(&pool->sleepers, 1, SEQ);
            pthread_mutex_unlock(&pool->lock);
            spin_until = 0;
        }
        seen = gen;
        if (now_ns() - LOAD(pool->posted_at, RLX) > LATE_NS) {
            /* Woken late (a halted vCPU, a busy core): a part taken now would end after the
             * caller's, which would wait for it. Leave this job to the caller; being awake,
             * this thread is on time for the next one. */
            STAT_ADD(s_late, 1);
            continue;
        }
        {
            ptrdiff_t ran = take_parts(pool, gen, NULL, 1);
            if (ran)
                STAT_ADD(s_by_workers, ran);
        }
    }
    return NULL;
}

static void after_fork_in_child(void) {
    /* The workers did not survive the fork: start from an empty pool. */
    Pool *pool = &g_pool;
    pthread_mutex_init(&pool->submit, NULL);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->resized, NULL);
    pthread_cond_init(&pool->finished, NULL);
    pool->started = 0;
    pool->active = 0;
    pool->sleepers = 0;
    pool->caller_waiting = 0;
    pool->solo_until = 0;
    g_keep_awake = 0;
}

static void register_atfork(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }

/* Make `workers` workers active, starting threads as needed (called under `submit`). Returns
 * how many are active: fewer when the system refuses a thread. */
static int ensure_workers(Pool *pool, int workers) {
    if (workers > MLP_MAX_WORKERS)
        workers = MLP_MAX_WORKERS;
    if (workers == LOAD(pool->active, RLX))
        return workers;
    pthread_once(&g_atfork_once, register_atfork);
    while (pool->started < workers) {
        pthread_t thread;
        pthread_attr_t attr;
        int failed;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        failed = pthread_create(&thread, &attr, worker_main, (void *)(intptr_t)pool->started);
        pthread_attr_destroy(&attr);
        if (failed)
            break;
        pool->started++;
    }
    if (workers > pool->started)
        workers = pool->started;
    pthread_mutex_lock(&pool->lock);
    STORE(pool->active, workers, REL);
    pthread_cond_broadcast(&pool->resized);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    return workers;
}

static void run_pool(Pool *pool, ptrdiff_t parts, int threads, mlp_part_fn fn, void *ctx) {
    uint32_t gen;
    long long longest = 0, wait_start, limit, spin_ns, now;
    ptrdiff_t first = 0;
    int checks = 0, two_ended;
    if (pthread_mutex_trylock(&pool->submit) != 0) {
        /* another thread's job is in the pool, or this is a job nested in a part */
        STAT_ADD(s_serial, 1);
        run_serial(parts, fn, ctx);
        return;
    }
    if (pool->solo_until) {
        /* A solo period: parts on the caller alone until it ends, then the rest on the pool
         * (a job of large parts must not stay on one thread long after the period). */
        while (first < parts && now_ns() < pool->solo_until)
            fn(ctx, first++);
        if (first == parts) {
            pthread_mutex_unlock(&pool->submit);
            STAT_ADD(s_serial, 1);
            return;
        }
        pool->solo_until = 0;
    }
    if (ensure_workers(pool, threads - 1) == 0) {
        pthread_mutex_unlock(&pool->submit);
        STAT_ADD(s_serial, 1);
        while (first < parts)
            fn(ctx, first++);
        return;
    }
    STAT_ADD(s_jobs, 1);
    STORE(pool->fn, fn, RLX);
    STORE(pool->ctx, ctx, RLX);
    STORE(pool->parts, parts, RLX);
    STORE(pool->done, first, RLX);
    two_ended = parts <= 0xffff;
    STORE(pool->two_ended, two_ended, RLX);
    gen = ++pool->generation;
    STORE(pool->claim, ((uint64_t)gen << 32) | (two_ended ? ((uint64_t)first << 16) | (uint64_t)parts
                                                          : (uint64_t)first), REL);
    STORE(pool->posted_at, now_ns(), RLX);
    STORE(pool->posted, gen, SEQ);
    if (LOAD(pool->sleepers, SEQ) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
    take_parts(pool, gen, &longest, 0);

    if (LOAD(pool->done, ACQ) < parts) {
        /* Only parts that a worker has taken are left. */
        wait_start = now_ns();
        spin_ns = (long long)(g_spin_us * 1000.0);
        limit = 2 * longest > STALL_MIN_NS ? 2 * longest : STALL_MIN_NS;
        now = wait_start;
        while (LOAD(pool->done, ACQ) < parts) {
            if ((++checks & 31) == 0) {
                now = now_ns();
                if (now - wait_start >= spin_ns)
                    break;
            }
            cpu_relax();
        }
        if (LOAD(pool->done, ACQ) < parts) {
            pthread_mutex_lock(&pool->lock);
            STORE(pool->caller_waiting, 1, SEQ);
            while (LOAD(pool->done, SEQ) < parts)
                pthread_cond_wait(&pool->finished, &pool->lock);
            STORE(pool->caller_waiting, 0, SEQ);
            pthread_mutex_unlock(&pool->lock);
            now = now_ns();
        }
        if (now - wait_start > limit) {
            STAT_ADD(s_stalls, 1);
            STAT_ADD(s_solo, 1);
            if (now - pool->last_stall > SOLO_RESET_NS)
                pool->solo_length = SOLO_MIN_NS;
            else if (pool->solo_length < SOLO_MAX_NS)
                pool->solo_length *= 2;
            pool->last_stall = now;
            pool->solo_until = now + pool->solo_length;
        }
    }
    pthread_mutex_unlock(&pool->submit);
}
#endif /* MLP_HAVE_POOL */

/* ------------------------------------------------------------------------ thread tuner */
#define TUNER_BLOCKS 6                /* many, one, many, one, many, one */
#define TUNER_BLOCK_NS 4000000LL      /* a block lasts about this long (4 ms) ... */
#define TUNER_MAX_BLOCK_STEPS 16      /* ... within these step counts */
#define TUNER_MIN_BLOCK_STEPS 1
#define TUNER_EXPLOIT 20              /* exploit phases, in trial durations ... */
#define TUNER_MIN_EXPLOIT_NS 200000000LL
#define TUNER_ONE_MUST_WIN 0.95       /* one thread only when 5 % faster per row */

long long mlp_now_ns(void) {
#if MLP_HAVE_POOL
    return now_ns();
#else
    return 0; /* no clock: the tuner sees equal arms and keeps one thread */
#endif
}

static void tuner_start_trial(mlp_tuner *t) {
    t->trial = 1;
    t->block = t->in_block = 0;
    t->block_ns = t->block_rows = 0;
    t->scored[0] = t->scored[1] = 0;
    t->trial_ns = 0;
}

/* The median of an arm's block scores (the mean of two, the one of one; 0 for none). */
static double tuner_score(const mlp_tuner *t, int arm) {
    const double *v = t->scores[arm];
    switch (t->scored[arm]) {
    case 0: return 0;
    case 1: return v[0];
    case 2: return 0.5 * (v[0] + v[1]);
    default: {
        double lo = v[0] < v[1] ? v[0] : v[1], hi = v[0] < v[1] ? v[1] : v[0];
        return v[2] < lo ? lo : v[2] > hi ? hi : v[2];
    }
    }
}

void mlp_tuner_reset(mlp_tuner *t) {
    memset(t, 0, sizeof(*t));
    t->block_steps = TUNER_MIN_BLOCK_STEPS;
    tuner_start_trial(t);
}

int mlp_tuner_threads(const mlp_tuner *t, int threads) {
    if (threads <= 1)
        return 1;
    if (t->trial)
        return (t->block & 1) ? 1 : threads;
    return t->choice ? 1 : threads;
}

void mlp_tuner_record(mlp_tuner *t, long long ns, double rows) {
    int arm;
    if (!t->trial) {
        t->exploit_ns -= ns;
        if (t->exploit_ns <= 0)
            tuner_start_trial(t);
        return;
    }
    t->trial_ns += ns;
    if (t->block == 0 && t->in_block == 0 && ns > 0) {
        long long steps = TUNER_BLOCK_NS / ns;
        t->block_steps = (int)(steps < TUNER_MIN_BLOCK_STEPS ? TUNER_MIN_BLOCK_STEPS
                               : steps > TUNER_MAX_BLOCK_STEPS ? TUNER_MAX_BLOCK_STEPS : steps);
    }
    /* With several steps a block, its first pays for the switch (waking threads, moving cache
     * lines) and is left out. */
    if (t->block_steps < 3 || t->in_block > 0) {
        t->block_ns += (double)ns;
        t->block_rows += rows;
    }
    if (++t->in_block < t->block_steps)
        return;
    arm = t->block & 1;
    if (t->block_rows > 0 && t->scored[arm] < 3)
        t->scores[arm][t->scored[arm]++] = t->block_ns / t->block_rows;
    t->in_block = 0;
    t->block_ns = t->block_rows = 0;
    if (++t->block < TUNER_BLOCKS)
        return;
    {
        /* Many threads unless one is clearly faster. Interference from other processes or
         * other thread pools can make a whole trial look bad for many threads, so a choice of
         * one thread is checked again soon: after 2, 4, 8, 16 trial durations while it keeps
         * winning, then 20 like a choice of many. */
        double many_score = tuner_score(t, 0), one_score = tuner_score(t, 1);
        int one = many_score > 0 && one_score > 0 && one_score < TUNER_ONE_MUST_WIN * many_score;
        long long factor;
        t->ones_in_a_row = one ? t->ones_in_a_row + 1 : 0;
        factor = one && t->ones_in_a_row < 5 ? (2LL << (t->ones_in_a_row - 1)) : TUNER_EXPLOIT;
        t->choice = one;
        t->trial = 0;
        t->trials++;
        t->exploit_ns = factor * t->trial_ns;
        if (t->exploit_ns < TUNER_MIN_EXPLOIT_NS)
            t->exploit_ns = TUNER_MIN_EXPLOIT_NS;
    }
}

/* ------------------------------------------------------------------------ entry points */
void mlp_run_parts(ptrdiff_t parts, int threads, mlp_part_fn fn, void *ctx) {
    if (parts <= 0)
        return;
    if (threads > parts)
        threads = (int)parts;
    if (g_mode == MLP_RUNTIME_REVERSED) {
        while (parts-- > 0)
            fn(ctx, parts);
        return;
    }
    if (threads <= 1 || (uint64_t)parts > 0xffffffffu) { /* the claim word counts 32 bits */
        run_serial(parts, fn, ctx);
        return;
    }
    switch (g_mode) {
    case MLP_RUNTIME_OPENMP_STATIC:
        run_openmp(parts, threads, fn, ctx, 0);
        return;
    case MLP_RUNTIME_OPENMP_DYNAMIC:
        run_openmp(parts, threads, fn, ctx, 1);
        return;
    default:
#if MLP_HAVE_POOL
        run_pool(&g_pool, parts, threads, fn, ctx);
#else
        run_serial(parts, fn, ctx);
#endif
    }
}

int mlp_runtime_threads_available(void) {
#if MLP_HAVE_POOL || defined(_OPENMP)
    return 1;
#else
    return 0;
#endif
}

int mlp_runtime_default_threads(void) {
    const char *env = getenv("OMP_NUM_THREADS");
    long n = 0;
    if (env && *env) {
        n = strtol(env, NULL, 10); /* "4,2" (nested levels) means 4 */
        if (n >= 1)
            return n > MLP_MAX_WORKERS ? MLP_MAX_WORKERS + 1 : (int)n;
    }
#ifdef _OPENMP
    n = omp_get_max_threads();
#elif MLP_HAVE_POOL && defined(__linux__) && defined(CPU_COUNT)
    {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof(set), &set) == 0)
            n = CPU_COUNT(&set);
    }
#endif
#if MLP_HAVE_POOL && defined(_SC_NPROCESSORS_ONLN)
    if (n < 1)
        n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
    return n >= 1 ? (int)n : 1;
}

void mlp_runtime_start_solo(double ms) {
#if MLP_HAVE_POOL
    pthread_mutex_lock(&g_pool.submit);
    g_pool.solo_until = now_ns() + (long long)(ms * 1e6);
    pthread_mutex_unlock(&g_pool.submit);
#else
    (void)ms;
#endif
}

int mlp_runtime_mode(void) { return g_mode; }

int mlp_runtime_set_mode(int mode) {
    if (mode == MLP_RUNTIME_POOL && !MLP_HAVE_POOL)
        return -1;
#ifndef _OPENMP
    if (mode == MLP_RUNTIME_OPENMP_STATIC || mode == MLP_RUNTIME_OPENMP_DYNAMIC)
        return -1;
#endif
    if (mode < 0 || mode > MLP_RUNTIME_REVERSED)
        return -1;
    g_mode = mode;
    return 0;
}

void mlp_runtime_keep_awake(int on) {
#if MLP_HAVE_POOL
    if (LOAD(g_keep_awake, RLX) != on)
        STORE(g_keep_awake, on, RLX);
#else
    (void)on;
#endif
}

int mlp_runtime_keeping_awake(void) {
#if MLP_HAVE_POOL
    return LOAD(g_keep_awake, RLX);
#else
    return g_keep_awake;
#endif
}

double mlp_runtime_spin_us(void) { return g_spin_us; }

void mlp_runtime_set_spin_us(double us) { g_spin_us = us < 0 ? 0 : us; }
