# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels of the CPU backend: arithmetic only.

Every function here trusts its arguments: shapes, dtypes, contiguity and value ranges are checked
by the Python callers (``mlp.backends.cpu`` and ``mlp.backends.cpu_plan``). All loops run without
the GIL, over float32 or float64 through the ``floating`` fused type.

Threading (DESIGN.md section 3): work is split into parts whose boundaries depend only on the
problem size, never on the thread count, and every output element is produced by exactly one part,
so results are bit-identical for any number of threads and any order in which parts run. Parts
run through ``_run`` on the runtime of ``_pool.c`` (whichever thread is running takes the next
part; nobody waits for a thread that has not started). GEMMs are split by rows or by columns
into single-threaded BLAS calls, one per part (``_blas.pxd``; the BLAS is chosen by
``mlp._blas_choice``). Below a size threshold everything runs on the calling thread.
Flush-to-zero: every kernel that goes through ``_run`` sets it on the calling thread and restores
it afterwards, and the pool's own threads keep it on for good; only the flat reductions
``sum_of_squares`` and ``sum_of_abs`` below one part (32768 elements) run in the caller's mode.
"""
from cython cimport floating
from libc.stddef cimport ptrdiff_t
from libc.math cimport erf, erff, exp, expf, expm1, expm1f, fabs, fabsf, log, log1p, log1pf, logf
from libc.math cimport pow, sqrt, sqrtf, tanh, tanhf
from libc.stdint cimport int64_t, uint64_t

from ._blas cimport (gemm_rowmajor, mlp_dgemm, mlp_dgemm_fn, mlp_dgemv, mlp_dgemv_fn, mlp_sgemm,
                     mlp_sgemm_fn, mlp_sgemv, mlp_sgemv_fn)
from scipy.linalg cimport cython_blas
from libc.stdint cimport uintptr_t

cdef extern from "_platform.h" nogil:
    int mlp_openmp_enabled()
    int mlp_omp_max_threads()
    unsigned long long mlp_ftz_enter()
    void mlp_ftz_exit(unsigned long long old)
    int mlp_ftz_supported()
    int mlp_ftz_active()

cdef extern from "_pool.h" nogil:
    ctypedef void (*mlp_part_fn)(void* ctx, ptrdiff_t part) noexcept nogil
    ctypedef struct mlp_runtime_stats:
        long long jobs
        long long serial_jobs
        long long parts_by_workers
        long long stalls
        long long solo_periods
        long long late_wakeups
    void mlp_run_parts(ptrdiff_t parts, int threads, mlp_part_fn fn, void* ctx)
    int mlp_runtime_threads_available()
    int mlp_runtime_default_threads()
    int mlp_runtime_mode()
    int mlp_runtime_set_mode(int mode)
    double mlp_runtime_spin_us()
    void mlp_runtime_set_spin_us(double us)
    void mlp_runtime_start_solo(double ms)
    void mlp_runtime_keep_awake(int on)
    int mlp_runtime_keeping_awake()
    void mlp_runtime_get_stats(mlp_runtime_stats* out)
    void mlp_runtime_reset_stats()
    void mlp_flag_raise(int* flag)
    ctypedef struct mlp_tuner:
        int trial
        int choice
        int block_steps
        long long trials
    void mlp_tuner_reset(mlp_tuner* t)
    int mlp_tuner_threads(const mlp_tuner* t, int threads)
    void mlp_tuner_record(mlp_tuner* t, long long ns, double rows)
    long long mlp_now_ns()

cdef extern from "_simd.h" nogil:
    void mlp_adam_f32(float* param, const float* grad, float* m, float* v, float* vmax,
                      Py_ssize_t i0, Py_ssize_t i1, float b1, float b2, float step,
                      float inv_bc2, float eps, float wd, float shrink, int decoupled,
                      int amsgrad)
    void mlp_adam_f64(double* param, const double* grad, double* m, double* v, double* vmax,
                      Py_ssize_t i0, Py_ssize_t i1, double b1, double b2, double step,
                      double inv_bc2, double eps, double wd, double shrink, int decoupled,
                      int amsgrad)
    void mlp_smooth_grad_f32(const float* dy, const float* y, float* dz, Py_ssize_t n,
                             int is_tanh)
    void mlp_smooth_grad_f64(const double* dy, const double* y, double* dz, Py_ssize_t n,
                             int is_tanh)
    int mlp_nonfinite_f32(const float* x, Py_ssize_t n)
    int mlp_nonfinite_f64(const double* x, Py_ssize_t n)
    void mlp_sigmoid_f32(const float* z, float* y, Py_ssize_t n)
    void mlp_softmax_row_f32(const float* z, float* y, Py_ssize_t n)
    void mlp_relu_grad_bias_f32(const float* dy, const float* y, float* dz, double* acc,
                                Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t width, int relu)
    void mlp_relu_grad_bias_f64(const double* dy, const double* y, double* dz, double* acc,
                                Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t width, int relu)
    void mlp_bce_logits_f32(const float* pred, const float* target, const float* weight,
                            float* grad, double* row_loss, Py_ssize_t r0, Py_ssize_t r1,
                            Py_ssize_t m, float inv_n)
    void mlp_bias_relu_f32(float* y, float* z_out, const float* b, Py_ssize_t rows,
                           Py_ssize_t width, Py_ssize_t cols, int relu)
    void mlp_bias_relu_f64(double* y, double* z_out, const double* b, Py_ssize_t rows,
                           Py_ssize_t width, Py_ssize_t cols, int relu)
    void mlp_prefetch_rows(const char* src, const int64_t* order, Py_ssize_t rows,
                           size_t row_bytes)

# Activation codes: the values of mlp.backends.codes.ACTIVATION_CODES (the callers' one table).
cdef enum: A_LINEAR = 0
cdef enum: A_RELU = 1
cdef enum: A_LEAKY_RELU = 2
cdef enum: A_ELU = 3
cdef enum: A_SIGMOID = 4
cdef enum: A_TANH = 5
cdef enum: A_SOFTMAX = 6
cdef enum: A_GELU = 7
cdef enum: A_SWISH = 8

# Loss codes: the values of mlp.backends.codes.LOSS_CODES.
cdef enum: L_MSE = 0
cdef enum: L_MAE = 1
cdef enum: L_HUBER = 2
cdef enum: L_BCE = 3
cdef enum: L_BCE_LOGITS = 4
cdef enum: L_CCE = 5
cdef enum: L_CCE_LOGITS = 6

# Size thresholds (measured on a 2-core machine; see benchmarks/kernels.py).
cdef enum: CHUNK = 8192                  # elements per part of a flat elementwise loop
cdef enum: GEMM_MIN_PART = 64            # rows / columns per GEMM part, at least
cdef enum: GEMM_MAX_PARTS = 8
# Part sizes in multiply-adds (m n k), measured with scipy's OpenBLAS on the 2-core benchmark
# machine: parts up to ~1 M run its unpacked small-matrix kernels (B's 784x128 weight gradient
# over 64 rows: 8 parts 8 % faster than 4), larger parts pay for re-packing the shared operand
# in every part (config C trained 7 % faster with its 128x784x512 layer in 4 parts and its
# 128x512x512 layer in 2 than with 8 parts each; 8 M and 25 M per part were within 3 % of 12.8 M).
# The partition must not depend on the thread count, so a machine with more cores gets no more
# parts for these mid-size products.
cdef double GEMM_SMALL_MNK = 1.0e6
cdef double GEMM_PART_MNK = 12.8e6
cdef enum: GEMM_ALIGN = 16               # part boundaries are multiples of this
cdef enum: COL_TILE = 64                 # columns per tile of a column reduction, at least
cdef enum: COL_TILE_MAX = 1024           # and at most
cdef enum: COL_TILES = 8                 # tiles of a column reduction, at most (within the max)
cdef enum: REDUCE_CHUNK = 32768          # elements per partial sum of a flat reduction
cdef enum: REDUCE_MAX_PARTS = 64
cdef enum: PREFETCH_MAX_BYTES = 524288   # the next batch's rows are prefetched up to this size

# Below these sizes work runs on the calling thread: entering a parallel region and waking the
# other threads costs more than it saves. Measured on a 2-core AMD EPYC (Zen 5) VM by sweeping
# both with set_parallel_thresholds over benchmarks/run.py's configs: B (784-128-10, batch 64)
# trained 1.45x faster at (32768, 4e6) than at (131072, 3.2e7); smaller values gained nothing.
cdef Py_ssize_t PAR_MIN_ELEMENTS = 32768
cdef enum: ALL_FINITE_PAR_FACTOR = 64
cdef double GEMM_PAR_MIN_FLOPS = 4e6

cdef double SQRT1_2 = 0.70710678118654752440
cdef double INV_SQRT_2PI = 0.39894228040143267794

cdef uint64_t HASH_STEP = 0x9E3779B97F4A7C15ULL

cdef int _num_threads = mlp_runtime_default_threads()
# The thread count chosen by the training loop's tuner for its current step (at most
# _num_threads); see _plan_epoch.
cdef int _step_threads = 1 << 30
cdef bint _tuning = True


# --------------------------------------------------------------------------- BLAS
cdef str _blas_name = "scipy"


def use_scipy_blas():
    """Route the kernels' GEMMs to ``scipy.linalg.cython_blas`` (the default at import)."""
    global mlp_sgemm, mlp_dgemm, mlp_sgemv, mlp_dgemv, _blas_name
    mlp_sgemm = <mlp_sgemm_fn>cython_blas.sgemm
    mlp_dgemm = <mlp_dgemm_fn>cython_blas.dgemm
    mlp_sgemv = <mlp_sgemv_fn>cython_blas.sgemv
    mlp_dgemv = <mlp_dgemv_fn>cython_blas.dgemv
    _blas_name = "scipy"


def use_blas(str name, uintptr_t sgemm, uintptr_t dgemm, uintptr_t sgemv, uintptr_t dgemv):
    """Route the kernels' GEMMs to another library's Fortran BLAS functions (addresses of
    ``sgemm_``, ``dgemm_``, ``sgemv_``, ``dgemv_`` with 32-bit integers; the caller vouches for
    the signatures and keeps the library loaded). Not while a kernel runs."""
    global mlp_sgemm, mlp_dgemm, mlp_sgemv, mlp_dgemv, _blas_name
    if not (sgemm and dgemm and sgemv and dgemv):
        raise ValueError("use_blas: every function address must be non-zero")
    mlp_sgemm = <mlp_sgemm_fn>sgemm
    mlp_dgemm = <mlp_dgemm_fn>dgemm
    mlp_sgemv = <mlp_sgemv_fn>sgemv
    mlp_dgemv = <mlp_dgemv_fn>dgemv
    _blas_name = name


def blas_name():
    """Which BLAS the kernels call (``"scipy"`` or the name given to :func:`use_blas`)."""
    return _blas_name


use_scipy_blas()


# --------------------------------------------------------------------------- threads / platform
def openmp_enabled():
    """True when the extension was compiled with OpenMP."""
    return bool(mlp_openmp_enabled())


def ftz_supported():
    """True when this platform lets the kernels set flush-to-zero."""
    return bool(mlp_ftz_supported())


def ftz_active_in_kernel():
    """Whether flush-to-zero is on *inside* a kernel call (for tests): enter, read, restore."""
    cdef unsigned long long old = mlp_ftz_enter()
    cdef int active = mlp_ftz_active()
    mlp_ftz_exit(old)
    return bool(active)


def ftz_active():
    """Whether flush-to-zero is on in the calling thread right now (the caller's own state)."""
    return bool(mlp_ftz_active())


def parallel_thresholds():
    """(elements, flops): elementwise work and GEMM work (2 m n k) from which kernels split
    across threads. Results never depend on the thread count, whatever these values."""
    return PAR_MIN_ELEMENTS, GEMM_PAR_MIN_FLOPS


def set_parallel_thresholds(Py_ssize_t elements, double flops):
    """Change the sizes from which work is split (for benchmarks that measure the crossover)."""
    global PAR_MIN_ELEMENTS, GEMM_PAR_MIN_FLOPS
    PAR_MIN_ELEMENTS = elements
    GEMM_PAR_MIN_FLOPS = flops


def set_num_threads(int n):
    """Set the number of threads the kernels use (``n >= 1``; validated by the caller)."""
    global _num_threads
    _num_threads = n if mlp_runtime_threads_available() else 1


def get_num_threads():
    """The number of threads the kernels use."""
    return _num_threads


def default_num_threads():
    """The default thread count: ``OMP_NUM_THREADS``, else the CPUs this process may run on
    (1 in a build without threads)."""
    return mlp_runtime_default_threads() if mlp_runtime_threads_available() else 1


RUNTIME_MODES = {"pool": 0, "openmp-static": 1, "openmp-dynamic": 2, "reversed": 3}


def runtime_mode():
    """The parallel runtime in use: ``"pool"`` (the default), ``"openmp-static"``,
    ``"openmp-dynamic"`` or ``"reversed"`` (see ``_pool.h``)."""
    cdef int mode = mlp_runtime_mode()
    for name, value in RUNTIME_MODES.items():
        if value == mode:
            return name
    return str(mode)


def set_runtime_mode(str name):
    """Switch the parallel runtime (benchmarks and tests); raises ValueError when this build
    lacks it. Results are the same bits in every mode."""
    if name not in RUNTIME_MODES or mlp_runtime_set_mode(RUNTIME_MODES[name]) != 0:
        available = [m for m, v in RUNTIME_MODES.items() if v == 0 or mlp_openmp_enabled() or v == 3]
        raise ValueError(f"runtime mode {name!r} is not available in this build; "
                         f"available: {available}")


def runtime_spin_us():
    """Microseconds an idle pool thread spins before it sleeps (while a training loop runs on
    several threads, up to 2 ms after its last job, unless this is 0)."""
    return mlp_runtime_spin_us()


def set_runtime_spin_us(double us):
    """Change how long idle pool threads spin before they sleep (benchmarks)."""
    mlp_runtime_set_spin_us(us)


def _runtime_keeping_awake():
    """Whether idle workers are being kept awake for a training loop (tests)."""
    return bool(mlp_runtime_keeping_awake())


def _runtime_start_solo(double ms):
    """Start a caller-only period of ``ms`` milliseconds now, as a stall would (tests)."""
    mlp_runtime_start_solo(ms)


def runtime_stats(bint reset=False):
    """Counters of the pool since the last reset: jobs posted, jobs run on the caller alone,
    parts run by workers, stalls (the caller waited for a descheduled worker), solo periods, and
    jobs a worker left to the caller because it saw them late."""
    cdef mlp_runtime_stats st
    mlp_runtime_get_stats(&st)
    if reset:
        mlp_runtime_reset_stats()
    return {"jobs": st.jobs, "serial_jobs": st.serial_jobs,
            "parts_by_workers": st.parts_by_workers, "stalls": st.stalls,
            "solo_periods": st.solo_periods, "late_wakeups": st.late_wakeups}


def threads_available():
    """True when this build can run the kernels' parts on several threads."""
    return bool(mlp_runtime_threads_available())


def _tuner_replay(double ns_per_row_many, double ns_per_row_one, int steps, double rows=64,
                  int threads=2, dict slow_steps=None, int switch_at=-1,
                  double ns_per_row_many_after=0, double ns_per_row_one_after=0):
    """Drive a fresh tuner for ``steps`` steps in which a row costs the given nanoseconds on many
    threads and on one (from step ``switch_at`` on, the ``_after`` costs; step ``k``
    ``slow_steps[k]`` times slower); return the thread count it picked for each step. For the
    tests of the policy."""
    cdef mlp_tuner t
    cdef int k, n
    cdef double ns
    cdef list picked = []
    mlp_tuner_reset(&t)
    for k in range(steps):
        if k == switch_at:
            ns_per_row_many, ns_per_row_one = ns_per_row_many_after, ns_per_row_one_after
        n = mlp_tuner_threads(&t, threads)
        picked.append(n)
        ns = (ns_per_row_one if n == 1 else ns_per_row_many) * rows
        if slow_steps and k in slow_steps:
            ns *= slow_steps[k]
        mlp_tuner_record(&t, <long long>ns, rows)
    return picked


def thread_tuning():
    """Whether the fused training loop chooses its thread count by measurement."""
    return _tuning


def set_thread_tuning(bint enabled):
    """Let the fused training loop choose between the configured thread count and one thread
    by measuring both (the default), or always use the configured count."""
    global _tuning
    _tuning = enabled


cdef inline int _threads_for(Py_ssize_t parts) noexcept nogil:
    cdef int limit = _num_threads if _num_threads < _step_threads else _step_threads
    if parts < 2:
        return 1
    return <int>parts if parts < limit else limit


cdef inline void _run(Py_ssize_t parts, int threads, mlp_part_fn fn, void* job) noexcept nogil:
    """Run parts 0 .. parts-1 of ``fn`` on up to ``threads`` threads, flush-to-zero on (the pool's
    own threads keep it on for good; the caller's state is restored)."""
    cdef unsigned long long state = mlp_ftz_enter()
    mlp_run_parts(parts, threads, fn, job)
    mlp_ftz_exit(state)


# --------------------------------------------------------------------------- scalar math
cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating _erf(floating x) noexcept nogil:
    if floating is float:
        return erff(x)
    else:
        return erf(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating _abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating _sigmoid(floating z) noexcept nogil:
    cdef floating e = _exp(-_abs(z))
    cdef floating s = 1 / (1 + e)
    return s if z >= 0 else e * s


cdef inline floating _sign(floating x) noexcept nogil:
    if x > 0:
        return 1
    if x < 0:
        return -1
    return x  # 0 stays 0, NaN stays NaN


# --------------------------------------------------------------------------- partitions
cdef inline Py_ssize_t _n_chunks(Py_ssize_t n) noexcept nogil:
    """Parts of a flat elementwise loop: one below the threshold, else CHUNK-sized pieces."""
    if n < PAR_MIN_ELEMENTS:
        return 1
    return (n + CHUNK - 1) // CHUNK


cdef inline Py_ssize_t _chunk_len(Py_ssize_t n, Py_ssize_t parts) noexcept nogil:
    return n if parts == 1 else CHUNK


cdef inline Py_ssize_t _row_parts(Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """Number of row blocks for a row-wise pass over a (rows, cols) array."""
    cdef Py_ssize_t per_block
    if rows * cols < PAR_MIN_ELEMENTS or rows < 2:
        return 1
    per_block = (CHUNK + cols - 1) // cols
    return (rows + per_block - 1) // per_block


cdef inline void _chunk(Py_ssize_t n, Py_ssize_t length, ptrdiff_t p, Py_ssize_t* i0,
                        Py_ssize_t* i1) noexcept nogil:
    """[i0, i1): chunk ``p`` of ``n`` items cut into chunks of ``length`` (the last shorter)."""
    i0[0] = p * length
    i1[0] = (p + 1) * length
    if i1[0] > n:
        i1[0] = n


cdef inline Py_ssize_t _block_start(Py_ssize_t n, Py_ssize_t parts, Py_ssize_t p) noexcept nogil:
    """Start of block ``p`` when ``n`` items are cut into ``parts`` near-equal blocks."""
    return (n * p) // parts


# --------------------------------------------------------------------------- GEMM partition
cdef struct GemmPlan:
    int parts
    bint split_rows
    Py_ssize_t dim         # the rows (split_rows) or columns of C that are cut


cdef inline GemmPlan _gemm_plan(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Cut an (m x n) product into parts along the larger of m and n.

    Splitting rows repeats the packing of B for every part, splitting columns that of A, so the
    dimension cut is the one whose split repeats the smaller operand.
    """
    cdef GemmPlan plan
    cdef Py_ssize_t parts
    plan.split_rows = m >= n
    plan.dim = m if plan.split_rows else n
    parts = plan.dim // GEMM_MIN_PART
    if 2.0 * m * n * k < GEMM_PAR_MIN_FLOPS or parts < 2:
        plan.parts = 1
        return plan
    if parts > GEMM_MAX_PARTS:
        parts = GEMM_MAX_PARTS
    # A product that GEMM_MAX_PARTS parts leave above GEMM_SMALL_MNK multiply-adds each is cut
    # into parts of about GEMM_PART_MNK: every part re-packs the operand all parts share.
    if <double>m * n * k > GEMM_SMALL_MNK * GEMM_MAX_PARTS:
        parts = min(parts, max(2, <Py_ssize_t>(<double>m * n * k / GEMM_PART_MNK)))
    plan.parts = <int>parts
    return plan


cdef inline Py_ssize_t _part_start(GemmPlan plan, Py_ssize_t p) noexcept nogil:
    """First row / column of part ``p``: near-equal parts with boundaries on multiples of
    GEMM_ALIGN, so that a power-of-two number of threads gets equal shares (784 rows cut
    into 7 parts of 112 gave one of two threads 4 parts and the other 3)."""
    if p >= plan.parts:
        return plan.dim
    return (plan.dim * p // plan.parts) // GEMM_ALIGN * GEMM_ALIGN


cdef inline void _gemm_part(GemmPlan plan, int p, bint ta, bint tb, Py_ssize_t m, Py_ssize_t n,
                            Py_ssize_t k, floating alpha, const floating* a, Py_ssize_t lda,
                            const floating* b, Py_ssize_t ldb, floating beta, floating* c,
                            Py_ssize_t ldc) noexcept nogil:
    """Compute part ``p`` of ``plan`` (a row block or a column block of C)."""
    cdef Py_ssize_t start = _part_start(plan, p)
    cdef Py_ssize_t size = _part_start(plan, p + 1) - start
    if size <= 0:
        return
    if plan.split_rows:
        gemm_rowmajor(ta, tb, <int>size, <int>n, <int>k, alpha,
                      a + (start if ta else start * lda), <int>lda, b, <int>ldb, beta,
                      c + start * ldc, <int>ldc)
    else:
        gemm_rowmajor(ta, tb, <int>m, <int>size, <int>k, alpha, a, <int>lda,
                      b + (start * ldb if tb else start), <int>ldb, beta, c + start, <int>ldc)


cdef struct GemmJob:
    GemmPlan plan
    bint ta, tb, f64
    Py_ssize_t m, n, k, lda, ldb, ldc
    double alpha, beta
    const void* a
    const void* b
    void* c


cdef void _gemm_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef GemmJob* j = <GemmJob*>job
    if j.f64:
        _gemm_part(j.plan, <int>p, j.ta, j.tb, j.m, j.n, j.k, j.alpha, <const double*>j.a, j.lda,
                   <const double*>j.b, j.ldb, j.beta, <double*>j.c, j.ldc)
    else:
        _gemm_part(j.plan, <int>p, j.ta, j.tb, j.m, j.n, j.k, <float>j.alpha, <const float*>j.a,
                   j.lda, <const float*>j.b, j.ldb, <float>j.beta, <float*>j.c, j.ldc)


cdef void _gemm(bint ta, bint tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, floating alpha,
                const floating* a, Py_ssize_t lda, const floating* b, Py_ssize_t ldb,
                floating beta, floating* c, Py_ssize_t ldc) noexcept nogil:
    """Row-major GEMM split into size-determined parts, spread over the threads."""
    cdef GemmJob j
    j.plan = _gemm_plan(m, n, k)
    j.ta, j.tb, j.f64 = ta, tb, floating is double
    j.m, j.n, j.k, j.lda, j.ldb, j.ldc = m, n, k, lda, ldb, ldc
    j.alpha, j.beta, j.a, j.b, j.c = alpha, beta, a, b, c
    _run(j.plan.parts, _threads_for(j.plan.parts), _gemm_task, &j)


# --------------------------------------------------------------------------- activations
cdef inline floating _act_scalar(floating z, int act, floating alpha) noexcept nogil:
    if act == A_RELU:
        return 0 if z <= 0 else z
    if act == A_LEAKY_RELU:
        return z if z > 0 else alpha * z
    if act == A_ELU:
        return z if z > 0 else alpha * _expm1(z)
    if act == A_SIGMOID:
        return _sigmoid(z)
    if act == A_TANH:
        return _tanh(z)
    if act == A_GELU:
        return 0.5 * z * (1 + _erf(z * <floating>SQRT1_2))
    if act == A_SWISH:
        return z * _sigmoid(z)
    return z


cdef inline floating _act_grad_scalar(floating dy, floating y, floating z, int act,
                                      floating alpha) noexcept nogil:
    """``dy * f'(z)`` expressed through the output ``y`` (and ``z`` for gelu / swish)."""
    cdef floating s
    if act == A_RELU:
        return dy if y > 0 else 0
    if act == A_LEAKY_RELU:
        return dy if y > 0 else alpha * dy
    if act == A_ELU:
        return dy if y > 0 else dy * (y + alpha)
    if act == A_SIGMOID:
        return dy * y * (1 - y)
    if act == A_TANH:
        return dy * (1 - y * y)
    if act == A_GELU:
        return dy * (0.5 * (1 + _erf(z * <floating>SQRT1_2))
                     + z * <floating>INV_SQRT_2PI * _exp(-0.5 * z * z))
    if act == A_SWISH:
        s = _sigmoid(z)
        return dy * (s + y * (1 - s))
    return dy


cdef inline void _softmax_row(const floating* z, floating* y, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating top = z[0]
    cdef double total = 0
    if floating is float:
        mlp_softmax_row_f32(z, y, n)  # vectorised exp, _simd.h
        return
    for j in range(1, n):
        if z[j] > top:
            top = z[j]
    for j in range(n):
        y[j] = _exp(z[j] - top)
        total += y[j]
    cdef floating inv = <floating>(1.0 / total)
    for j in range(n):
        y[j] = y[j] * inv


cdef inline void _softmax_grad_row(const floating* dy, const floating* y, floating* dz,
                                   Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    cdef double dot = 0
    for j in range(n):
        dot += dy[j] * y[j]
    cdef floating d = <floating>dot
    for j in range(n):
        dz[j] = y[j] * (dy[j] - d)


cdef inline void _act_rows(const floating* z, floating* y, Py_ssize_t r0, Py_ssize_t r1,
                           Py_ssize_t cols, int act, floating alpha) noexcept nogil:
    """``y = f(z)`` on rows [r0, r1) of (., cols) arrays; ``y`` may alias ``z``."""
    cdef Py_ssize_t i, j, start, end
    if act == A_SOFTMAX:
        for i in range(r0, r1):
            _softmax_row(z + i * cols, y + i * cols, cols)
        return
    start = r0 * cols
    end = r1 * cols
    if act == A_RELU:
        for i in range(start, end):
            y[i] = 0 if z[i] <= 0 else z[i]
    elif act == A_LINEAR:
        if y != z:
            for i in range(start, end):
                y[i] = z[i]
    elif floating is float and act == A_SIGMOID:
        mlp_sigmoid_f32(z + start, y + start, end - start)
    else:
        for i in range(start, end):
            y[i] = _act_scalar(z[i], act, alpha)


cdef inline void _smooth_grad(const floating* dy, const floating* y, floating* dz, Py_ssize_t n,
                              int act) noexcept nogil:
    """Sigmoid / tanh backward on n contiguous elements (_simd.h, vectorised)."""
    if floating is float:
        mlp_smooth_grad_f32(dy, y, dz, n, act == A_TANH)
    else:
        mlp_smooth_grad_f64(dy, y, dz, n, act == A_TANH)


cdef inline void _act_grad_rows(const floating* dy, const floating* y, const floating* z,
                                floating* dz, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t cols,
                                int act, floating alpha) noexcept nogil:
    """``dz = dy * f'`` on rows [r0, r1); ``dz`` may alias ``dy``; ``z`` may be NULL unless needed."""
    cdef Py_ssize_t i
    cdef floating g
    if act == A_SOFTMAX:
        for i in range(r0, r1):
            _softmax_grad_row(dy + i * cols, y + i * cols, dz + i * cols, cols)
        return
    if act == A_LINEAR:
        if dz != dy:
            for i in range(r0 * cols, r1 * cols):
                dz[i] = dy[i]
        return
    if act == A_RELU:
        for i in range(r0 * cols, r1 * cols):
            g = dy[i]  # loaded unconditionally so that the select is a blend, not a branch
            dz[i] = g if y[i] > 0 else <floating>0
        return
    if act == A_SIGMOID or act == A_TANH:
        _smooth_grad(dy + r0 * cols, y + r0 * cols, dz + r0 * cols, (r1 - r0) * cols, act)
        return
    if z == NULL:
        for i in range(r0 * cols, r1 * cols):
            dz[i] = _act_grad_scalar(dy[i], y[i], <floating>0, act, alpha)
    else:
        for i in range(r0 * cols, r1 * cols):
            dz[i] = _act_grad_scalar(dy[i], y[i], z[i], act, alpha)


cdef struct RowsJob:
    # a row-wise pass over (rows, cols) arrays in `parts` row blocks
    Py_ssize_t rows, cols, parts
    int act
    double alpha
    bint f64, backward
    const void* dy      # backward only
    const void* y
    const void* z
    void* out


cdef void _rows_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef RowsJob* j = <RowsJob*>job
    cdef Py_ssize_t r0 = _block_start(j.rows, j.parts, p), r1 = _block_start(j.rows, j.parts, p + 1)
    if j.backward and j.f64:
        _act_grad_rows(<const double*>j.dy, <const double*>j.y, <const double*>j.z,
                       <double*>j.out, r0, r1, j.cols, j.act, j.alpha)
    elif j.backward:
        _act_grad_rows(<const float*>j.dy, <const float*>j.y, <const float*>j.z, <float*>j.out,
                       r0, r1, j.cols, j.act, <float>j.alpha)
    elif j.f64:
        _act_rows(<const double*>j.z, <double*>j.out, r0, r1, j.cols, j.act, j.alpha)
    else:
        _act_rows(<const float*>j.z, <float*>j.out, r0, r1, j.cols, j.act, <float>j.alpha)


cdef inline void _rows_pass(bint backward, const void* dy, const void* y, const void* z,
                            void* out, Py_ssize_t rows, Py_ssize_t cols, int act, double alpha,
                            bint f64) noexcept nogil:
    cdef RowsJob j
    j.rows, j.cols, j.parts = rows, cols, _row_parts(rows, cols)
    j.act, j.alpha, j.f64, j.backward = act, alpha, f64, backward
    j.dy, j.y, j.z, j.out = dy, y, z, out
    _run(j.parts, _threads_for(j.parts), _rows_task, &j)


cdef void _activation_forward(const floating* z, floating* y, Py_ssize_t rows, Py_ssize_t cols,
                              int act, floating alpha) noexcept nogil:
    _rows_pass(False, NULL, NULL, z, y, rows, cols, act, alpha, floating is double)


cdef void _activation_backward(const floating* dy, const floating* y, const floating* z,
                               floating* dz, Py_ssize_t rows, Py_ssize_t cols, int act,
                               floating alpha) noexcept nogil:
    _rows_pass(True, dy, y, z, dz, rows, cols, act, alpha, floating is double)


# --------------------------------------------------------------------------- dense layer
cdef inline void _bias_act_block(floating* y, floating* z_out, const floating* b, Py_ssize_t r0,
                                 Py_ssize_t r1, Py_ssize_t c0, Py_ssize_t c1, Py_ssize_t cols,
                                 int act, floating alpha) noexcept nogil:
    """Epilogue of the forward GEMM on a block: add bias, keep z if asked, apply f in place."""
    cdef Py_ssize_t i, j
    cdef floating* row
    cdef bint whole_rows = c0 == 0 and c1 == cols
    if floating is float and act == A_SIGMOID and whole_rows:
        # one vectorised pass over the contiguous block, not one call per row (a 1-unit
        # output layer made 10 000 calls for a batch of 10 000)
        _bias_act_block(y, z_out, b, r0, r1, c0, c1, cols, A_LINEAR, alpha)
        mlp_sigmoid_f32(y + r0 * cols, y + r0 * cols, (r1 - r0) * cols)
        return
    if act == A_RELU or act == A_LINEAR:
        if floating is float:
            mlp_bias_relu_f32(y + r0 * cols + c0, z_out + r0 * cols + c0 if z_out != NULL else NULL,
                              b + c0 if b != NULL else NULL, r1 - r0, c1 - c0, cols,
                              act == A_RELU)
        else:
            mlp_bias_relu_f64(y + r0 * cols + c0, z_out + r0 * cols + c0 if z_out != NULL else NULL,
                              b + c0 if b != NULL else NULL, r1 - r0, c1 - c0, cols,
                              act == A_RELU)
        return
    for i in range(r0, r1):
        row = y + i * cols
        if b != NULL:
            for j in range(c0, c1):
                row[j] = row[j] + b[j]
        if z_out != NULL:
            for j in range(c0, c1):
                z_out[i * cols + j] = row[j]
        if act == A_SOFTMAX:
            _softmax_row(row, row, cols)
        elif floating is float and act == A_SIGMOID:
            mlp_sigmoid_f32(row + c0, row + c0, c1 - c0)
        else:
            for j in range(c0, c1):
                row[j] = _act_scalar(row[j], act, alpha)


cdef inline void _dense_forward_part(GemmPlan plan, int p, const floating* x, const floating* w,
                                     const floating* b, floating* y, floating* z_out,
                                     Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t units, int act,
                                     floating alpha, bint epilogue) noexcept nogil:
    cdef Py_ssize_t start = _part_start(plan, p)
    cdef Py_ssize_t end = _part_start(plan, p + 1)
    _gemm_part(plan, p, False, False, rows, units, n_in, <floating>1, x, n_in, w, units,
               <floating>0, y, units)
    if not epilogue:
        return
    if plan.split_rows:
        _bias_act_block(y, z_out, b, start, end, 0, units, units, act, alpha)
    else:
        _bias_act_block(y, z_out, b, 0, rows, start, end, units, act, alpha)


cdef struct DenseJob:
    GemmPlan plan
    Py_ssize_t rows, n_in, units, parts
    int act
    double alpha
    bint epilogue, f64
    const void* x
    const void* w
    const void* b
    void* y
    void* z_out


cdef void _dense_forward_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef DenseJob* j = <DenseJob*>job
    if j.f64:
        _dense_forward_part(j.plan, <int>p, <const double*>j.x, <const double*>j.w,
                            <const double*>j.b, <double*>j.y, <double*>j.z_out, j.rows, j.n_in,
                            j.units, j.act, j.alpha, j.epilogue)
    else:
        _dense_forward_part(j.plan, <int>p, <const float*>j.x, <const float*>j.w,
                            <const float*>j.b, <float*>j.y, <float*>j.z_out, j.rows, j.n_in,
                            j.units, j.act, <float>j.alpha, j.epilogue)


cdef void _softmax_epilogue_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef DenseJob* j = <DenseJob*>job
    cdef Py_ssize_t r0 = _block_start(j.rows, j.parts, p), r1 = _block_start(j.rows, j.parts, p + 1)
    if j.f64:
        _bias_act_block(<double*>j.y, <double*>j.z_out, <const double*>j.b, r0, r1, 0, j.units,
                        j.units, A_SOFTMAX, <double>0)
    else:
        _bias_act_block(<float*>j.y, <float*>j.z_out, <const float*>j.b, r0, r1, 0, j.units,
                        j.units, A_SOFTMAX, <float>0)


cdef void _dense_forward(const floating* x, const floating* w, const floating* b, floating* y,
                         floating* z_out, Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t units,
                         int act, floating alpha) noexcept nogil:
    """y = f(x @ w + b); the epilogue runs on each GEMM part while it is still in cache."""
    cdef DenseJob j
    j.plan = _gemm_plan(rows, units, n_in)
    j.rows, j.n_in, j.units, j.act, j.alpha = rows, n_in, units, act, alpha
    # softmax needs whole rows: with a column split it runs as a separate row pass
    j.epilogue = j.plan.split_rows or act != A_SOFTMAX
    j.f64, j.x, j.w, j.b, j.y, j.z_out = floating is double, x, w, b, y, z_out
    _run(j.plan.parts, _threads_for(j.plan.parts), _dense_forward_task, &j)
    if not j.epilogue:
        j.parts = _row_parts(rows, units)
        _run(j.parts, _threads_for(j.parts), _softmax_epilogue_task, &j)


cdef inline void _grad_bias_tile(const floating* dy, const floating* y, const floating* z,
                                 floating* dz, floating* db, Py_ssize_t rows, Py_ssize_t cols,
                                 Py_ssize_t c0, Py_ssize_t c1, int act, floating alpha,
                                 bint apply_act) noexcept nogil:
    """On columns [c0, c1): dz = dy * f' (when ``apply_act``) and db = column sums of dz.

    The sums run over rows in order, in double, whatever the partition: results do not depend
    on the thread count.
    """
    cdef double acc[COL_TILE_MAX]
    cdef Py_ssize_t i, j, width = c1 - c0
    cdef Py_ssize_t at
    cdef floating v
    for j in range(width):
        acc[j] = 0
    if apply_act and (act == A_RELU or act == A_LINEAR):
        # in _simd.h, compiled for each x86 vector width; the select is a blend, not a branch
        if floating is float:
            mlp_relu_grad_bias_f32(dy + c0, y + c0 if y != NULL else NULL, dz + c0, acc, rows,
                                   cols, width, act == A_RELU)
        else:
            mlp_relu_grad_bias_f64(dy + c0, y + c0 if y != NULL else NULL, dz + c0, acc, rows,
                                   cols, width, act == A_RELU)
    elif apply_act and (act == A_SIGMOID or act == A_TANH):
        for i in range(rows):
            at = i * cols + c0
            _smooth_grad(dy + at, y + at, dz + at, width, act)
            for j in range(width):
                acc[j] += dz[at + j]
    elif apply_act:
        for i in range(rows):
            at = i * cols + c0
            for j in range(width):
                v = _act_grad_scalar(dy[at + j], y[at + j],
                                     z[at + j] if z != NULL else <floating>0, act, alpha)
                dz[at + j] = v
                acc[j] += v
    else:
        # softmax: dz is already computed; only its column sums are left
        for i in range(rows):
            at = i * cols + c0
            for j in range(width):
                acc[j] += dz[at + j]
    if db != NULL:
        for j in range(width):
            db[c0 + j] = <floating>acc[j]


cdef void _grad_and_bias(const floating* dy, const floating* y, const floating* z, floating* dz,
                         floating* db, Py_ssize_t rows, Py_ssize_t cols, int act,
                         floating alpha) noexcept nogil:
    """dz = dy * f'(.) fused with db = dz.sum(0) (column tiles spread over the threads)."""
    # few wide tiles: each thread streams long row segments (tiles of 64 columns of a
    # 4096-wide batch read 256 bytes per 16 KiB row, which the prefetcher does not follow).
    # The sums run over the rows in order whatever the tiling, so the tiling is free.
    cdef Py_ssize_t tiles = (cols + COL_TILE - 1) // COL_TILE
    cdef Py_ssize_t width
    cdef bint apply_act = act != A_SOFTMAX
    cdef int nt = 1
    cdef GradBiasJob j
    if not apply_act or db == NULL:
        # softmax couples a whole row: its derivative is a row pass, the bias sum a column pass
        _activation_backward(dy, y, z, dz, rows, cols, act, alpha)
        if db == NULL:
            return
    if tiles == 0:
        return
    if tiles > COL_TILES:
        tiles = COL_TILES
    width = ((cols + tiles - 1) // tiles + 15) // 16 * 16
    if width > COL_TILE_MAX:
        width = COL_TILE_MAX
    tiles = (cols + width - 1) // width
    if rows * cols >= PAR_MIN_ELEMENTS:
        nt = _threads_for(tiles)
    j.rows, j.cols, j.width, j.act, j.alpha, j.apply_act = rows, cols, width, act, alpha, apply_act
    j.f64, j.dy, j.y, j.z, j.dz, j.db = floating is double, dy, y, z, dz, db
    _run(tiles, nt, _grad_bias_task, &j)


cdef struct GradBiasJob:
    Py_ssize_t rows, cols, width
    int act
    double alpha
    bint apply_act, f64
    const void* dy
    const void* y
    const void* z
    void* dz
    void* db


cdef void _grad_bias_task(void* job, ptrdiff_t t) noexcept nogil:
    cdef GradBiasJob* j = <GradBiasJob*>job
    cdef Py_ssize_t c0, c1
    _chunk(j.cols, j.width, t, &c0, &c1)
    if j.f64:
        _grad_bias_tile(<const double*>j.dy, <const double*>j.y, <const double*>j.z,
                        <double*>j.dz, <double*>j.db, j.rows, j.cols, c0, c1, j.act, j.alpha,
                        j.apply_act)
    else:
        _grad_bias_tile(<const float*>j.dy, <const float*>j.y, <const float*>j.z, <float*>j.dz,
                        <float*>j.db, j.rows, j.cols, c0, c1, j.act, <float>j.alpha, j.apply_act)


cdef void _dense_backward_gemms(const floating* x, const floating* w, const floating* dz,
                                floating* dw, floating* dx, Py_ssize_t rows, Py_ssize_t n_in,
                                Py_ssize_t units) noexcept nogil:
    """dw = x.T @ dz and (when dx is not NULL) dx = dz @ w.T, their parts run as one pool."""
    cdef BackwardJob j
    cdef int tasks, nt = 1
    j.pw = _gemm_plan(n_in, units, rows)
    j.px = _gemm_plan(rows, n_in, units)
    tasks = j.pw.parts + (j.px.parts if dx != NULL else 0)
    if 2.0 * rows * n_in * units * (2 if dx != NULL else 1) >= GEMM_PAR_MIN_FLOPS:
        nt = _threads_for(tasks)
    j.rows, j.n_in, j.units, j.f64 = rows, n_in, units, floating is double
    j.x, j.w, j.dz, j.dw, j.dx = x, w, dz, dw, dx
    _run(tasks, nt, _backward_task, &j)


cdef struct BackwardJob:
    GemmPlan pw
    GemmPlan px
    Py_ssize_t rows, n_in, units
    bint f64
    const void* x
    const void* w
    const void* dz
    void* dw
    void* dx


cdef inline void _backward_part(GemmPlan pw, GemmPlan px, int p, const floating* x,
                                const floating* w, const floating* dz, floating* dw,
                                floating* dx, Py_ssize_t rows, Py_ssize_t n_in,
                                Py_ssize_t units) noexcept nogil:
    if p < pw.parts:
        _gemm_part(pw, p, True, False, n_in, units, rows, <floating>1, x, n_in, dz, units,
                   <floating>0, dw, units)
    else:
        _gemm_part(px, p - pw.parts, False, True, rows, n_in, units, <floating>1, dz, units, w,
                   units, <floating>0, dx, n_in)


cdef void _backward_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef BackwardJob* j = <BackwardJob*>job
    if j.f64:
        _backward_part(j.pw, j.px, <int>p, <const double*>j.x, <const double*>j.w,
                       <const double*>j.dz, <double*>j.dw, <double*>j.dx, j.rows, j.n_in, j.units)
    else:
        _backward_part(j.pw, j.px, <int>p, <const float*>j.x, <const float*>j.w,
                       <const float*>j.dz, <float*>j.dw, <float*>j.dx, j.rows, j.n_in, j.units)


# --------------------------------------------------------------------------- losses
cdef inline double _loss_row(int kind, const floating* p, const floating* t, int64_t label,
                             floating* g, Py_ssize_t m, floating scale, floating delta,
                             floating eps) noexcept nogil:
    """Per-sample loss of one row, and its gradient times ``scale`` into ``g``.

    ``t`` is the one-hot / dense target row, or NULL with ``label`` the class index.
    """
    cdef Py_ssize_t j
    cdef double total = 0
    cdef floating e, a, pc, tj, top, s, lse, tsum, lo = eps, hi = 1 - eps
    cdef floating mean_scale = scale / <floating>m
    if kind == L_MSE:
        for j in range(m):
            e = p[j] - t[j]
            total += e * e
            g[j] = 2 * e * mean_scale
        return total / m
    if kind == L_MAE:
        for j in range(m):
            e = p[j] - t[j]
            total += _abs(e)
            g[j] = _sign(e) * mean_scale
        return total / m
    if kind == L_HUBER:
        for j in range(m):
            e = p[j] - t[j]
            a = _abs(e)
            if a <= delta:
                total += 0.5 * e * e
                g[j] = e * mean_scale
            else:
                total += delta * (a - 0.5 * delta)
                g[j] = delta * _sign(e) * mean_scale
        return total / m
    if kind == L_BCE:
        for j in range(m):
            pc = p[j]
            if pc < lo:
                pc = lo
            elif pc > hi:
                pc = hi
            tj = t[j]
            total -= tj * _log(pc) + (1 - tj) * _log(1 - pc)
            g[j] = (pc - tj) / (pc * (1 - pc)) * mean_scale
        return total / m
    if kind == L_BCE_LOGITS:
        for j in range(m):
            e = p[j]
            tj = t[j]
            total += (e if e > 0 else 0) - e * tj + _log1p(_exp(-_abs(e)))
            g[j] = (_sigmoid(e) - tj) * mean_scale
        return total / m
    if kind == L_CCE:
        if t == NULL:
            for j in range(m):
                g[j] = 0
            pc = p[label]
            if pc < lo:
                pc = lo
            elif pc > hi:
                pc = hi
            g[label] = -scale / pc
            return -_log(pc)
        for j in range(m):
            pc = p[j]
            if pc < lo:
                pc = lo
            elif pc > hi:
                pc = hi
            total -= t[j] * _log(pc)
            g[j] = -t[j] / pc * scale
        return total
    # L_CCE_LOGITS
    top = p[0]
    for j in range(1, m):
        if p[j] > top:
            top = p[j]
    s = 0
    for j in range(m):
        g[j] = _exp(p[j] - top)
        s = s + g[j]
    lse = top + _log(s)
    if t == NULL:
        for j in range(m):
            g[j] = g[j] / s * scale
        g[label] = g[label] - scale
        return lse - p[label]
    tsum = 0
    for j in range(m):
        tsum = tsum + t[j]
        total += t[j] * (lse - p[j])
    for j in range(m):
        g[j] = (g[j] / s * tsum - t[j]) * scale
    return total


cdef inline void _loss_rows(int kind, const floating* pred, const floating* target,
                            const int64_t* labels, const floating* weight, floating* grad,
                            double* row_loss, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t m,
                            floating inv_n, floating delta, floating eps) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating w
    if floating is float and kind == L_BCE_LOGITS:
        mlp_bce_logits_f32(pred, target, weight, grad, row_loss, r0, r1, m, inv_n)  # _simd.h
        return
    for i in range(r0, r1):
        w = weight[i] if weight != NULL else <floating>1
        row_loss[i] = w * _loss_row(kind, pred + i * m,
                                    target + i * m if target != NULL else NULL,
                                    labels[i] if labels != NULL else 0,
                                    grad + i * m, m, w * inv_n, delta, eps)


cdef struct LossJob:
    int kind
    Py_ssize_t n, m, parts
    double inv_n, delta, eps
    bint f64
    const void* pred
    const void* target
    const int64_t* labels
    const void* weight
    void* grad
    double* row_loss


cdef void _loss_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef LossJob* j = <LossJob*>job
    cdef Py_ssize_t r0 = _block_start(j.n, j.parts, p), r1 = _block_start(j.n, j.parts, p + 1)
    if j.f64:
        _loss_rows(j.kind, <const double*>j.pred, <const double*>j.target, j.labels,
                   <const double*>j.weight, <double*>j.grad, j.row_loss, r0, r1, j.m, j.inv_n,
                   j.delta, j.eps)
    else:
        _loss_rows(j.kind, <const float*>j.pred, <const float*>j.target, j.labels,
                   <const float*>j.weight, <float*>j.grad, j.row_loss, r0, r1, j.m,
                   <float>j.inv_n, <float>j.delta, <float>j.eps)


cdef double _loss(int kind, const floating* pred, const floating* target, const int64_t* labels,
                  const floating* weight, floating* grad, double* row_loss, Py_ssize_t n,
                  Py_ssize_t m, floating delta, floating eps) noexcept nogil:
    """Weighted mean loss over ``n`` rows; per-row values go to ``row_loss``, summed in order."""
    cdef LossJob j
    cdef Py_ssize_t i
    cdef double total = 0
    j.kind, j.n, j.m, j.parts = kind, n, m, _row_parts(n, m)
    j.inv_n, j.delta, j.eps, j.f64 = 1.0 / n, delta, eps, floating is double
    j.pred, j.target, j.labels, j.weight, j.grad, j.row_loss = (
        pred, target, labels, weight, grad, row_loss)
    _run(j.parts, _threads_for(j.parts), _loss_task, &j)
    for i in range(n):
        total += row_loss[i]
    return total / n


# --------------------------------------------------------------------------- optimizers
cdef struct OptimizerArgs:
    int kind            # 0 sgd, 1 adam, 2 rmsprop, 3 adagrad
    double lr
    double momentum     # sgd / rmsprop momentum
    bint nesterov
    double weight_decay
    bint decoupled
    bint amsgrad
    bint centered
    double beta_1       # adam; rmsprop uses beta_2 as rho
    double beta_2
    double epsilon
    double step_size    # adam: lr / (1 - beta_1**t)
    double inv_sqrt_bc2 # adam: 1 / sqrt(1 - beta_2**t)


cdef inline void _set_adam_step(OptimizerArgs* o, double lr, long long step) noexcept nogil:
    """Fold the learning rate and Adam's bias corrections for (1-based) ``step`` into ``o``."""
    o.lr = lr
    o.step_size = lr / (1.0 - pow(o.beta_1, <double>step))
    o.inv_sqrt_bc2 = 1.0 / sqrt(1.0 - pow(o.beta_2, <double>step))


cdef inline void _sgd_range(floating* param, const floating* grad, floating* vel,
                            Py_ssize_t i0, Py_ssize_t i1, OptimizerArgs* o) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating g, v, lr = <floating>o.lr, mu = <floating>o.momentum
    cdef floating wd = <floating>o.weight_decay
    cdef bint nesterov = o.nesterov
    if mu == 0:
        for i in range(i0, i1):
            param[i] = param[i] - lr * (grad[i] + wd * param[i])
        return
    for i in range(i0, i1):
        g = grad[i] + wd * param[i]
        v = mu * vel[i] + g
        vel[i] = v
        param[i] = param[i] - lr * ((g + mu * v) if nesterov else v)


cdef inline void _adam_range(floating* param, const floating* grad, floating* m, floating* v,
                             floating* vmax, Py_ssize_t i0, Py_ssize_t i1,
                             OptimizerArgs* o) noexcept nogil:
    # the loop lives in _simd.h, compiled for each x86 vector width
    if floating is float:
        mlp_adam_f32(param, grad, m, v, vmax, i0, i1, <float>o.beta_1, <float>o.beta_2,
                     <float>o.step_size, <float>o.inv_sqrt_bc2, <float>o.epsilon,
                     <float>o.weight_decay, <float>(1.0 - o.lr * o.weight_decay),
                     o.decoupled, o.amsgrad)
    else:
        mlp_adam_f64(param, grad, m, v, vmax, i0, i1, o.beta_1, o.beta_2, o.step_size,
                     o.inv_sqrt_bc2, o.epsilon, o.weight_decay, 1.0 - o.lr * o.weight_decay,
                     o.decoupled, o.amsgrad)


cdef inline void _rmsprop_range(floating* param, const floating* grad, floating* ms,
                                floating* vel, floating* mg, Py_ssize_t i0, Py_ssize_t i1,
                                OptimizerArgs* o) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating g, sq, avg, denom, v
    cdef floating rho = <floating>o.beta_2, c = 1 - rho
    cdef floating lr = <floating>o.lr, mu = <floating>o.momentum
    cdef floating eps = <floating>o.epsilon, wd = <floating>o.weight_decay
    cdef bint centered = o.centered
    if not centered and mu == 0:
        for i in range(i0, i1):
            g = grad[i] + wd * param[i]
            sq = rho * ms[i] + c * g * g
            ms[i] = sq
            param[i] = param[i] - lr * g / (_sqrt(sq) + eps)
        return
    for i in range(i0, i1):
        g = grad[i] + wd * param[i]
        sq = rho * ms[i] + c * g * g
        ms[i] = sq
        if centered:
            avg = rho * mg[i] + c * g
            mg[i] = avg
            # rounding can make the variance estimate slightly negative
            denom = _sqrt(sq - avg * avg if sq > avg * avg else <floating>0) + eps
        else:
            denom = _sqrt(sq) + eps
        if mu > 0:
            v = mu * vel[i] + g / denom
            vel[i] = v
            param[i] = param[i] - lr * v
        else:
            param[i] = param[i] - lr * g / denom


cdef inline void _adagrad_range(floating* param, const floating* grad, floating* acc,
                                Py_ssize_t i0, Py_ssize_t i1, OptimizerArgs* o) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating g, a
    cdef floating lr = <floating>o.lr, eps = <floating>o.epsilon, wd = <floating>o.weight_decay
    for i in range(i0, i1):
        g = grad[i] + wd * param[i]
        a = acc[i] + g * g
        acc[i] = a
        param[i] = param[i] - lr * g / (_sqrt(a) + eps)


cdef inline void _update_range(floating* param, const floating* grad, floating* s1, floating* s2,
                               floating* s3, Py_ssize_t i0, Py_ssize_t i1,
                               OptimizerArgs* o) noexcept nogil:
    if o.kind == 0:
        _sgd_range(param, grad, s1, i0, i1, o)
    elif o.kind == 1:
        _adam_range(param, grad, s1, s2, s3, i0, i1, o)
    elif o.kind == 2:
        _rmsprop_range(param, grad, s1, s2, s3, i0, i1, o)
    else:
        _adagrad_range(param, grad, s1, i0, i1, o)


cdef void _update(floating* param, const floating* grad, floating* s1, floating* s2,
                  floating* s3, Py_ssize_t n, OptimizerArgs* o) noexcept nogil:
    """One optimizer step over a flat buffer, in CHUNK-sized parts across the threads."""
    cdef UpdateJob j
    cdef Py_ssize_t parts = _n_chunks(n)
    j.n, j.length, j.o, j.f64 = n, _chunk_len(n, parts), o, floating is double
    j.param, j.grad, j.s1, j.s2, j.s3 = param, grad, s1, s2, s3
    _run(parts, _threads_for(parts), _update_task, &j)


cdef struct UpdateJob:
    Py_ssize_t n, length
    OptimizerArgs* o
    bint f64
    void* param
    const void* grad
    void* s1
    void* s2
    void* s3


cdef void _update_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef UpdateJob* j = <UpdateJob*>job
    cdef Py_ssize_t i0, i1
    _chunk(j.n, j.length, p, &i0, &i1)
    if j.f64:
        _update_range(<double*>j.param, <const double*>j.grad, <double*>j.s1, <double*>j.s2,
                      <double*>j.s3, i0, i1, j.o)
    else:
        _update_range(<float*>j.param, <const float*>j.grad, <float*>j.s1, <float*>j.s2,
                      <float*>j.s3, i0, i1, j.o)


# --------------------------------------------------------------------------- elementwise helpers
cdef inline void _elementwise_range(int kind, floating* x, const floating* p, Py_ssize_t i0,
                                    Py_ssize_t i1, floating a, floating b) noexcept nogil:
    """kind 0: x *= a; 1: x = clip(x, -a, a); 2: x += a * sign(p) + b * p."""
    cdef Py_ssize_t i
    cdef floating v
    if kind == 0:
        for i in range(i0, i1):
            x[i] = x[i] * a
    elif kind == 1:
        for i in range(i0, i1):
            v = x[i]
            if v > a:
                v = a
            elif v < -a:
                v = -a
            x[i] = v
    else:
        for i in range(i0, i1):
            x[i] = x[i] + a * _sign(p[i]) + b * p[i]


cdef struct FlatJob:
    # a pass over n elements in parts of `length` (elementwise ops, dropout, checks)
    int kind
    Py_ssize_t n, length
    double a, b
    bint f64
    void* x
    const void* p
    uint64_t key
    int* flag


cdef void _elementwise_task(void* job, ptrdiff_t q) noexcept nogil:
    cdef FlatJob* j = <FlatJob*>job
    cdef Py_ssize_t i0, i1
    _chunk(j.n, j.length, q, &i0, &i1)
    if j.f64:
        _elementwise_range(j.kind, <double*>j.x, <const double*>j.p, i0, i1, j.a, j.b)
    else:
        _elementwise_range(j.kind, <float*>j.x, <const float*>j.p, i0, i1, <float>j.a,
                           <float>j.b)


cdef void _elementwise(int kind, floating* x, const floating* p, Py_ssize_t n, floating a,
                       floating b) noexcept nogil:
    cdef FlatJob j
    cdef Py_ssize_t parts = _n_chunks(n)
    j.kind, j.n, j.length, j.a, j.b = kind, n, _chunk_len(n, parts), a, b
    j.f64, j.x, j.p = floating is double, x, p
    _run(parts, _threads_for(parts), _elementwise_task, &j)


cdef inline double _reduce_range(int kind, const floating* x, Py_ssize_t i0,
                                 Py_ssize_t i1) noexcept nogil:
    """kind 0: sum of squares; 1: sum of absolute values (four interleaved double sums)."""
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t i = i0
    if kind == 0:
        while i + 4 <= i1:
            s0 += <double>x[i] * x[i]
            s1 += <double>x[i + 1] * x[i + 1]
            s2 += <double>x[i + 2] * x[i + 2]
            s3 += <double>x[i + 3] * x[i + 3]
            i += 4
        while i < i1:
            s0 += <double>x[i] * x[i]
            i += 1
    else:
        while i + 4 <= i1:
            s0 += _abs(x[i])
            s1 += _abs(x[i + 1])
            s2 += _abs(x[i + 2])
            s3 += _abs(x[i + 3])
            i += 4
        while i < i1:
            s0 += _abs(x[i])
            i += 1
    return (s0 + s1) + (s2 + s3)


cdef struct ReduceJob:
    int kind
    Py_ssize_t n, parts
    bint f64
    const void* x
    double* partial


cdef void _reduce_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef ReduceJob* j = <ReduceJob*>job
    cdef Py_ssize_t i0 = _block_start(j.n, j.parts, p), i1 = _block_start(j.n, j.parts, p + 1)
    if j.f64:
        j.partial[p] = _reduce_range(j.kind, <const double*>j.x, i0, i1)
    else:
        j.partial[p] = _reduce_range(j.kind, <const float*>j.x, i0, i1)


cdef double _reduce(int kind, const floating* x, Py_ssize_t n) noexcept nogil:
    """A flat reduction cut into size-determined parts, whose partial sums are added in order."""
    cdef double partial[REDUCE_MAX_PARTS]
    cdef Py_ssize_t parts = (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK
    cdef Py_ssize_t p
    cdef double total = 0
    cdef ReduceJob j
    if parts <= 1:
        return _reduce_range(kind, x, 0, n)
    if parts > REDUCE_MAX_PARTS:
        parts = REDUCE_MAX_PARTS
    j.kind, j.n, j.parts, j.f64, j.x, j.partial = kind, n, parts, floating is double, x, partial
    _run(parts, _threads_for(parts), _reduce_task, &j)
    for p in range(parts):
        total += partial[p]
    return total


# --------------------------------------------------------------------------- dropout
cdef inline uint64_t _mix64(uint64_t z) noexcept nogil:
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t _stream_key(uint64_t seed, uint64_t step, uint64_t layer) noexcept nogil:
    return _mix64(_mix64(_mix64(seed) + step) + layer)


cdef inline void _dropout_range(const floating* x, floating* y, Py_ssize_t i0, Py_ssize_t i1,
                                uint64_t key, double rate, floating keep_scale) noexcept nogil:
    """y = x * mask on [i0, i1); x NULL means y = mask itself."""
    cdef Py_ssize_t i
    cdef uint64_t bits
    cdef floating m
    for i in range(i0, i1):
        bits = _mix64(key + <uint64_t>i * HASH_STEP)
        m = keep_scale if <double>(bits >> 40) * 5.9604644775390625e-08 >= rate else 0
        y[i] = m if x == NULL else x[i] * m


cdef void _dropout(const floating* x, floating* y, Py_ssize_t n, uint64_t key, double rate,
                   floating keep_scale) noexcept nogil:
    cdef FlatJob j
    cdef Py_ssize_t parts = _n_chunks(n)
    j.n, j.length, j.key, j.a, j.b = n, _chunk_len(n, parts), key, rate, keep_scale
    j.f64, j.x, j.p = floating is double, y, x
    _run(parts, _threads_for(parts), _dropout_task, &j)


cdef void _dropout_task(void* job, ptrdiff_t q) noexcept nogil:
    cdef FlatJob* j = <FlatJob*>job
    cdef Py_ssize_t i0, i1
    _chunk(j.n, j.length, q, &i0, &i1)
    if j.f64:
        _dropout_range(<const double*>j.p, <double*>j.x, i0, i1, j.key, j.a, j.b)
    else:
        _dropout_range(<const float*>j.p, <float*>j.x, i0, i1, j.key, j.a, <float>j.b)


# --------------------------------------------------------------------------- normalization
# Batch statistics are column reductions: columns are cut into tiles (their width depends on the
# number of columns only) and each column is summed over the rows in order, in double, by the
# one part that owns it. Layer statistics are row reductions, one row per part. Either way the
# result does not depend on the thread count.
cdef inline Py_ssize_t _col_tile_width(Py_ssize_t cols) noexcept nogil:
    """Columns per tile of a column pass: at most COL_TILES tiles, multiples of 16 wide."""
    cdef Py_ssize_t tiles = (cols + COL_TILE - 1) // COL_TILE
    cdef Py_ssize_t width
    if tiles > COL_TILES:
        tiles = COL_TILES
    if tiles < 1:
        tiles = 1
    width = ((cols + tiles - 1) // tiles + 15) // 16 * 16
    return COL_TILE_MAX if width > COL_TILE_MAX else width


cdef inline void _bn_forward_tile(const floating* x, const floating* gamma,
                                  const floating* beta, floating* mm, floating* mv, floating* y,
                                  floating* xhat, floating* inv_out, Py_ssize_t rows,
                                  Py_ssize_t cols, Py_ssize_t c0, Py_ssize_t c1, bint training,
                                  double momentum, double eps) noexcept nogil:
    """Batch normalization of columns [c0, c1): statistics, moving update, xhat and y."""
    cdef double acc[COL_TILE_MAX]
    cdef double mean64[COL_TILE_MAX]
    cdef Py_ssize_t i, j, at, width = c1 - c0
    cdef floating mean_f, var_f, inv_f, v
    cdef floating mom = <floating>momentum, rest = <floating>(1.0 - momentum)
    cdef double d
    if training:
        for j in range(width):
            acc[j] = 0
        for i in range(rows):
            at = i * cols + c0
            for j in range(width):
                acc[j] += x[at + j]
        for j in range(width):
            mean64[j] = acc[j] / rows
            acc[j] = 0
        for i in range(rows):
            at = i * cols + c0
            for j in range(width):
                d = x[at + j] - mean64[j]
                acc[j] += d * d
    for j in range(width):
        if training:
            mean_f = <floating>mean64[j]
            var_f = <floating>(acc[j] / rows)
            mm[c0 + j] = mm[c0 + j] * mom + mean_f * rest
            mv[c0 + j] = mv[c0 + j] * mom + var_f * rest
        else:
            mean_f = mm[c0 + j]
            var_f = mv[c0 + j]
        inv_f = <floating>1 / _sqrt(var_f + <floating>eps)
        # mean64 / acc now hold what the row loop below uses, in the row loop's dtype
        mean64[j] = mean_f
        acc[j] = inv_f
        if inv_out != NULL:
            inv_out[c0 + j] = inv_f
    for i in range(rows):
        at = i * cols + c0
        for j in range(width):
            v = (x[at + j] - <floating>mean64[j]) * <floating>acc[j]
            if xhat != NULL:
                xhat[at + j] = v
            if gamma != NULL:
                v = v * gamma[c0 + j]
            if beta != NULL:
                v = v + beta[c0 + j]
            y[at + j] = v


cdef inline void _norm_grads_tile(const floating* dy, const floating* xhat,
                                  const floating* gamma, const floating* inv, floating* dgamma,
                                  floating* dbeta, floating* dx, Py_ssize_t rows, Py_ssize_t cols,
                                  Py_ssize_t c0, Py_ssize_t c1, bint training) noexcept nogil:
    """Columns [c0, c1): dbeta = sum dy, dgamma = sum dy * xhat (in double, rows in order)
    and, when dx is not NULL, the batch-normalization input gradient (training: through the
    batch statistics; else k * dy)."""
    cdef double s1[COL_TILE_MAX]
    cdef double s2[COL_TILE_MAX]
    cdef Py_ssize_t i, j, at, width = c1 - c0
    cdef floating k, m1, m2, c
    for j in range(width):
        s1[j] = 0
        s2[j] = 0
    if dgamma != NULL or dbeta != NULL or (dx != NULL and training):
        for i in range(rows):
            at = i * cols + c0
            for j in range(width):
                s1[j] += dy[at + j]
                s2[j] += <double>dy[at + j] * xhat[at + j]
    for j in range(width):
        if dgamma != NULL:
            dgamma[c0 + j] = <floating>s2[j]
        if dbeta != NULL:
            dbeta[c0 + j] = <floating>s1[j]
    if dx == NULL:
        return
    for j in range(width):
        s1[j] = <floating>(s1[j] / rows)
        s2[j] = <floating>(s2[j] / rows)
    for i in range(rows):
        at = i * cols + c0
        for j in range(width):
            k = inv[c0 + j] if gamma == NULL else gamma[c0 + j] * inv[c0 + j]
            if training:
                m1 = <floating>s1[j]
                m2 = <floating>s2[j]
                c = dy[at + j] - m1
                c = c - xhat[at + j] * m2
                dx[at + j] = k * c
            else:
                dx[at + j] = k * dy[at + j]


cdef inline void _ln_forward_rows(const floating* x, const floating* gamma,
                                  const floating* beta, floating* y, floating* xhat,
                                  floating* inv_out, Py_ssize_t r0, Py_ssize_t r1,
                                  Py_ssize_t cols, double eps) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double total, mean64, d
    cdef floating mean_f, inv_f, v
    cdef const floating* row
    for i in range(r0, r1):
        row = x + i * cols
        total = 0
        for j in range(cols):
            total += row[j]
        mean64 = total / cols
        total = 0
        for j in range(cols):
            d = row[j] - mean64
            total += d * d
        mean_f = <floating>mean64
        inv_f = <floating>1 / _sqrt(<floating>(total / cols) + <floating>eps)
        if inv_out != NULL:
            inv_out[i] = inv_f
        for j in range(cols):
            v = (row[j] - mean_f) * inv_f
            if xhat != NULL:
                xhat[i * cols + j] = v
            if gamma != NULL:
                v = v * gamma[j]
            if beta != NULL:
                v = v + beta[j]
            y[i * cols + j] = v


cdef inline void _ln_dx_rows(const floating* dy, const floating* xhat, const floating* gamma,
                             const floating* inv, floating* dx, Py_ssize_t r0, Py_ssize_t r1,
                             Py_ssize_t cols) noexcept nogil:
    """dx = inv * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma, row by row."""
    cdef Py_ssize_t i, j, at
    cdef double s1, s2
    cdef floating g, m1, m2, c
    for i in range(r0, r1):
        at = i * cols
        s1 = 0
        s2 = 0
        for j in range(cols):
            g = dy[at + j] if gamma == NULL else dy[at + j] * gamma[j]
            s1 += g
            s2 += <double>g * xhat[at + j]
        m1 = <floating>(s1 / cols)
        m2 = <floating>(s2 / cols)
        for j in range(cols):
            g = dy[at + j] if gamma == NULL else dy[at + j] * gamma[j]
            c = g - m1
            c = c - xhat[at + j] * m2
            dx[at + j] = inv[i] * c


cdef struct NormJob:
    Py_ssize_t rows, cols, width, parts
    bint training, f64
    double momentum, eps
    const void* x          # forward input, or dy
    const void* xhat_in    # backward: the forward's xhat
    const void* gamma
    const void* beta
    void* mm
    void* mv
    void* y                # forward output, or dx
    void* xhat
    void* inv              # forward: written; backward: read
    void* dgamma
    void* dbeta


cdef void _bn_forward_task(void* job, ptrdiff_t t) noexcept nogil:
    cdef NormJob* j = <NormJob*>job
    cdef Py_ssize_t c0, c1
    _chunk(j.cols, j.width, t, &c0, &c1)
    if j.f64:
        _bn_forward_tile(<const double*>j.x, <const double*>j.gamma, <const double*>j.beta,
                         <double*>j.mm, <double*>j.mv, <double*>j.y, <double*>j.xhat,
                         <double*>j.inv, j.rows, j.cols, c0, c1, j.training, j.momentum, j.eps)
    else:
        _bn_forward_tile(<const float*>j.x, <const float*>j.gamma, <const float*>j.beta,
                         <float*>j.mm, <float*>j.mv, <float*>j.y, <float*>j.xhat,
                         <float*>j.inv, j.rows, j.cols, c0, c1, j.training, j.momentum, j.eps)


cdef void _norm_grads_task(void* job, ptrdiff_t t) noexcept nogil:
    cdef NormJob* j = <NormJob*>job
    cdef Py_ssize_t c0, c1
    _chunk(j.cols, j.width, t, &c0, &c1)
    if j.f64:
        _norm_grads_tile(<const double*>j.x, <const double*>j.xhat_in, <const double*>j.gamma,
                         <const double*>j.inv, <double*>j.dgamma, <double*>j.dbeta,
                         <double*>j.y, j.rows, j.cols, c0, c1, j.training)
    else:
        _norm_grads_tile(<const float*>j.x, <const float*>j.xhat_in, <const float*>j.gamma,
                         <const float*>j.inv, <float*>j.dgamma, <float*>j.dbeta,
                         <float*>j.y, j.rows, j.cols, c0, c1, j.training)


cdef void _ln_forward_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef NormJob* j = <NormJob*>job
    cdef Py_ssize_t r0 = _block_start(j.rows, j.parts, p), r1 = _block_start(j.rows, j.parts, p + 1)
    if j.f64:
        _ln_forward_rows(<const double*>j.x, <const double*>j.gamma, <const double*>j.beta,
                         <double*>j.y, <double*>j.xhat, <double*>j.inv, r0, r1, j.cols, j.eps)
    else:
        _ln_forward_rows(<const float*>j.x, <const float*>j.gamma, <const float*>j.beta,
                         <float*>j.y, <float*>j.xhat, <float*>j.inv, r0, r1, j.cols, j.eps)


cdef void _ln_dx_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef NormJob* j = <NormJob*>job
    cdef Py_ssize_t r0 = _block_start(j.rows, j.parts, p), r1 = _block_start(j.rows, j.parts, p + 1)
    if j.f64:
        _ln_dx_rows(<const double*>j.x, <const double*>j.xhat_in, <const double*>j.gamma,
                    <const double*>j.inv, <double*>j.y, r0, r1, j.cols)
    else:
        _ln_dx_rows(<const float*>j.x, <const float*>j.xhat_in, <const float*>j.gamma,
                    <const float*>j.inv, <float*>j.y, r0, r1, j.cols)


cdef inline void _run_column_pass(NormJob* j, mlp_part_fn fn) noexcept nogil:
    cdef Py_ssize_t tiles
    cdef int nt = 1
    j.width = _col_tile_width(j.cols)
    tiles = (j.cols + j.width - 1) // j.width
    if j.rows * j.cols >= PAR_MIN_ELEMENTS:
        nt = _threads_for(tiles)
    _run(tiles, nt, fn, j)


cdef void _batch_norm_forward(const floating* x, const floating* gamma, const floating* beta,
                              floating* mm, floating* mv, floating* y, floating* xhat,
                              floating* inv, Py_ssize_t rows, Py_ssize_t cols, bint training,
                              double momentum, double eps) noexcept nogil:
    cdef NormJob j
    j.rows, j.cols, j.training, j.f64 = rows, cols, training, floating is double
    j.momentum, j.eps = momentum, eps
    j.x, j.gamma, j.beta, j.mm, j.mv, j.y, j.xhat, j.inv = x, gamma, beta, mm, mv, y, xhat, inv
    _run_column_pass(&j, _bn_forward_task)


cdef void _norm_grads(const floating* dy, const floating* xhat, const floating* gamma,
                      const floating* inv, floating* dgamma, floating* dbeta, floating* dx,
                      Py_ssize_t rows, Py_ssize_t cols, bint training) noexcept nogil:
    """Batch normalization's backward pass (dx NULL: the parameter gradients only, which
    layer normalization shares)."""
    cdef NormJob j
    if dgamma == NULL and dbeta == NULL and dx == NULL:
        return
    j.rows, j.cols, j.training, j.f64 = rows, cols, training, floating is double
    j.x, j.xhat_in, j.gamma, j.dgamma, j.dbeta, j.y = dy, xhat, gamma, dgamma, dbeta, dx
    j.inv = <void*>inv
    _run_column_pass(&j, _norm_grads_task)


cdef void _layer_norm_forward(const floating* x, const floating* gamma, const floating* beta,
                              floating* y, floating* xhat, floating* inv, Py_ssize_t rows,
                              Py_ssize_t cols, double eps) noexcept nogil:
    cdef NormJob j
    j.rows, j.cols, j.parts, j.eps, j.f64 = rows, cols, _row_parts(rows, cols), eps, floating is double
    j.x, j.gamma, j.beta, j.y, j.xhat, j.inv = x, gamma, beta, y, xhat, inv
    _run(j.parts, _threads_for(j.parts), _ln_forward_task, &j)


cdef void _layer_norm_backward(const floating* dy, const floating* xhat, const floating* gamma,
                               const floating* inv, floating* dgamma, floating* dbeta,
                               floating* dx, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """The parameter gradients first (a column pass), then dx (a row pass), so dx may be dy."""
    cdef NormJob j
    _norm_grads(dy, xhat, gamma, inv, dgamma, dbeta, <floating*>NULL, rows, cols, False)
    if dx == NULL:
        return
    j.rows, j.cols, j.parts, j.f64 = rows, cols, _row_parts(rows, cols), floating is double
    j.x, j.xhat_in, j.gamma, j.y = dy, xhat, gamma, dx
    j.inv = <void*>inv
    _run(j.parts, _threads_for(j.parts), _ln_dx_task, &j)


# =========================================================================== Python entry points
# Each takes C-contiguous memoryviews of one dtype, already validated by mlp.backends.cpu.

def gemm(bint trans_a, bint trans_b, const floating[:, ::1] a, const floating[:, ::1] b,
         floating[:, ::1] out, double alpha, double beta):
    """out = alpha * op(a) @ op(b) + beta * out (row-major, split across threads when large)."""
    cdef Py_ssize_t m = out.shape[0], n = out.shape[1]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    with nogil:
        _gemm(trans_a, trans_b, m, n, k, <floating>alpha, &a[0, 0], a.shape[1], &b[0, 0],
              b.shape[1], <floating>beta, &out[0, 0], n)


def activation_forward(const floating[:, ::1] z, floating[:, ::1] out, int act, double alpha):
    """out = f(z); ``out`` may be ``z``."""
    with nogil:
        _activation_forward(&z[0, 0], &out[0, 0], z.shape[0], z.shape[1], act, <floating>alpha)


def activation_backward(const floating[:, ::1] dy, const floating[:, ::1] y,
                        const floating[:, ::1] z, floating[:, ::1] out, int act, double alpha):
    """out = dy * f'(z); ``z`` may be None unless the activation needs it; ``out`` may be ``dy``."""
    cdef const floating* zp = NULL
    if z is not None:
        zp = &z[0, 0]
    with nogil:
        _activation_backward(&dy[0, 0], &y[0, 0], zp, &out[0, 0], dy.shape[0], dy.shape[1],
                             act, <floating>alpha)


def dense_forward(const floating[:, ::1] x, const floating[:, ::1] w, const floating[::1] b,
                  floating[:, ::1] out, floating[:, ::1] preact, int act, double alpha):
    """out = f(x @ w + b); ``b`` and ``preact`` may be None."""
    cdef const floating* bp = NULL
    cdef floating* zp = NULL
    if b is not None:
        bp = &b[0]
    if preact is not None:
        zp = &preact[0, 0]
    with nogil:
        _dense_forward(&x[0, 0], &w[0, 0], bp, &out[0, 0], zp, x.shape[0], x.shape[1],
                       w.shape[1], act, <floating>alpha)


def dense_backward(const floating[:, ::1] x, const floating[:, ::1] w, const floating[:, ::1] y,
                   const floating[:, ::1] dy, const floating[:, ::1] preact,
                   floating[:, ::1] dz, floating[:, ::1] dw, floating[::1] db,
                   floating[:, ::1] dx, int act, double alpha):
    """dz = dy * f' with db = dz.sum(0), then dw = x.T @ dz and dx = dz @ w.T.

    ``preact``, ``db`` and ``dx`` may be None; ``dz`` may be ``dy``.
    """
    cdef const floating* zp = NULL
    cdef floating* dbp = NULL
    cdef floating* dxp = NULL
    if preact is not None:
        zp = &preact[0, 0]
    if db is not None:
        dbp = &db[0]
    if dx is not None:
        dxp = &dx[0, 0]
    with nogil:
        _grad_and_bias(&dy[0, 0], &y[0, 0], zp, &dz[0, 0], dbp, dy.shape[0], dy.shape[1], act,
                       <floating>alpha)
        _dense_backward_gemms(&x[0, 0], &w[0, 0], &dz[0, 0], &dw[0, 0], dxp, x.shape[0],
                              x.shape[1], w.shape[1])


def loss(int kind, const floating[:, ::1] pred, const floating[:, ::1] target,
         const int64_t[::1] labels, const floating[::1] weight, floating[:, ::1] grad,
         double[::1] row_loss, double delta, double epsilon):
    """Weighted mean loss (returned) and its gradient (into ``grad``).

    Exactly one of ``target`` (dense / one-hot) and ``labels`` (class indices) is not None;
    ``weight`` may be None. ``row_loss`` is a (rows,) workspace.
    """
    cdef const floating* tp = NULL
    cdef const int64_t* lp = NULL
    cdef const floating* wp = NULL
    cdef double value
    if target is not None:
        tp = &target[0, 0]
    if labels is not None:
        lp = &labels[0]
    if weight is not None:
        wp = &weight[0]
    with nogil:
        value = _loss(kind, &pred[0, 0], tp, lp, wp, &grad[0, 0], &row_loss[0], pred.shape[0],
                      pred.shape[1], <floating>delta, <floating>epsilon)
    return value


def sgd_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
               double lr, double momentum, bint nesterov, double weight_decay):
    """SGD step in place (see Backend.sgd_update); ``velocity`` may be None without momentum."""
    cdef OptimizerArgs o
    cdef floating* vp = NULL
    o.kind = 0
    o.lr = lr
    o.momentum = momentum
    o.nesterov = nesterov
    o.weight_decay = weight_decay
    if velocity is not None:
        vp = &velocity[0]
    with nogil:
        _update(&param[0], &grad[0], vp, NULL, NULL, param.shape[0], &o)


def adam_update(floating[::1] param, const floating[::1] grad, floating[::1] m, floating[::1] v,
                floating[::1] v_max, double lr, double beta_1, double beta_2, double epsilon,
                long long step, double weight_decay, bint decoupled,
                bint amsgrad):
    """Adam step in place; ``step`` counts from 1 (it sets the bias corrections)."""
    cdef OptimizerArgs o
    cdef floating* vmp = NULL
    o.kind = 1
    o.beta_1 = beta_1
    o.beta_2 = beta_2
    o.epsilon = epsilon
    _set_adam_step(&o, lr, step)
    o.weight_decay = weight_decay
    o.decoupled = decoupled
    o.amsgrad = amsgrad
    if v_max is not None:
        vmp = &v_max[0]
    with nogil:
        _update(&param[0], &grad[0], &m[0], &v[0], vmp, param.shape[0], &o)


def rmsprop_update(floating[::1] param, const floating[::1] grad, floating[::1] mean_square,
                   floating[::1] velocity, floating[::1] mean_grad, double lr, double rho,
                   double epsilon, double momentum, bint centered, double weight_decay):
    """RMSprop step in place; ``velocity`` / ``mean_grad`` may be None when unused."""
    cdef OptimizerArgs o
    cdef floating* vp = NULL
    cdef floating* mgp = NULL
    o.kind = 2
    o.lr = lr
    o.beta_2 = rho
    o.epsilon = epsilon
    o.momentum = momentum
    o.centered = centered
    o.weight_decay = weight_decay
    if velocity is not None:
        vp = &velocity[0]
    if mean_grad is not None:
        mgp = &mean_grad[0]
    with nogil:
        _update(&param[0], &grad[0], &mean_square[0], vp, mgp, param.shape[0], &o)


def adagrad_update(floating[::1] param, const floating[::1] grad, floating[::1] accumulator,
                   double lr, double epsilon, double weight_decay):
    """Adagrad step in place."""
    cdef OptimizerArgs o
    o.kind = 3
    o.lr = lr
    o.epsilon = epsilon
    o.weight_decay = weight_decay
    with nogil:
        _update(&param[0], &grad[0], &accumulator[0], NULL, NULL, param.shape[0], &o)


def scale_inplace(floating[::1] x, double factor):
    """x *= factor."""
    with nogil:
        _elementwise(0, &x[0], <const floating*>NULL, x.shape[0], <floating>factor, <floating>0)


def clip_inplace(floating[::1] x, double limit):
    """x = clip(x, -limit, limit)."""
    with nogil:
        _elementwise(1, &x[0], <const floating*>NULL, x.shape[0], <floating>limit, <floating>0)


def add_penalty_gradient(floating[::1] grad, const floating[::1] param, double l1, double l2):
    """grad += l1 * sign(param) + 2 * l2 * param."""
    with nogil:
        _elementwise(2, &grad[0], &param[0], grad.shape[0], <floating>l1, <floating>(2 * l2))


cdef inline int _nonfinite_range(const floating* x, Py_ssize_t i0, Py_ssize_t i1) noexcept nogil:
    """1 when some element of x[i0:i1] is NaN or infinite (_simd.h, vectorised)."""
    if floating is float:
        return mlp_nonfinite_f32(x + i0, i1 - i0)
    else:
        return mlp_nonfinite_f64(x + i0, i1 - i0)


def all_finite(const floating[::1] x):
    """Whether no element of ``x`` is NaN or infinite.

    Split across the threads only from ``ALL_FINITE_PAR_FACTOR * PAR_MIN_ELEMENTS`` elements:
    a memory-bound pass gains at most 2x from a second core, and when that core's thread has
    gone to sleep, waking it costs up to milliseconds on a small VM, which a pass below ~1 ms
    cannot win back.
    """
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t parts = _n_chunks(n) if n >= ALL_FINITE_PAR_FACTOR * PAR_MIN_ELEMENTS else 1
    cdef int bad = 0
    cdef FlatJob j
    if n == 0:
        return True
    j.n, j.length, j.f64, j.p, j.flag = n, _chunk_len(n, parts), floating is double, &x[0], &bad
    with nogil:
        _run(parts, _threads_for(parts), _nonfinite_task, &j)
    return bad == 0


cdef void _nonfinite_task(void* job, ptrdiff_t q) noexcept nogil:
    cdef FlatJob* j = <FlatJob*>job
    cdef Py_ssize_t i0, i1
    cdef int found
    _chunk(j.n, j.length, q, &i0, &i1)
    if j.f64:
        found = _nonfinite_range(<const double*>j.p, i0, i1)
    else:
        found = _nonfinite_range(<const float*>j.p, i0, i1)
    if found:
        mlp_flag_raise(j.flag)


def sum_of_squares(const floating[::1] x):
    """sum(x**2) in double, independent of the thread count."""
    cdef double value
    with nogil:
        value = _reduce(0, &x[0], x.shape[0])
    return value


def sum_of_abs(const floating[::1] x):
    """sum(|x|) in double, independent of the thread count."""
    cdef double value
    with nogil:
        value = _reduce(1, &x[0], x.shape[0])
    return value


def dropout(floating[::1] out, const floating[::1] x, uint64_t seed, uint64_t step,
            uint64_t layer, double rate):
    """out = x * mask (x None: out = mask) with the counter-based hash mask.

    ``out`` comes first: the fused-type dispatch reads the dtype from it, never from a None.
    """
    cdef const floating* xp = NULL
    cdef uint64_t key = _stream_key(seed, step, layer)
    cdef floating keep_scale = <floating>(1.0 / (1.0 - rate))
    if x is not None:
        xp = &x[0]
    with nogil:
        _dropout(xp, &out[0], out.shape[0], key, rate, keep_scale)


def norm_forward(int kind, const floating[:, ::1] x, const floating[::1] gamma,
                 const floating[::1] beta, floating[::1] moving_mean,
                 floating[::1] moving_variance, floating[:, ::1] out, floating[:, ::1] xhat,
                 floating[::1] inv_std, bint training, double momentum, double epsilon):
    """kind 0: batch normalization (see Backend.batch_norm_forward), 1: layer normalization
    (no moving statistics: None); None for gamma, beta, xhat, inv_std. At least one row."""
    cdef const floating* gp = NULL
    cdef const floating* bp = NULL
    cdef floating* xp = NULL
    cdef floating* ip = NULL
    if gamma is not None:
        gp = &gamma[0]
    if beta is not None:
        bp = &beta[0]
    if xhat is not None:
        xp = &xhat[0, 0]
    if inv_std is not None:
        ip = &inv_std[0]
    with nogil:
        if kind == 0:
            _batch_norm_forward(&x[0, 0], gp, bp, &moving_mean[0], &moving_variance[0],
                                &out[0, 0], xp, ip, x.shape[0], x.shape[1], training, momentum,
                                epsilon)
        else:
            _layer_norm_forward(&x[0, 0], gp, bp, &out[0, 0], xp, ip, x.shape[0], x.shape[1],
                                epsilon)


def norm_backward(int kind, const floating[:, ::1] dy, const floating[:, ::1] xhat,
                  const floating[::1] gamma, const floating[::1] inv_std,
                  floating[::1] dgamma, floating[::1] dbeta, floating[:, ::1] dx,
                  bint training):
    """kind 0: batch normalization's backward pass, 1: layer normalization's; None for
    gamma and for the outputs not needed. At least one row."""
    cdef const floating* gp = NULL
    cdef floating* dgp = NULL
    cdef floating* dbp = NULL
    cdef floating* dxp = NULL
    if gamma is not None:
        gp = &gamma[0]
    if dgamma is not None:
        dgp = &dgamma[0]
    if dbeta is not None:
        dbp = &dbeta[0]
    if dx is not None:
        dxp = &dx[0, 0]
    with nogil:
        if kind == 0:
            _norm_grads(&dy[0, 0], &xhat[0, 0], gp, &inv_std[0], dgp, dbp, dxp, dy.shape[0],
                        dy.shape[1], training)
        else:
            _layer_norm_backward(&dy[0, 0], &xhat[0, 0], gp, &inv_std[0], dgp, dbp, dxp,
                                 dy.shape[0], dy.shape[1])


# =========================================================================== the fused training plan
# A whole network step, and a whole epoch, without returning to Python (DESIGN.md section 4).
# The Python side (mlp.backends.cpu_plan) lays out every buffer once; this code only walks them.
from cpython.buffer cimport PyBUF_STRIDES, PyBuffer_Release, PyObject_GetBuffer
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy

cdef enum:
    STEP_DENSE = 0
    STEP_DROPOUT = 1
    STEP_ACTIVATION = 2
    STEP_BATCHNORM = 3
    STEP_LAYERNORM = 4


cdef struct StepSpec:
    int kind
    int index
    Py_ssize_t in_dim
    Py_ssize_t out_dim
    int act
    double alpha
    double rate
    uint64_t seed
    bint need_dx
    bint use_bias
    double l1
    double l2
    double bl1                # the bias regularizer
    double bl2
    Py_ssize_t w_off          # dense: the kernel; normalization: gamma (when scale)
    Py_ssize_t b_off          # the bias / beta (when use_bias)
    bint scale
    bint training             # normalization: trained (batch statistics); else inference mode
    double momentum
    double epsilon
    Py_ssize_t m_off          # batch normalization: the moving mean and variance
    Py_ssize_t v_off
    void* stats               # normalization: the inverse standard deviations
    void* out
    void* preact              # dense: the pre-activation; normalization: xhat
    void* dout


cdef struct PlanSpec:
    int n_steps
    StepSpec* steps
    Py_ssize_t capacity       # rows of every workspace
    Py_ssize_t n_params
    void* params
    void* grads
    void* s1
    void* s2
    void* s3
    OptimizerArgs opt
    double clipvalue
    double clipnorm
    double global_clipnorm
    Py_ssize_t n_segments
    Py_ssize_t* segments      # start, stop pairs (parameter tensors)
    Py_ssize_t n_ranges
    Py_ssize_t* ranges        # start, stop pairs the optimizer updates (the trainable ones)
    int loss_kind
    double delta
    double epsilon            # probability clipping of the losses on probabilities
    void* xb
    void* tb
    int64_t* lb
    void* wb
    double* row_loss


cdef inline floating* _f(void* p, floating* tag) noexcept nogil:
    return <floating*>p


cdef const floating* _plan_forward(PlanSpec* s, const floating* x, Py_ssize_t rows,
                                   bint training, uint64_t step_number) noexcept nogil:
    """Run every step on ``rows`` rows of ``x``; return a pointer to the last output."""
    cdef int i
    cdef StepSpec* st
    cdef const floating* cur = x
    cdef floating* out
    cdef floating* params = _f(s.params, <floating*>NULL)
    for i in range(s.n_steps):
        st = &s.steps[i]
        out = _f(st.out, <floating*>NULL)
        if st.kind == STEP_DENSE:
            _dense_forward(cur, params + st.w_off, params + st.b_off if st.use_bias else NULL,
                           out, _f(st.preact, <floating*>NULL), rows, st.in_dim, st.out_dim,
                           st.act, <floating>st.alpha)
            cur = out
        elif st.kind == STEP_DROPOUT:
            if training and st.rate > 0:
                _dropout(cur, out, rows * st.out_dim,
                         _stream_key(st.seed, step_number, <uint64_t>st.index), st.rate,
                         <floating>(1.0 / (1.0 - st.rate)))
                cur = out
            elif training:
                # backward reads every step's own output buffer
                memcpy(out, cur, rows * st.out_dim * sizeof(floating))
                cur = out
        elif st.kind == STEP_BATCHNORM:
            _batch_norm_forward(cur, params + st.w_off if st.scale else NULL,
                                params + st.b_off if st.use_bias else NULL, params + st.m_off,
                                params + st.v_off, out,
                                _f(st.preact, <floating*>NULL) if training else NULL,
                                _f(st.stats, <floating*>NULL), rows, st.out_dim,
                                training and st.training, st.momentum, st.epsilon)
            cur = out
        elif st.kind == STEP_LAYERNORM:
            _layer_norm_forward(cur, params + st.w_off if st.scale else NULL,
                                params + st.b_off if st.use_bias else NULL, out,
                                _f(st.preact, <floating*>NULL) if training else NULL,
                                _f(st.stats, <floating*>NULL), rows, st.out_dim, st.epsilon)
            cur = out
        else:
            _activation_forward(cur, out, rows, st.out_dim, st.act, <floating>st.alpha)
            cur = out
    return cur


cdef void _plan_backward(PlanSpec* s, const floating* x, Py_ssize_t rows,
                         uint64_t step_number) noexcept nogil:
    cdef int i
    cdef StepSpec* st
    cdef StepSpec* prev
    cdef const floating* x_in
    cdef floating* dx
    cdef floating* params = _f(s.params, <floating*>NULL)
    cdef floating* grads = _f(s.grads, <floating*>NULL)
    cdef floating* dy
    for i in range(s.n_steps - 1, -1, -1):
        st = &s.steps[i]
        dy = _f(st.dout, <floating*>NULL)
        x_in = x
        dx = NULL
        if i > 0:
            prev = &s.steps[i - 1]
            x_in = _plan_input_of(s, i, x)
            dx = _f(prev.dout, <floating*>NULL)
        if st.kind == STEP_DENSE:
            _grad_and_bias(dy, _f(st.out, <floating*>NULL), _f(st.preact, <floating*>NULL), dy,
                           grads + st.b_off if st.use_bias else NULL, rows, st.out_dim, st.act,
                           <floating>st.alpha)
            _dense_backward_gemms(x_in, params + st.w_off, dy, grads + st.w_off,
                                  dx if (st.need_dx and dx != NULL) else NULL, rows, st.in_dim,
                                  st.out_dim)
            if st.l1 != 0 or st.l2 != 0:
                _elementwise(2, grads + st.w_off, params + st.w_off, st.in_dim * st.out_dim,
                             <floating>st.l1, <floating>(2 * st.l2))
            if st.use_bias and (st.bl1 != 0 or st.bl2 != 0):
                _elementwise(2, grads + st.b_off, params + st.b_off, st.out_dim,
                             <floating>st.bl1, <floating>(2 * st.bl2))
        elif st.kind == STEP_BATCHNORM or st.kind == STEP_LAYERNORM:
            _plan_norm_backward(st, params, grads, dy, dx if (st.need_dx and dx != NULL) else NULL,
                                rows)
            if st.l1 != 0 or st.l2 != 0:
                _elementwise(2, grads + st.w_off, params + st.w_off, st.out_dim,
                             <floating>st.l1, <floating>(2 * st.l2))
            if st.use_bias and (st.bl1 != 0 or st.bl2 != 0):
                _elementwise(2, grads + st.b_off, params + st.b_off, st.out_dim,
                             <floating>st.bl1, <floating>(2 * st.bl2))
        elif dx == NULL or not st.need_dx:
            continue
        elif st.kind == STEP_DROPOUT:
            if st.rate > 0:
                _dropout(dy, dx, rows * st.out_dim,
                         _stream_key(st.seed, step_number, <uint64_t>st.index), st.rate,
                         <floating>(1.0 / (1.0 - st.rate)))
            else:
                memcpy(dx, dy, rows * st.out_dim * sizeof(floating))
        else:
            _activation_backward(dy, _f(st.out, <floating*>NULL), x_in, dx, rows, st.out_dim,
                                 st.act, <floating>st.alpha)


cdef inline void _plan_norm_backward(StepSpec* st, floating* params, floating* grads,
                                     const floating* dy, floating* dx,
                                     Py_ssize_t rows) noexcept nogil:
    """A normalization step's backward pass: gamma and beta gradients when it is trained, dx
    when asked (NULL: not needed)."""
    cdef floating* dgamma = grads + st.w_off if (st.training and st.scale) else NULL
    cdef floating* dbeta = grads + st.b_off if (st.training and st.use_bias) else NULL
    cdef const floating* gamma = params + st.w_off if st.scale else NULL
    if st.kind == STEP_BATCHNORM:
        _norm_grads(dy, _f(st.preact, <floating*>NULL), gamma, _f(st.stats, <floating*>NULL),
                    dgamma, dbeta, dx, rows, st.out_dim, st.training)
    else:
        _layer_norm_backward(dy, _f(st.preact, <floating*>NULL), gamma,
                             _f(st.stats, <floating*>NULL), dgamma, dbeta, dx, rows, st.out_dim)


cdef inline const floating* _plan_input_of(PlanSpec* s, int i, const floating* x) noexcept nogil:
    """The input of step ``i`` while training (every step writes its own output buffer)."""
    if i == 0:
        return x
    return _f(s.steps[i - 1].out, <floating*>NULL)


cdef double _plan_penalty(PlanSpec* s, floating* tag) noexcept nogil:
    cdef int i
    cdef double total = 0
    cdef StepSpec* st
    cdef floating* params = _f(s.params, tag)
    cdef Py_ssize_t size
    for i in range(s.n_steps):
        st = &s.steps[i]
        if st.kind == STEP_DENSE:
            size = st.in_dim * st.out_dim
        elif st.kind == STEP_BATCHNORM or st.kind == STEP_LAYERNORM:
            size = st.out_dim     # gamma
        else:
            continue
        if st.l1 != 0:
            total += st.l1 * _reduce(1, params + st.w_off, size)
        if st.l2 != 0:
            total += st.l2 * _reduce(0, params + st.w_off, size)
        if st.use_bias and st.bl1 != 0:
            total += st.bl1 * _reduce(1, params + st.b_off, st.out_dim)
        if st.use_bias and st.bl2 != 0:
            total += st.bl2 * _reduce(0, params + st.b_off, st.out_dim)
    return total


cdef inline floating* _offset(void* p, Py_ssize_t start, floating* tag) noexcept nogil:
    """``p + start`` as a floating pointer; NULL stays NULL (an unused optimizer slot)."""
    return NULL if p == NULL else _f(p, tag) + start


cdef void _plan_update(PlanSpec* s, double lr, long long step, floating* tag) noexcept nogil:
    """Clip the gradients as configured, then one optimizer update over each range of the
    flat buffer that is trained (the whole buffer unless layers are frozen)."""
    cdef floating* grads = _f(s.grads, tag)
    cdef Py_ssize_t k, start, stop
    cdef double norm, total
    if s.clipvalue > 0:
        for k in range(s.n_ranges):
            start = s.ranges[2 * k]
            stop = s.ranges[2 * k + 1]
            _elementwise(1, grads + start, <const floating*>NULL, stop - start,
                         <floating>s.clipvalue, <floating>0)
    if s.clipnorm > 0:
        for k in range(s.n_segments):
            start = s.segments[2 * k]
            stop = s.segments[2 * k + 1]
            norm = sqrt(_reduce(0, grads + start, stop - start))
            if norm > s.clipnorm:
                _elementwise(0, grads + start, <const floating*>NULL, stop - start,
                             <floating>(s.clipnorm / norm), <floating>0)
    if s.global_clipnorm > 0:
        total = 0
        for k in range(s.n_ranges):
            total += _reduce(0, grads + s.ranges[2 * k], s.ranges[2 * k + 1] - s.ranges[2 * k])
        norm = sqrt(total)
        if norm > s.global_clipnorm:
            for k in range(s.n_ranges):
                start = s.ranges[2 * k]
                stop = s.ranges[2 * k + 1]
                _elementwise(0, grads + start, <const floating*>NULL, stop - start,
                             <floating>(s.global_clipnorm / norm), <floating>0)
    s.opt.lr = lr
    if s.opt.kind == 1:
        _set_adam_step(&s.opt, lr, step)
    for k in range(s.n_ranges):
        start = s.ranges[2 * k]
        stop = s.ranges[2 * k + 1]
        _update(_f(s.params, tag) + start, grads + start, _offset(s.s1, start, tag),
                _offset(s.s2, start, tag), _offset(s.s3, start, tag), stop - start, &s.opt)


cdef double _plan_train_batch(PlanSpec* s, const floating* x, const floating* target,
                              const int64_t* labels, const floating* weight, Py_ssize_t rows,
                              double lr, long long step) noexcept nogil:
    """One optimizer step on ``rows`` gathered rows; returns the batch loss."""
    cdef const floating* out = _plan_forward(s, x, rows, True, <uint64_t>(step - 1))
    cdef StepSpec* last = &s.steps[s.n_steps - 1]
    cdef double value = _loss(s.loss_kind, out, target, labels, weight,
                              _f(last.dout, <floating*>NULL), s.row_loss, rows, last.out_dim,
                              <floating>s.delta, <floating>s.epsilon)
    _plan_backward(s, x, rows, <uint64_t>(step - 1))
    value += _plan_penalty(s, <floating*>NULL)
    _plan_update(s, lr, step, <floating*>NULL)
    return value


cdef void _gather_rows(floating* dst, const floating* x, const int64_t* order, Py_ssize_t rows,
                       Py_ssize_t width) noexcept nogil:
    """dst[r] = x[order[r]] for r < rows. Large batches are copied by all threads: the rows
    come from main memory, and two cores fetch them faster than one (B: 4% per epoch)."""
    cdef GatherJob j
    j.rows, j.parts, j.row_bytes = rows, _row_parts(rows, width), width * sizeof(floating)
    j.dst, j.src, j.order = <char*>dst, <const char*>x, order
    _run(j.parts, _threads_for(j.parts), _gather_task, &j)


cdef struct GatherJob:
    Py_ssize_t rows, parts, row_bytes
    char* dst
    const char* src
    const int64_t* order


cdef void _gather_task(void* job, ptrdiff_t p) noexcept nogil:
    cdef GatherJob* j = <GatherJob*>job
    cdef Py_ssize_t r
    for r in range(_block_start(j.rows, j.parts, p), _block_start(j.rows, j.parts, p + 1)):
        memcpy(j.dst + r * j.row_bytes, j.src + j.order[r] * j.row_bytes, j.row_bytes)


cdef double _plan_epoch(PlanSpec* s, const floating* x, const floating* target,
                        const int64_t* labels, const floating* weight, const int64_t* order,
                        Py_ssize_t n, Py_ssize_t batch_size, floating* outputs,
                        const double* lrs, long long first_step,
                        double total, mlp_tuner* tuner) noexcept nogil:
    """Gather each batch of ``x[order]``, train on it, record its outputs.

    Returns ``total`` plus each batch's loss times its rows, added in batch order (so an epoch
    run in parts that carry ``total`` along sums exactly as one call does).

    With ``tuner`` (not NULL), each step runs on the thread count the tuner picks, and its time
    is reported back: results are the same bits whatever it picks.
    """
    global _step_threads
    cdef long long started = 0
    cdef Py_ssize_t begin, rows, r
    cdef Py_ssize_t in_dim = s.steps[0].in_dim
    cdef Py_ssize_t out_dim = s.steps[s.n_steps - 1].out_dim
    cdef Py_ssize_t t_dim = out_dim
    cdef floating* xb = _f(s.xb, <floating*>NULL)
    cdef floating* tb = _f(s.tb, <floating*>NULL)
    cdef floating* wb = _f(s.wb, <floating*>NULL)
    cdef floating* last_out = _f(s.steps[s.n_steps - 1].out, <floating*>NULL)
    cdef double value
    cdef long long batch = 0
    begin = 0
    while begin < n:
        rows = batch_size if n - begin > batch_size else n - begin
        if tuner != NULL:
            _step_threads = mlp_tuner_threads(tuner, _num_threads)
            mlp_runtime_keep_awake(_step_threads > 1)
            started = mlp_now_ns()
        _gather_rows(xb, x, order + begin, rows, in_dim)
        if begin + rows < n and rows * in_dim * sizeof(floating) <= PREFETCH_MAX_BYTES:
            mlp_prefetch_rows(<const char*>x, order + begin + rows,
                              min(batch_size, n - begin - rows), in_dim * sizeof(floating))
        if target != NULL:
            for r in range(rows):
                memcpy(tb + r * t_dim, target + order[begin + r] * t_dim,
                       t_dim * sizeof(floating))
        else:
            for r in range(rows):
                s.lb[r] = labels[order[begin + r]]
        if weight != NULL:
            for r in range(rows):
                wb[r] = weight[order[begin + r]]
        value = _plan_train_batch(s, xb, tb if target != NULL else NULL,
                                  s.lb if labels != NULL else NULL,
                                  wb if weight != NULL else NULL, rows, lrs[batch],
                                  first_step + batch)
        memcpy(outputs + begin * out_dim, last_out, rows * out_dim * sizeof(floating))
        if tuner != NULL:
            mlp_tuner_record(tuner, mlp_now_ns() - started, <double>rows)
        total += value * rows
        begin += rows
        batch += 1
    _step_threads = 1 << 30
    if tuner != NULL:
        mlp_runtime_keep_awake(0)
    return total


cdef class FusedPlan:
    """The C side of a compiled model: pointers into buffers owned by ``mlp.backends.cpu_plan``.

    Created and filled by Python (``configure``), which keeps every buffer alive in ``_keep``.
    """

    cdef PlanSpec spec
    cdef mlp_tuner tuner
    cdef list _keep
    cdef public bint is_double

    def __cinit__(self):
        self.spec.steps = NULL
        self.spec.segments = NULL
        self.spec.ranges = NULL
        self._keep = []
        mlp_tuner_reset(&self.tuner)

    def tuner_state(self):
        """The thread tuner of this plan's training loop: whether a trial runs, the choice
        (``"many"`` or ``"one"`` thread), the steps per trial block and the trials so far."""
        return {"trial": bool(self.tuner.trial), "choice": "one" if self.tuner.choice else "many",
                "block_steps": self.tuner.block_steps, "trials": self.tuner.trials}

    def __dealloc__(self):
        free(self.spec.steps)
        free(self.spec.segments)
        free(self.spec.ranges)

    def configure(self, list steps, object params, object grads, object slots, dict optimizer,
                  list segments, int loss_kind, double delta, double epsilon,
                  object workspaces, list ranges=None):
        """Lay out the plan.

        ``steps``: dicts with the StepSpec fields and the arrays ``out``, ``preact`` (or None)
        and ``dout``; ``slots``: up to three optimizer-state arrays (None when unused);
        ``optimizer``: ``Optimizer.kernel_spec()`` with ``kind`` as its code, plus the clip
        settings; ``workspaces``: dict of
        ``xb``, ``tb``, ``lb``, ``wb``, ``row_loss`` arrays; ``ranges``: the (start, stop)
        pairs of the parameters the optimizer updates (default: all of them).
        """
        cdef int i
        cdef StepSpec* st
        if ranges is None:
            ranges = [(0, params.size)]
        for start, stop in ranges:
            if not 0 <= start <= stop <= params.size:
                raise ValueError(f"ranges: expected pairs 0 <= start <= stop <= {params.size}, "
                                 f"got {(start, stop)!r}")
        free(self.spec.steps)
        free(self.spec.segments)
        free(self.spec.ranges)
        self.spec.ranges = NULL
        self._keep = [params, grads, slots, steps, workspaces]
        self.is_double = params.dtype.itemsize == 8
        self.spec.n_steps = len(steps)
        self.spec.steps = <StepSpec*>calloc(max(1, len(steps)), sizeof(StepSpec))
        self.spec.n_segments = len(segments)
        self.spec.segments = <Py_ssize_t*>calloc(max(1, 2 * len(segments)), sizeof(Py_ssize_t))
        if self.spec.steps == NULL or self.spec.segments == NULL:
            raise MemoryError("FusedPlan: out of memory")
        for i, (start, stop) in enumerate(segments):
            self.spec.segments[2 * i] = start
            self.spec.segments[2 * i + 1] = stop
        self.spec.n_ranges = len(ranges)
        self.spec.ranges = <Py_ssize_t*>calloc(max(1, 2 * len(ranges)), sizeof(Py_ssize_t))
        if self.spec.ranges == NULL:
            raise MemoryError("FusedPlan: out of memory")
        for i, (start, stop) in enumerate(ranges):
            self.spec.ranges[2 * i] = start
            self.spec.ranges[2 * i + 1] = stop
        for i, d in enumerate(steps):
            st = &self.spec.steps[i]
            st.kind = d["kind"]
            st.index = d["index"]
            st.in_dim = d["in_dim"]
            st.out_dim = d["out_dim"]
            st.act = d["act"]
            st.alpha = d["alpha"]
            st.rate = d["rate"]
            st.seed = d["seed"]
            st.need_dx = d["need_dx"]
            st.use_bias = d["use_bias"]
            st.l1 = d["l1"]
            st.l2 = d["l2"]
            st.bl1 = d.get("bl1", 0.0)
            st.bl2 = d.get("bl2", 0.0)
            st.w_off = d["w_off"]
            st.b_off = d["b_off"]
            st.scale = d.get("scale", False)
            st.training = d.get("training", True)
            st.momentum = d.get("momentum", 0.0)
            st.epsilon = d.get("epsilon", 0.0)
            st.m_off = d.get("m_off", 0)
            st.v_off = d.get("v_off", 0)
            st.stats = _address(d.get("stats"))
            st.out = _address(d["out"])
            st.preact = _address(d["preact"])
            st.dout = _address(d["dout"])
        self.spec.capacity = workspaces["xb"].shape[0]
        self.spec.n_params = params.size
        self.spec.params = _address(params)
        self.spec.grads = _address(grads)
        self.spec.s1 = _address(slots[0])
        self.spec.s2 = _address(slots[1])
        self.spec.s3 = _address(slots[2])
        self.spec.opt.kind = optimizer["kind"]
        self.spec.opt.momentum = optimizer.get("momentum", 0.0)
        self.spec.opt.nesterov = optimizer.get("nesterov", False)
        self.spec.opt.weight_decay = optimizer.get("weight_decay", 0.0)
        self.spec.opt.decoupled = optimizer.get("decoupled", False)
        self.spec.opt.amsgrad = optimizer.get("amsgrad", False)
        self.spec.opt.centered = optimizer.get("centered", False)
        self.spec.opt.beta_1 = optimizer.get("beta_1", 0.0)
        # RMSprop's rho has the field of Adam's beta_2 (the spec names it as its update does)
        self.spec.opt.beta_2 = optimizer.get("beta_2", optimizer.get("rho", 0.0))
        self.spec.opt.epsilon = optimizer.get("epsilon", 0.0)
        self.spec.clipvalue = optimizer.get("clipvalue") or 0.0
        self.spec.clipnorm = optimizer.get("clipnorm") or 0.0
        self.spec.global_clipnorm = optimizer.get("global_clipnorm") or 0.0
        self.spec.loss_kind = loss_kind
        self.spec.delta = delta
        self.spec.epsilon = epsilon
        self.spec.xb = _address(workspaces["xb"])
        self.spec.tb = _address(workspaces["tb"])
        self.spec.lb = <int64_t*>_address(workspaces["lb"])
        self.spec.wb = _address(workspaces["wb"])
        self.spec.row_loss = <double*>_address(workspaces["row_loss"])

    def train_epoch(self, x, target, labels, weight, const int64_t[::1] order,
                    Py_ssize_t batch_size, outputs, const double[::1] lrs,
                    long long first_step, double loss_sum=0.0):
        """Train on every batch of ``x[order]``; returns ``loss_sum`` plus the sum over samples
        of the batch losses.

        ``first_step`` is the 1-based optimizer step of the first batch; ``lrs[k]`` the learning
        rate of batch ``k``. ``target`` (dense) or ``labels`` (int64) is None; so may ``weight``.
        """
        cdef void* xp = _address(x)
        cdef void* tp = _address(target)
        cdef const int64_t* lp = <const int64_t*>_address(labels)
        cdef void* wp = _address(weight)
        cdef void* op = _address(outputs)
        cdef Py_ssize_t n = order.shape[0]
        cdef double total = loss_sum
        cdef mlp_tuner* tuner = &self.tuner if _tuning and _num_threads > 1 else NULL
        if batch_size > self.spec.capacity:
            raise ValueError("batch_size: larger than the plan's workspaces")
        with nogil:
            if self.is_double:
                total = _plan_epoch(&self.spec, <const double*>xp, <const double*>tp, lp,
                                    <const double*>wp, &order[0], n, batch_size, <double*>op,
                                    &lrs[0], first_step, total, tuner)
            else:
                total = _plan_epoch(&self.spec, <const float*>xp, <const float*>tp, lp,
                                    <const float*>wp, &order[0], n, batch_size, <float*>op,
                                    &lrs[0], first_step, total, tuner)
        return total

    def forward(self, x, Py_ssize_t rows, out, bint check_finite=False):
        """Inference on ``rows`` rows of ``x`` (dropout off) into ``out`` (rows, out_dim).

        With ``check_finite``, first looks for NaN / inf in ``x`` and returns False, computing
        nothing, when there is one; returns True otherwise.
        """
        cdef void* xp = _address(x)
        cdef void* op = _address(out)
        cdef Py_ssize_t begin, part, width = self.spec.steps[self.spec.n_steps - 1].out_dim
        cdef Py_ssize_t in_dim = self.spec.steps[0].in_dim
        cdef const void* result
        cdef int bad = 0
        if check_finite:
            with nogil:
                if self.is_double:
                    bad = _nonfinite_range(<const double*>xp, 0, rows * in_dim)
                else:
                    bad = _nonfinite_range(<const float*>xp, 0, rows * in_dim)
            if bad:
                return False
        with nogil:
            begin = 0
            while begin < rows:
                part = self.spec.capacity if rows - begin > self.spec.capacity else rows - begin
                if self.is_double:
                    result = _plan_forward(&self.spec, <const double*>xp + begin * in_dim, part,
                                           False, 0)
                    memcpy(<double*>op + begin * width, result, part * width * sizeof(double))
                else:
                    result = _plan_forward(&self.spec, <const float*>xp + begin * in_dim, part,
                                           False, 0)
                    memcpy(<float*>op + begin * width, result, part * width * sizeof(float))
                begin += part
        return True


cdef void* _address(object array) except? NULL:
    """The data pointer of a NumPy array (NULL for None); the caller keeps the array alive.

    Read through the buffer protocol: ``__array_interface__`` builds a dict on every call,
    which cost about a microsecond of each single-sample ``predict``.
    """
    cdef Py_buffer view
    cdef void* data
    if array is None:
        return NULL
    PyObject_GetBuffer(array, &view, PyBUF_STRIDES)
    data = view.buf
    PyBuffer_Release(&view)
    return data
