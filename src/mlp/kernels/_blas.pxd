# Row-major GEMM over the BLAS the kernels were given (sgemm / dgemm, and gemv for vector
# shapes): scipy.linalg.cython_blas by default, or another library's Fortran BLAS functions of
# the same signatures, swapped in at import by mlp._blas_choice (see set_blas in _kernels.pyx).
#
# BLAS is column-major; a row-major matrix is the transpose of the same memory read column-major,
# so C = op(A) op(B) in row-major is computed as C^T = op(B)^T op(A)^T in column-major: swap the
# operands, their transposition flags and M with N.
from cython cimport floating

cdef extern from "_blas_table.h" nogil:
    ctypedef void (*mlp_sgemm_fn)(char*, char*, int*, int*, int*, float*, float*, int*, float*,
                                  int*, float*, float*, int*) noexcept nogil
    ctypedef void (*mlp_dgemm_fn)(char*, char*, int*, int*, int*, double*, double*, int*,
                                  double*, int*, double*, double*, int*) noexcept nogil
    ctypedef void (*mlp_sgemv_fn)(char*, int*, int*, float*, float*, int*, float*, int*, float*,
                                  float*, int*) noexcept nogil
    ctypedef void (*mlp_dgemv_fn)(char*, int*, int*, double*, double*, int*, double*, int*,
                                  double*, double*, int*) noexcept nogil
    mlp_sgemm_fn mlp_sgemm
    mlp_dgemm_fn mlp_dgemm
    mlp_sgemv_fn mlp_sgemv
    mlp_dgemv_fn mlp_dgemv


cdef extern from "_simd.h" nogil:
    void mlp_outer_f32(float* c, Py_ssize_t ldc, const float* a, Py_ssize_t inc_a,
                       const float* b, Py_ssize_t inc_b, Py_ssize_t m, Py_ssize_t n, float alpha)
    void mlp_outer_f64(double* c, Py_ssize_t ldc, const double* a, Py_ssize_t inc_a,
                       const double* b, Py_ssize_t inc_b, Py_ssize_t m, Py_ssize_t n,
                       double alpha)


cdef inline void gemm_rowmajor(bint trans_a, bint trans_b, int m, int n, int k,
                               floating alpha, const floating* a, int lda,
                               const floating* b, int ldb, floating beta,
                               floating* c, int ldc) noexcept nogil:
    """C (m x n, leading dimension ldc) = alpha * op(A) @ op(B) + beta * C, all row-major.

    A product with a single row or a single column is a matrix-vector product: it goes to gemv,
    which some BLAS builds run many times faster than a GEMM of that shape.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef char tv
    cdef int i, j, rows, cols, ld, inc_x, inc_y
    cdef const floating* mat
    cdef const floating* vec
    if m <= 0 or n <= 0:
        return
    if k <= 0:
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = 0 if beta == 0 else beta * c[i * ldc + j]
        return
    if k == 1 and beta == 0 and alpha != 0:
        # an outer product (the input gradient of a one-unit layer), without BLAS' packing;
        # _simd.h says where its bits can differ from BLAS
        if floating is float:
            mlp_outer_f32(c, ldc, a, 1 if trans_a else lda, b, ldb if trans_b else 1, m, n,
                          alpha)
        else:
            mlp_outer_f64(c, ldc, a, 1 if trans_a else lda, b, ldb if trans_b else 1, m, n,
                          alpha)
        return
    if m == 1 or n == 1:
        if m == 1:
            # c (1 x n) = a (1 x k) op(B); as columns: c = op(B)^T a
            mat, ld, vec, inc_x, inc_y = b, ldb, a, (lda if trans_a else 1), 1
            tv = b'T' if trans_b else b'N'
            rows = k if trans_b else n
            cols = n if trans_b else k
        else:
            # c (m x 1, stride ldc) = op(A) b (k x 1)
            mat, ld, vec, inc_x, inc_y = a, lda, b, (1 if trans_b else ldb), ldc
            tv = b'N' if trans_a else b'T'
            rows = m if trans_a else k
            cols = k if trans_a else m
        if floating is float:
            mlp_sgemv(&tv, &rows, &cols, &alpha, <float*>mat, &ld, <float*>vec, &inc_x, &beta,
                      c, &inc_y)
        else:
            mlp_dgemv(&tv, &rows, &cols, &alpha, <double*>mat, &ld, <double*>vec, &inc_x, &beta,
                      c, &inc_y)
        return
    if floating is float:
        mlp_sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda, &beta, c,
                  &ldc)
    else:
        mlp_dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda, &beta, c,
                  &ldc)
