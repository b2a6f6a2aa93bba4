/* Elementwise loops compiled once per x86 vector width and picked at load time: Adam's update,
 * the ReLU / linear backward with its bias sums, the NaN check, float32 sigmoid and softmax.
 *
 * The extension is built for the baseline x86-64 ISA (SSE2), so the compiler vectorises its
 * loops 4 floats wide. These loops are bound by arithmetic throughput (division, square root,
 * exp) or by how many elements one instruction handles: on x86-64 Linux with GCC they are cloned
 * for AVX-512 and AVX2 and the dynamic loader picks the widest clone the CPU runs (an ifunc).
 * Elsewhere they compile once, for the build's ISA.
 *
 * Results do not depend on the clone chosen: every element is computed by the same sequence of
 * IEEE operations (the build sets -ffp-contract=off, so no clone fuses a multiply and an add).
 */
#ifndef MLP_SIMD_H
#define MLP_SIMD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* target_clones needs the loader's ifunc support: glibc has it, musl does not */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__)
#define MLP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MLP_CLONES
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define MLP_IVDEP _Pragma("GCC ivdep")   /* in place (y == z) is fine: same index read, written */
#else
#define MLP_IVDEP
#endif

#if defined(_MSC_VER)
#define restrict __restrict
#endif

/* Adam / AdamW / AMSGrad over elements [i0, i1). ``step`` is lr / (1 - beta_1^t),
 * ``inv_bc2`` is 1 / sqrt(1 - beta_2^t); the four flag combinations get their own loop so that
 * each one vectorises without branches. */
#define MLP_DEFINE_ADAM(NAME, T, SQRT)                                                          \
MLP_CLONES static void NAME(T* restrict param, const T* restrict grad, T* restrict m,           \
                            T* restrict v, T* restrict vmax, ptrdiff_t i0, ptrdiff_t i1,        \
                            T b1, T b2, T step, T inv_bc2, T eps, T wd, T shrink,              \
                            int decoupled, int amsgrad) {                                       \
    const T c1 = 1 - b1, c2 = 1 - b2;                                                           \
    ptrdiff_t i;                                                                                \
    if (!decoupled && !amsgrad) {                                                               \
        for (i = i0; i < i1; i++) {                                                             \
            T g = grad[i] + wd * param[i];                                                      \
            T mi = b1 * m[i] + c1 * g;                                                          \
            T vi = b2 * v[i] + c2 * g * g;                                                      \
            m[i] = mi;                                                                          \
            v[i] = vi;                                                                          \
            param[i] = param[i] - step * mi / (SQRT(vi) * inv_bc2 + eps);                       \
        }                                                                                       \
    } else if (decoupled && !amsgrad) {                                                         \
        for (i = i0; i < i1; i++) {                                                             \
            T p = param[i] * shrink;                                                            \
            T g = grad[i];                                                                      \
            T mi = b1 * m[i] + c1 * g;                                                          \
            T vi = b2 * v[i] + c2 * g * g;                                                      \
            m[i] = mi;                                                                          \
            v[i] = vi;                                                                          \
            param[i] = p - step * mi / (SQRT(vi) * inv_bc2 + eps);                              \
        }                                                                                       \
    } else {                                                                                    \
        for (i = i0; i < i1; i++) {                                                             \
            T p = decoupled ? param[i] * shrink : param[i];                                     \
            T g = decoupled ? grad[i] : grad[i] + wd * param[i];                                \
            T mi = b1 * m[i] + c1 * g;                                                          \
            T vi = b2 * v[i] + c2 * g * g;                                                      \
            T top = vi > vmax[i] ? vi : vmax[i];                                                \
            m[i] = mi;                                                                          \
            v[i] = vi;                                                                          \
            vmax[i] = top;                                                                      \
            param[i] = p - step * mi / (SQRT(top) * inv_bc2 + eps);                             \
        }                                                                                       \
    }                                                                                           \
}

MLP_DEFINE_ADAM(mlp_adam_f32, float, sqrtf)
MLP_DEFINE_ADAM(mlp_adam_f64, double, sqrt)

/* The backward pass of a ReLU (``relu`` = 1) or linear dense layer on a block of ``width``
 * columns of a row-major (rows x cols) batch: dz = dy * (y > 0) (or dz = dy), and the column
 * sums of dz added to ``acc`` row after row, in double. ``dz`` may be ``dy`` or ``y`` (each
 * element is read before it is written); ``y`` is not read (and may be NULL) without relu.
 * In tiles up to 256 KiB, columns go in groups of 16 whose sums stay in registers through the
 * rows (kept in memory, each row's sums waited for the previous row's stores); either way every
 * sum adds its column's rows in order, so the bits are those of a plain row loop. */
/* ``y > 0 ? d : 0`` as a bit mask, which every vector width turns into a blend (the
 * conditional form became branches in the AVX2 clone of the 16-column groups). */
static inline float mlp_if_positive_f32(float y, float d) {
    union { float f; unsigned int u; } v;
    v.f = d;
    v.u &= 0u - (unsigned int)(y > 0);
    return v.f;
}
static inline double mlp_if_positive_f64(double y, double d) {
    union { double f; unsigned long long u; } v;
    v.f = d;
    v.u &= 0ull - (unsigned long long)(y > 0);
    return v.f;
}
#define MLP_IF_POSITIVE(T, y, d) \
    (sizeof(T) == 4 ? (T)mlp_if_positive_f32((float)(y), (float)(d)) \
                    : (T)mlp_if_positive_f64((double)(y), (double)(d)))
#define MLP_GROUPED_SUMS_MAX_BYTES 262144  /* tiles up to this size per array go by groups */
#define MLP_DEFINE_RELU_GRAD_BIAS(NAME, T)                                                      \
MLP_CLONES static void NAME(const T* dy, const T* y, T* dz, double* restrict acc,              \
                            ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t width, int relu) {        \
    ptrdiff_t i, j, k;                                                                          \
    if ((size_t)rows * (size_t)width * sizeof(T) > MLP_GROUPED_SUMS_MAX_BYTES) {               \
        /* a large tile streams whole row segments (groups would walk 64-byte pieces of rows \
         * far apart, which the prefetcher does not follow); the sums wait on memory, but   \
         * each row brings many columns */                                                  \
        for (i = 0; i < rows; i++) {                                                            \
            const T* dy_row = dy + i * cols;                                                    \
            const T* y_row = relu ? y + i * cols : dy_row;                                      \
            T* dz_row = dz + i * cols;                                                          \
            MLP_IVDEP                                                                           \
            for (j = 0; j < width; j++) {                                                       \
                T v = relu ? MLP_IF_POSITIVE(T, y_row[j], dy_row[j]) : dy_row[j];               \
                dz_row[j] = v;                                                                  \
                acc[j] += v;                                                                    \
            }                                                                                   \
        }                                                                                       \
        return;                                                                                 \
    }                                                                                           \
    for (j = 0; j + 16 <= width; j += 16) {                                                     \
        double sum[16];                                                                         \
        for (k = 0; k < 16; k++) sum[k] = acc[j + k];                                           \
        if (relu) {                                                                             \
            for (i = 0; i < rows; i++) {                                                        \
                const T* dy_row = dy + i * cols + j;                                            \
                const T* y_row = y + i * cols + j;                                              \
                T* dz_row = dz + i * cols + j;                                                  \
                T v[16];                                                                        \
                for (k = 0; k < 16; k++) v[k] = MLP_IF_POSITIVE(T, y_row[k], dy_row[k]);      \
                for (k = 0; k < 16; k++) { dz_row[k] = v[k]; sum[k] += v[k]; }                  \
            }                                                                                   \
        } else {                                                                                \
            for (i = 0; i < rows; i++) {                                                        \
                const T* dy_row = dy + i * cols + j;                                            \
                T* dz_row = dz + i * cols + j;                                                  \
                T v[16];                                                                        \
                for (k = 0; k < 16; k++) v[k] = dy_row[k];                                      \
                for (k = 0; k < 16; k++) { dz_row[k] = v[k]; sum[k] += v[k]; }                  \
            }                                                                                   \
        }                                                                                       \
        for (k = 0; k < 16; k++) acc[j + k] = sum[k];                                           \
    }                                                                                           \
    for (; j < width; j++) {                                                                    \
        double sum = acc[j];                                                                    \
        for (i = 0; i < rows; i++) {                                                            \
            T v = dy[i * cols + j];                                                             \
            v = relu && !(y[i * cols + j] > 0) ? (T)0 : v;                                      \
            dz[i * cols + j] = v;                                                               \
            sum += v;                                                                           \
        }                                                                                       \
        acc[j] = sum;                                                                           \
    }                                                                                           \
}

MLP_DEFINE_RELU_GRAD_BIAS(mlp_relu_grad_bias_f32, float)
MLP_DEFINE_RELU_GRAD_BIAS(mlp_relu_grad_bias_f64, double)

/* dz = dy * f'(z) on n elements for sigmoid (dy * y * (1 - y)) or tanh (dy * (1 - y * y)),
 * written through the output y; dz may be dy or y. */
#define MLP_DEFINE_SMOOTH_GRAD(NAME, T)                                                         \
MLP_CLONES static void NAME(const T* dy, const T* y, T* dz, ptrdiff_t n, int is_tanh) {         \
    ptrdiff_t j;                                                                                \
    if (is_tanh) {                                                                              \
        MLP_IVDEP                                                                               \
        for (j = 0; j < n; j++) dz[j] = dy[j] * (1 - y[j] * y[j]);                              \
    } else {                                                                                    \
        MLP_IVDEP                                                                               \
        for (j = 0; j < n; j++) dz[j] = dy[j] * y[j] * (1 - y[j]);                              \
    }                                                                                           \
}

MLP_DEFINE_SMOOTH_GRAD(mlp_smooth_grad_f32, float)
MLP_DEFINE_SMOOTH_GRAD(mlp_smooth_grad_f64, double)

/* 1 when some element of x[0:n] is NaN or infinite: v - v is 0 for a finite v, NaN otherwise.
 * Branch-free, so the loop vectorises; it reads every element (inputs are checked whole). */
#define MLP_DEFINE_NONFINITE(NAME, T)                                                           \
MLP_CLONES static int NAME(const T* restrict x, ptrdiff_t n) {                                  \
    ptrdiff_t i;                                                                                \
    int bad = 0;                                                                                \
    for (i = 0; i < n; i++) bad |= (x[i] - x[i]) != 0;                                          \
    return bad;                                                                                 \
}

MLP_DEFINE_NONFINITE(mlp_nonfinite_f32, float)
MLP_DEFINE_NONFINITE(mlp_nonfinite_f64, double)

/* exp for float32, written to vectorise: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two
 * parts so that n ln2 is exact), exp(r) by its Taylor polynomial of degree 7 (truncation below
 * 3e-9 relative), times 2^n built in the exponent bits. Within 2 ulp of the true value on
 * [-87.3, 88]. Below -87.3 the true value is denormal and the result is 0 (what flush-to-zero
 * makes of it); above 88 it is exp(88); NaN stays NaN. */
static inline float mlp_expf(float x) {
    const float shift = 12582912.0f;  /* 1.5 * 2^23: adding it rounds to an integer */
    const float lowest = -87.3365f, highest = 88.0f;
    float c, t, n, r, p;
    union { float f; int i; } scale;
    c = x > lowest ? x : lowest;      /* NaN goes to `lowest` here, and is put back below */
    c = c < highest ? c : highest;
    t = c * 1.44269504088896341f + shift;
    n = t - shift;
    r = c - n * 0.693359375f;          /* ln2 high part: 8 significant bits, n * it is exact */
    r = r - n * -2.12194440e-4f;       /* ln2 low part */
    p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    scale.i = ((int)n + 127) * (1 << 23);  /* n in [-126, 127]: a normal power of two */
    p = p * scale.f;
    p = x < lowest ? 0.0f : p;
    return x != x ? x : p;
}

/* sigmoid(v) from q = exp(-|v|), which keeps it finite and accurate for any v. */
static inline float mlp_sigmoid_from_tail(float v, float q) {
    float s = 1.0f / (1.0f + q);
    return v >= 0 ? s : q * s;
}

/* y = sigmoid(z) on n elements (y may be z). */
MLP_CLONES static void mlp_sigmoid_f32(const float* z, float* y, ptrdiff_t n) {
    ptrdiff_t j;
    MLP_IVDEP
    for (j = 0; j < n; j++) {
        float v = z[j];
        y[j] = mlp_sigmoid_from_tail(v, mlp_expf(v < 0 ? v : -v));
    }
}

/* y = softmax(z) of one row of n (y may be z); the sum of the exponentials in double. */
MLP_CLONES static void mlp_softmax_row_f32(const float* z, float* y, ptrdiff_t n) {
    ptrdiff_t j;
    float top = z[0], inv;
    double total = 0;
    for (j = 1; j < n; j++) top = z[j] > top ? z[j] : top;
    MLP_IVDEP
    for (j = 0; j < n; j++) y[j] = mlp_expf(z[j] - top);
    for (j = 0; j < n; j++) total += y[j];
    inv = (float)(1.0 / total);
    MLP_IVDEP
    for (j = 0; j < n; j++) y[j] = y[j] * inv;
}

/* log(1 + u) for u in [0, 1] (and NaN), written to vectorise: 1 + u = y with the rounding
 * error c = u - (y - 1) kept; y = 2^k f with f in [sqrt(1/2), sqrt(2)); log f = 2 atanh(s),
 * s = (f - 1) / (f + 1), |s| < 0.172, by its series to s^9 (truncation below 3e-9 relative);
 * log1p(u) = k ln2 + log f + c / y. A few ulp from the true value on [0, 1] (the tests hold it,
 * through the loss, to 4 ulp of float64). */
static inline float mlp_log1pf_unit(float u) {
    float y = 1.0f + u;
    float c = u - (y - 1.0f);
    int big = y > 1.41421356f;
    float f = big ? 0.5f * y : y;
    float s = (f - 1.0f) / (f + 1.0f);
    float s2 = s * s;
    float p = 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    float k = big ? 1.0f : 0.0f;
    /* ln2 in two parts: k * 0.693145751953125 is exact */
    return (k * 0.693145751953125f + (2.0f * s * p + c / y)) + k * 1.42860677e-6f;
}

/* Binary cross-entropy from logits on rows [r0, r1) of an (n x m) batch, float32: per element
 * max(e, 0) - e t + log1p(exp(-|e|)), the row's loss their mean times the row's weight (1 when
 * ``weight`` is NULL) into ``row_loss``, and the gradient (sigmoid(e) - t) * weight * inv_n / m
 * into ``grad``. One exp serves the loss and the sigmoid. */
/* One element's binary cross-entropy from the logit e against t; sigmoid(e) into *sig. */
static inline float mlp_bce_logit(float e, float t, float* sig) {
    float q = mlp_expf(e < 0 ? e : -e);
    *sig = mlp_sigmoid_from_tail(e, q);
    return (e > 0 ? e : 0.0f) - e * t + mlp_log1pf_unit(q);
}

MLP_CLONES static void mlp_bce_logits_f32(const float* pred, const float* target,
                                          const float* weight, float* grad,
                                          double* restrict row_loss, ptrdiff_t r0, ptrdiff_t r1,
                                          ptrdiff_t m, float inv_n) {
    ptrdiff_t i, j;
    if (m == 1) {
        for (i = r0; i < r1; i++) {
            float w = weight ? weight[i] : 1.0f;
            float sig, l = mlp_bce_logit(pred[i], target[i], &sig);
            grad[i] = (sig - target[i]) * (w * inv_n);
            row_loss[i] = (double)w * (double)l;
        }
        return;
    }
    for (i = r0; i < r1; i++) {
        const float* p = pred + i * m;
        const float* tr = target + i * m;
        float* g = grad + i * m;
        float w = weight ? weight[i] : 1.0f;
        float mean_scale = (w * inv_n) / (float)m;
        double total = 0;
        for (j = 0; j < m; j++) {
            float sig;
            total += mlp_bce_logit(p[j], tr[j], &sig);
            g[j] = (sig - tr[j]) * mean_scale;
        }
        row_loss[i] = (double)w * (total / (double)m);
    }
}

/* The epilogue of a dense layer's GEMM on a block of ``width`` columns of ``rows`` rows with
 * row stride ``cols``: add the bias (when not NULL), keep the pre-activation in ``z_out`` (when
 * not NULL), apply ReLU (``relu`` = 1) or nothing; ``y`` is written in place. One pass per
 * row; a one-column layer (the output of a binary classifier) is one pass over its rows. */
#define MLP_DEFINE_BIAS_RELU(NAME, T)                                                           \
MLP_CLONES static void NAME(T* y, T* z_out, const T* b, ptrdiff_t rows, ptrdiff_t width,        \
                            ptrdiff_t cols, int relu) {                                         \
    ptrdiff_t i, j;                                                                             \
    if (width == 1 && cols == 1) {                                                              \
        const T bias = b ? b[0] : (T)0;                                                         \
        MLP_IVDEP                                                                               \
        for (i = 0; i < rows; i++) {                                                            \
            T v = b ? y[i] + bias : y[i];                                                       \
            if (z_out) z_out[i] = v;                                                            \
            y[i] = relu && v <= 0 ? (T)0 : v;                                                   \
        }                                                                                       \
        return;                                                                                 \
    }                                                                                           \
    for (i = 0; i < rows; i++) {                                                                \
        T* row = y + i * cols;                                                                  \
        T* z = z_out ? z_out + i * cols : NULL;                                                 \
        MLP_IVDEP                                                                               \
        for (j = 0; j < width; j++) {                                                           \
            T v = b ? row[j] + b[j] : row[j];                                                   \
            if (z) z[j] = v;                                                                    \
            row[j] = relu && v <= 0 ? (T)0 : v;                                                 \
        }                                                                                       \
    }                                                                                           \
}

MLP_DEFINE_BIAS_RELU(mlp_bias_relu_f32, float)
MLP_DEFINE_BIAS_RELU(mlp_bias_relu_f64, double)

/* c (m x n, row stride ldc) = alpha * (a_i * b_j): a GEMM with k = 1 without BLAS' packing.
 * With alpha = 1 (every caller inside the kernels) these are the bits of OpenBLAS' sgemm /
 * dgemm, but for a product of -0, which stays -0.0 where BLAS' accumulation gives +0.0; with
 * another alpha, alpha * (a b) may differ in the last bit from gemv's (alpha a) b. a and b are
 * strided vectors. */
#define MLP_DEFINE_OUTER(NAME, T)                                                               \
MLP_CLONES static void NAME(T* restrict c, ptrdiff_t ldc, const T* restrict a, ptrdiff_t inc_a,  \
                            const T* restrict b, ptrdiff_t inc_b, ptrdiff_t m, ptrdiff_t n,     \
                            T alpha) {                                                          \
    ptrdiff_t i, j;                                                                             \
    for (i = 0; i < m; i++) {                                                                   \
        const T ai = a[i * inc_a];                                                              \
        T* row = c + i * ldc;                                                                   \
        if (inc_b == 1) {                                                                       \
            for (j = 0; j < n; j++) row[j] = alpha * (ai * b[j]);                               \
        } else {                                                                                \
            for (j = 0; j < n; j++) row[j] = alpha * (ai * b[j * inc_b]);                       \
        }                                                                                       \
    }                                                                                           \
}

MLP_DEFINE_OUTER(mlp_outer_f32, float)
MLP_DEFINE_OUTER(mlp_outer_f64, double)

/* Ask for the rows order[0 .. rows) of ``src`` ahead of their gather, into the L2 cache: the
 * next batch's rows of a shuffled epoch are random reads, and their misses, not the copies,
 * made most of a small step's gather time. */
static inline void mlp_prefetch_rows(const char* src, const int64_t* order, ptrdiff_t rows,
                                     size_t row_bytes) {
#if defined(__GNUC__)
    ptrdiff_t r;
    size_t off;
    if (row_bytes == 0)
        return;
    for (r = 0; r < rows; r++) {
        const char* row = src + order[r] * row_bytes;
        for (off = 0; off < row_bytes; off += 64)
            __builtin_prefetch(row + off, 0, 2);
        __builtin_prefetch(row + row_bytes - 1, 0, 2);
    }
#else
    (void)src; (void)order; (void)rows; (void)row_bytes;
#endif
}

#endif
