/* The kernels' parallel runtime: run the parts of one job on whichever threads are running.
 *
 * A job is `parts` calls fn(ctx, 0) ... fn(ctx, parts - 1) that write disjoint outputs. The
 * calling thread posts the job and takes parts itself like any worker; a worker that is not
 * running (its core taken by another process) simply takes none, and the caller waits only for
 * parts that were already taken. Part boundaries are the caller's business and depend on the
 * problem size only, so results do not depend on which thread ran which part.
 *
 * Modes (for benchmarks that compare runtimes; the default is MLP_RUNTIME_POOL):
 *   MLP_RUNTIME_POOL            our own pool of worker threads with dynamic claiming
 *   MLP_RUNTIME_OPENMP_STATIC   one OpenMP parallel region per job, parts dealt statically
 *   MLP_RUNTIME_OPENMP_DYNAMIC  one OpenMP parallel region per job, parts claimed dynamically
 *   MLP_RUNTIME_REVERSED        every job on the caller, parts in reverse order (for tests)
 * Builds without threads (no pthreads, no OpenMP) run every job on the calling thread.
 */
#ifndef MLP_POOL_H
#define MLP_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*mlp_part_fn)(void *ctx, ptrdiff_t part);

enum {
    MLP_RUNTIME_POOL = 0,
    MLP_RUNTIME_OPENMP_STATIC = 1,
    MLP_RUNTIME_OPENMP_DYNAMIC = 2,
    MLP_RUNTIME_REVERSED = 3 /* the caller alone, last part first (tests: order independence) */
};

/* Run parts 0 .. parts-1 of fn, on at most `threads` threads (the caller included). Returns when
 * every part has run. Safe to call from several threads at once (a second caller runs its job on
 * its own thread) and from inside a part (the nested job runs on the thread that asked). */
void mlp_run_parts(ptrdiff_t parts, int threads, mlp_part_fn fn, void *ctx);

int mlp_runtime_threads_available(void); /* 1 when the build can run parts on several threads */
int mlp_runtime_default_threads(void);   /* OMP_NUM_THREADS, else the CPUs this process may use */
int mlp_runtime_mode(void);
int mlp_runtime_set_mode(int mode);      /* 0 on success, -1 for a mode this build lacks */
double mlp_runtime_spin_us(void);
void mlp_runtime_set_spin_us(double us); /* how long an idle thread spins before it sleeps */
void mlp_runtime_start_solo(double ms);  /* start a solo period now, as after a stall (tests) */
/* While on, idle workers spin up to MLP_KEEP_AWAKE_US after their last job when that is longer
 * than spin_us (never when spin_us is 0: no spinning was asked for): a training loop's steps
 * leave gaps longer than spin_us between jobs (the output layer, the loss), and a worker asleep
 * there woke too late for the next job. The fused epoch turns it on for the steps the tuner runs
 * on several threads and off at its end. One flag for the process: a second thread training at
 * the same time may turn it off early, which costs speed, not results. */
#define MLP_KEEP_AWAKE_US 2000.0
void mlp_runtime_keep_awake(int on);
int mlp_runtime_keeping_awake(void);

/* Mark a flag shared by the parts of one job (all writers store 1). */
static inline void mlp_flag_raise(int *flag) {
#if defined(__GNUC__) || defined(__clang__)
    __atomic_store_n(flag, 1, __ATOMIC_RELAXED);
#else
    *(volatile int *)flag = 1;
#endif
}

/* Thread-count tuner of a training loop: results are the same bits for every thread count, so
 * a loop may choose the count by measurement. A trial alternates six short blocks of steps on
 * `threads` and on one thread; each arm scores the median of its three blocks (time per row:
 * one block spoilt by interference does not decide, and neither does one lucky block of many
 * threads beside a busy process, which the best block let win where one thread was faster on
 * average). The loop keeps many threads unless one thread
 * was clearly faster, for an exploit phase of twenty trial durations (at least 0.2 s), then tries
 * again; a choice of one thread is re-checked sooner (2, 4, 8, 16 trial durations) while it
 * keeps winning, since a burst of interference can spoil a whole trial. So a second core that
 * became busy, or a placement where two cores cost more than they bring, is noticed within a
 * second or so, and a choice made in a moment of interference does not last. */
typedef struct {
    int trial;              /* 1 while a trial runs */
    int block;              /* trial block index: even blocks many threads, odd blocks one */
    int in_block;           /* steps done in this block */
    int block_steps;        /* steps per block */
    int choice;             /* 0: many threads, 1: one thread */
    double block_ns, block_rows;
    double scores[2][3];    /* per arm: ns per row of each of its blocks */
    int scored[2];          /* per arm: blocks scored so far */
    long long trial_ns;     /* duration of the trial so far */
    long long exploit_ns;   /* time left in the exploit phase */
    long long trials;
    int ones_in_a_row;      /* consecutive trials won by one thread */
} mlp_tuner;

void mlp_tuner_reset(mlp_tuner *t);
/* Threads for the next step (1 or `threads`). */
int mlp_tuner_threads(const mlp_tuner *t, int threads);
/* Record the step just run: its duration and rows. */
void mlp_tuner_record(mlp_tuner *t, long long ns, double rows);
long long mlp_now_ns(void);

/* Counters since the last reset (for tests and benchmarks). */
typedef struct {
    long long jobs;          /* jobs posted to the pool */
    long long serial_jobs;   /* jobs run on the caller alone (busy pool, nested, solo period) */
    long long parts_by_workers;
    long long stalls;        /* jobs whose caller waited longer than the stall limit */
    long long solo_periods;  /* times the pool fell back to the caller alone after a stall */
    long long late_wakeups;  /* jobs a worker left to the caller, having seen them late */
} mlp_runtime_stats;

void mlp_runtime_get_stats(mlp_runtime_stats *out);
void mlp_runtime_reset_stats(void);

#ifdef __cplusplus
}
#endif
#endif
