"""The CUDA C sources of the ``cupy`` backend's kernels (compiled by CuPy / NVRTC on first use).

Activation and loss codes in the switches are those of :mod:`mlp.backends.codes`. The row kernels
(``SOFTMAX_SOURCE``, ``LOSS_SOURCE``) are compiled after ``typedef <float|double> T;``,
``#define MLP_MAX_BLOCK <MAX_BLOCK>``, ``MATH`` and ``BLOCK_REDUCE``
(:func:`mlp.backends.cupy.raw_source`); ``tests/backends/test_cuda_compile.py`` compiles every
source the backend generates with NVRTC.
"""
MATH = r"""
__device__ __forceinline__ float mlp_exp(float x) { return expf(x); }
__device__ __forceinline__ double mlp_exp(double x) { return exp(x); }
__device__ __forceinline__ float mlp_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double mlp_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float mlp_log(float x) { return logf(x); }
__device__ __forceinline__ double mlp_log(double x) { return log(x); }
__device__ __forceinline__ float mlp_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double mlp_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float mlp_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double mlp_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float mlp_erf(float x) { return erff(x); }
__device__ __forceinline__ double mlp_erf(double x) { return erf(x); }
__device__ __forceinline__ float mlp_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double mlp_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float mlp_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double mlp_abs(double x) { return fabs(x); }

/* Logistic function that never overflows: exp is only taken of -|z|. */
template <typename F> __device__ __forceinline__ F mlp_sigmoid(F z) {
    const F e = mlp_exp(-mlp_abs(z));
    const F s = (F)1 / ((F)1 + e);
    return z >= (F)0 ? s : e * s;
}

/* sign(x) with sign(0) = 0 and NaN kept. */
template <typename F> __device__ __forceinline__ F mlp_sign(F x) {
    return x > (F)0 ? (F)1 : (x < (F)0 ? (F)-1 : x);
}

/* Activation codes: 0 linear, 1 relu, 2 leaky_relu, 3 elu, 4 sigmoid, 5 tanh, 6 softmax (done by
   the row kernel, linear here), 7 gelu (exact, erf), 8 swish. */
template <typename F> __device__ __forceinline__ F mlp_act(F z, int act, F alpha) {
    switch (act) {
    case 1: return z <= (F)0 ? (F)0 : z;
    case 2: return z > (F)0 ? z : alpha * z;
    case 3: return z > (F)0 ? z : alpha * mlp_expm1(z);
    case 4: return mlp_sigmoid(z);
    case 5: return mlp_tanh(z);
    case 7: return (F)0.5 * z * ((F)1 + mlp_erf(z * (F)0.70710678118654752440));
    case 8: return z * mlp_sigmoid(z);
    default: return z;
    }
}

/* dy * f'(z), written with the output y except for gelu and swish, which need z. */
template <typename F> __device__ __forceinline__ F mlp_act_grad(F dy, F y, F z, int act, F alpha) {
    switch (act) {
    case 1: return y > (F)0 ? dy : (F)0;
    case 2: return y > (F)0 ? dy : alpha * dy;
    case 3: return y > (F)0 ? dy : dy * (y + alpha);
    case 4: return dy * (y * ((F)1 - y));
    case 5: return dy * ((F)1 - y * y);
    case 7: return dy * ((F)0.5 * ((F)1 + mlp_erf(z * (F)0.70710678118654752440))
                         + z * ((F)0.39894228040143267794 * mlp_exp((F)-0.5 * z * z)));
    case 8: {
        const F s = mlp_sigmoid(z);
        return dy * (s * ((F)1 + z * ((F)1 - s)));
    }
    default: return dy;
    }
}
"""

HASH = r"""
/* The SplitMix64 finaliser (mlp.backends.base.mix64); unsigned arithmetic wraps mod 2**64. */
__device__ __forceinline__ unsigned long long mlp_mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
"""

BLOCK_REDUCE = r"""
/* Every shared array of the row kernels has MLP_MAX_BLOCK entries (mlp.backends.cupy.MAX_BLOCK,
   defined in front of the source by the backend); the launch never uses more threads. */
#if !defined(MLP_MAX_BLOCK)
#error "MLP_MAX_BLOCK is not defined: the backend defines it from MAX_BLOCK"
#elif MLP_MAX_BLOCK < 32 || MLP_MAX_BLOCK > 1024 || (MLP_MAX_BLOCK & (MLP_MAX_BLOCK - 1)) != 0
#error "MLP_MAX_BLOCK must be a power of two between 32 and 1024"
#endif

/* Block-wide reductions; blockDim.x must be a power of two <= MLP_MAX_BLOCK and every thread
   must call them (they synchronise). The order of the additions is fixed, so results are
   reproducible. */
__device__ __forceinline__ double mlp_block_sum(double v, double* sh) {
    const int tid = threadIdx.x;
    sh[tid] = v;
    __syncthreads();
    for (int s = blockDim.x >> 1; s > 0; s >>= 1) {
        if (tid < s) sh[tid] += sh[tid + s];
        __syncthreads();
    }
    const double r = sh[0];
    __syncthreads();
    return r;
}

template <typename F> __device__ __forceinline__ F mlp_block_max(F v, F* sh) {
    const int tid = threadIdx.x;
    sh[tid] = v;
    __syncthreads();
    for (int s = blockDim.x >> 1; s > 0; s >>= 1) {
        if (tid < s) {
            const F other = sh[tid + s];
            if (other > sh[tid]) sh[tid] = other;
        }
        __syncthreads();
    }
    const F r = sh[0];
    __syncthreads();
    return r;
}
"""

SOFTMAX_SOURCE = r"""
/* One thread block per row of a C-contiguous (rows, cols) array; y may be z (in place). */
extern "C" __global__ void mlp_softmax_rows(const T* z, T* y, const long long rows,
                                            const long long cols) {
    __shared__ T sh_max[MLP_MAX_BLOCK];
    __shared__ double sh_sum[MLP_MAX_BLOCK];
    const long long row = blockIdx.x;
    if (row >= rows) return;
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    const T* zr = z + row * cols;
    T* yr = y + row * cols;
    T top = zr[0];
    for (long long j = tid; j < cols; j += nt) {
        const T v = zr[j];
        if (v > top) top = v;
    }
    top = mlp_block_max(top, sh_max);          /* every read of z ends before any write of y */
    double total = 0.0;
    for (long long j = tid; j < cols; j += nt) {
        const T e = mlp_exp(zr[j] - top);
        yr[j] = e;
        total += (double)e;
    }
    total = mlp_block_sum(total, sh_sum);
    const T inv = (T)(1.0 / total);
    for (long long j = tid; j < cols; j += nt) yr[j] = yr[j] * inv;
}

/* dz = y * (dy - sum(dy * y)) row by row; dz may be dy (in place). */
extern "C" __global__ void mlp_softmax_grad_rows(const T* dy, const T* y, T* dz,
                                                 const long long rows, const long long cols) {
    __shared__ double sh_sum[MLP_MAX_BLOCK];
    const long long row = blockIdx.x;
    if (row >= rows) return;
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    const T* dyr = dy + row * cols;
    const T* yr = y + row * cols;
    T* dzr = dz + row * cols;
    double dot = 0.0;
    for (long long j = tid; j < cols; j += nt) dot += (double)(dyr[j] * yr[j]);
    dot = mlp_block_sum(dot, sh_sum);          /* every read of dy ends before any write of dz */
    const T d = (T)dot;
    for (long long j = tid; j < cols; j += nt) dzr[j] = yr[j] * (dyr[j] - d);
}
"""

LOSS_SOURCE = r"""
/* Loss codes: the order of mlp.backends.base.LOSSES. */
#define L_MSE 0
#define L_MAE 1
#define L_HUBER 2
#define L_BCE 3
#define L_BCE_LOGITS 4
#define L_CCE 5
#define L_CCE_LOGITS 6

/* One thread block per row: writes the gradient of the weighted mean loss for the row into grad
   and w_i * l_i into row_loss[i]. target is read when use_target, labels (int64 class indices)
   when use_labels, weight when use_weight; unused pointers may point anywhere. A label outside
   [0, m) gives a NaN loss and a zero gradient row (never an out-of-bounds access). */
extern "C" __global__ void mlp_loss_rows(
        const T* pred, const T* target, const long long* labels, const T* weight, T* grad,
        double* row_loss, const long long rows, const long long m, const int kind,
        const int use_target, const int use_labels, const int use_weight,
        const T inv_n, const T delta, const T eps) {
    __shared__ double sh_sum[MLP_MAX_BLOCK];
    __shared__ T sh_max[MLP_MAX_BLOCK];
    const long long row = blockIdx.x;
    if (row >= rows) return;
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    const T* p = pred + row * m;
    const T* t = target + (use_target ? row * m : 0);
    T* g = grad + row * m;
    const T w = use_weight ? weight[row] : (T)1;
    const T scale = w * inv_n;
    const T mean_scale = scale / (T)m;
    const T lo = eps;
    const T hi = (T)1 - eps;
    double acc = 0.0;
    double value = 0.0;
    long long j;

    if (kind == L_MSE) {
        for (j = tid; j < m; j += nt) {
            const T e = p[j] - t[j];
            acc += (double)(e * e);
            g[j] = (T)2 * e * mean_scale;
        }
        value = mlp_block_sum(acc, sh_sum) / (double)m;
    } else if (kind == L_MAE) {
        for (j = tid; j < m; j += nt) {
            const T e = p[j] - t[j];
            acc += (double)mlp_abs(e);
            g[j] = mlp_sign(e) * mean_scale;
        }
        value = mlp_block_sum(acc, sh_sum) / (double)m;
    } else if (kind == L_HUBER) {
        for (j = tid; j < m; j += nt) {
            const T e = p[j] - t[j];
            const T a = mlp_abs(e);
            if (a <= delta) {
                acc += (double)((T)0.5 * e * e);
                g[j] = e * mean_scale;
            } else {
                acc += (double)(delta * (a - (T)0.5 * delta));
                g[j] = delta * mlp_sign(e) * mean_scale;
            }
        }
        value = mlp_block_sum(acc, sh_sum) / (double)m;
    } else if (kind == L_BCE) {
        for (j = tid; j < m; j += nt) {
            T pc = p[j];
            pc = pc < lo ? lo : (pc > hi ? hi : pc);
            const T tj = t[j];
            acc -= (double)(tj * mlp_log(pc) + ((T)1 - tj) * mlp_log1p(-pc));
            g[j] = (pc - tj) / (pc * ((T)1 - pc)) * mean_scale;
        }
        value = mlp_block_sum(acc, sh_sum) / (double)m;
    } else if (kind == L_BCE_LOGITS) {
        for (j = tid; j < m; j += nt) {
            const T e = p[j];
            const T tj = t[j];
            acc += (double)((e > (T)0 ? e : (T)0) - e * tj + mlp_log1p(mlp_exp(-mlp_abs(e))));
            g[j] = (mlp_sigmoid(e) - tj) * mean_scale;
        }
        value = mlp_block_sum(acc, sh_sum) / (double)m;
    } else if (kind == L_CCE) {
        if (use_labels) {
            const long long label = labels[row];
            if (label >= 0 && label < m) {
                T pc = p[label];
                pc = pc < lo ? lo : (pc > hi ? hi : pc);
                const T gl = -scale / pc;
                for (j = tid; j < m; j += nt) g[j] = j == label ? gl : (T)0;
                value = -(double)mlp_log(pc);
            } else {
                for (j = tid; j < m; j += nt) g[j] = (T)0;
                value = __longlong_as_double(0x7ff8000000000000LL);
            }
        } else {
            for (j = tid; j < m; j += nt) {
                T pc = p[j];
                pc = pc < lo ? lo : (pc > hi ? hi : pc);
                acc -= (double)(t[j] * mlp_log(pc));
                g[j] = -t[j] / pc * scale;
            }
            value = mlp_block_sum(acc, sh_sum);
        }
    } else {  /* L_CCE_LOGITS: softmax + cross-entropy from logits */
        T top = p[0];
        for (j = tid; j < m; j += nt) {
            const T v = p[j];
            if (v > top) top = v;
        }
        top = mlp_block_max(top, sh_max);
        double s = 0.0;
        for (j = tid; j < m; j += nt) {
            const T e = mlp_exp(p[j] - top);
            g[j] = e;                           /* this thread reads it back below */
            s += (double)e;
        }
        const T st = (T)mlp_block_sum(s, sh_sum);
        const T lse = top + mlp_log(st);
        if (use_labels) {
            const long long label = labels[row];
            const bool ok = label >= 0 && label < m;
            for (j = tid; j < m; j += nt) {
                const T soft = g[j] / st * scale;
                g[j] = ok ? (j == label ? soft - scale : soft) : (T)0;
            }
            value = ok ? (double)(lse - p[label]) : __longlong_as_double(0x7ff8000000000000LL);
        } else {
            double tsum = 0.0;
            for (j = tid; j < m; j += nt) {
                tsum += (double)t[j];
                acc += (double)(t[j] * (lse - p[j]));
            }
            const T ts = (T)mlp_block_sum(tsum, sh_sum);
            value = mlp_block_sum(acc, sh_sum);
            for (j = tid; j < m; j += nt) g[j] = (g[j] / st * ts - t[j]) * scale;
        }
    }
    if (tid == 0) row_loss[row] = (double)w * value;
}
"""

NORM_SOURCE = r"""
/* Normalization. Batch statistics: one thread block per feature (column) of a C-contiguous
   (rows, cols) array, its threads striding over the rows and adding their double sums with
   mlp_block_sum, in a fixed order. Layer statistics: one block per row, striding over the
   columns. Pointers a flag turns off are never read (the backend passes another array). */
extern "C" __global__ void mlp_batchnorm_forward(
        const T* x, const T* gamma, const T* beta, T* mm, T* mv, T* y, T* xhat, T* inv_out,
        const long long rows, const long long cols, const int training, const int use_gamma,
        const int use_beta, const int write_xhat, const double momentum, const double eps) {
    __shared__ double sh_sum[MLP_MAX_BLOCK];
    const long long col = blockIdx.x;
    if (col >= cols) return;
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    T mean_f, var_f;
    if (training) {
        double acc = 0.0;
        for (long long i = tid; i < rows; i += nt) acc += (double)x[i * cols + col];
        const double mean64 = mlp_block_sum(acc, sh_sum) / (double)rows;
        acc = 0.0;
        for (long long i = tid; i < rows; i += nt) {
            const double d = (double)x[i * cols + col] - mean64;
            acc += d * d;
        }
        const double var64 = mlp_block_sum(acc, sh_sum) / (double)rows;
        mean_f = (T)mean64;
        var_f = (T)var64;
        if (tid == 0) {
            mm[col] = mm[col] * (T)momentum + mean_f * (T)(1.0 - momentum);
            mv[col] = mv[col] * (T)momentum + var_f * (T)(1.0 - momentum);
        }
    } else {
        mean_f = mm[col];
        var_f = mv[col];
    }
    const T inv_f = (T)1 / mlp_sqrt(var_f + (T)eps);
    if (tid == 0) inv_out[col] = inv_f;
    for (long long i = tid; i < rows; i += nt) {
        T v = (x[i * cols + col] - mean_f) * inv_f;
        if (write_xhat) xhat[i * cols + col] = v;
        if (use_gamma) v = v * gamma[col];
        if (use_beta) v = v + beta[col];
        y[i * cols + col] = v;
    }
}

/* Per column: dbeta = sum dy, dgamma = sum dy * xhat and, with want_dx, batch normalization's
   input gradient (training: through the batch statistics, else k * dy). dx may be dy. */
extern "C" __global__ void mlp_norm_grads(
        const T* dy, const T* xhat, const T* gamma, const T* inv, T* dgamma, T* dbeta, T* dx,
        const long long rows, const long long cols, const int training, const int use_gamma,
        const int want_dgamma, const int want_dbeta, const int want_dx) {
    __shared__ double sh_sum[MLP_MAX_BLOCK];
    const long long col = blockIdx.x;
    if (col >= cols) return;
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    double s1 = 0.0, s2 = 0.0;
    for (long long i = tid; i < rows; i += nt) {
        const T d = dy[i * cols + col];
        s1 += (double)d;
        s2 += (double)d * (double)xhat[i * cols + col];
    }
    s1 = mlp_block_sum(s1, sh_sum);
    s2 = mlp_block_sum(s2, sh_sum);
    if (tid == 0) {
        if (want_dgamma) dgamma[col] = (T)s2;
        if (want_dbeta) dbeta[col] = (T)s1;
    }
    if (!want_dx) return;
    const T k = use_gamma ? gamma[col] * inv[col] : inv[col];
    const T m1 = (T)(s1 / (double)rows);
    const T m2 = (T)(s2 / (double)rows);
    for (long long i = tid; i < rows; i += nt) {
        const long long at = i * cols + col;
        if (training) {
            T c = dy[at] - m1;
            c = c - xhat[at] * m2;
            dx[at] = k * c;
        } else {
            dx[at] = k * dy[at];
        }
    }
}

extern "C" __global__ void mlp_layernorm_forward(
        const T* x, const T* gamma, const T* beta, T* y, T* xhat, T* inv_out,
        const long long rows, const long long cols, const int use_gamma, const int use_beta,
        const int write_xhat, const double eps) {
    __shared__ double sh_sum[MLP_MAX_BLOCK];
    const long long row = blockIdx.x;
    if (row >= rows) return;
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    const T* xr = x + row * cols;
    double acc = 0.0;
    for (long long j = tid; j < cols; j += nt) acc += (double)xr[j];
    const double mean64 = mlp_block_sum(acc, sh_sum) / (double)cols;
    acc = 0.0;
    for (long long j = tid; j < cols; j += nt) {
        const double d = (double)xr[j] - mean64;
        acc += d * d;
    }
    const double var64 = mlp_block_sum(acc, sh_sum) / (double)cols;
    const T mean_f = (T)mean64;
    const T inv_f = (T)1 / mlp_sqrt((T)var64 + (T)eps);
    if (tid == 0) inv_out[row] = inv_f;
    for (long long j = tid; j < cols; j += nt) {
        T v = (xr[j] - mean_f) * inv_f;
        if (write_xhat) xhat[row * cols + j] = v;
        if (use_gamma) v = v * gamma[j];
        if (use_beta) v = v + beta[j];
        y[row * cols + j] = v;
    }
}

/* dx = inv * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma, one block per row. */
extern "C" __global__ void mlp_layernorm_dx(
        const T* dy, const T* xhat, const T* gamma, const T* inv, T* dx, const long long rows,
        const long long cols, const int use_gamma) {
    __shared__ double sh_sum[MLP_MAX_BLOCK];
    const long long row = blockIdx.x;
    if (row >= rows) return;
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    const long long base = row * cols;
    double s1 = 0.0, s2 = 0.0;
    for (long long j = tid; j < cols; j += nt) {
        const T g = use_gamma ? dy[base + j] * gamma[j] : dy[base + j];
        s1 += (double)g;
        s2 += (double)g * (double)xhat[base + j];
    }
    s1 = mlp_block_sum(s1, sh_sum);
    s2 = mlp_block_sum(s2, sh_sum);
    const T m1 = (T)(s1 / (double)cols);
    const T m2 = (T)(s2 / (double)cols);
    const T k = inv[row];
    for (long long j = tid; j < cols; j += nt) {
        const T g = use_gamma ? dy[base + j] * gamma[j] : dy[base + j];
        T c = g - m1;
        c = c - xhat[base + j] * m2;
        dx[base + j] = k * c;
    }
}
"""
