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
 * element is read before it is written); ``y`` is not read (and may be NULL) without relu. */
#define MLP_DEFINE_RELU_GRAD_BIAS(NAME, T)                                                      \
MLP_CLONES static void NAME(const T* dy, const T* y, T* dz, double* restrict acc,              \
                            ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t width, int relu) {        \
    ptrdiff_t i, j;                                                                             \
    for (i = 0; i < rows; i++) {                                                                \
        const T* dy_row = dy + i * cols;                                                        \
        T* dz_row = dz + i * cols;                                                              \
        if (relu) {                                                                             \
            const T* y_row = y + i * cols;                                                      \
            MLP_IVDEP                                                                           \
            for (j = 0; j < width; j++) {                                                       \
                T v = y_row[j] > 0 ? dy_row[j] : (T)0;                                          \
                dz_row[j] = v;                                                                  \
                acc[j] += v;                                                                    \
            }                                                                                   \
        } else {                                                                                \
            MLP_IVDEP                                                                           \
            for (j = 0; j < width; j++) {                                                       \
                T v = dy_row[j];                                                                \
                dz_row[j] = v;                                                                  \
                acc[j] += v;                                                                    \
            }                                                                                   \
        }                                                                                       \
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

/* y = sigmoid(z) on n elements (y may be z): exp(-|z|) keeps it finite and accurate for any z. */
MLP_CLONES static void mlp_sigmoid_f32(const float* z, float* y, ptrdiff_t n) {
    ptrdiff_t j;
    MLP_IVDEP
    for (j = 0; j < n; j++) {
        float v = z[j];
        float e = mlp_expf(v < 0 ? v : -v);
        float s = 1.0f / (1.0f + e);
        y[j] = v >= 0 ? s : e * s;
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

#endif
