/* The BLAS functions the kernels call: Fortran-interface sgemm / dgemm / sgemv / dgemv with
 * 32-bit integers, as scipy.linalg.cython_blas exports them. _kernels.pyx fills the table with
 * scipy's at import; mlp._blas_choice may replace it with another library's (a private
 * scipy-openblas32 copy, measured faster), always all four together. */
#ifndef MLP_BLAS_TABLE_H
#define MLP_BLAS_TABLE_H

typedef void (*mlp_sgemm_fn)(char *, char *, int *, int *, int *, float *, float *, int *,
                             float *, int *, float *, float *, int *);
typedef void (*mlp_dgemm_fn)(char *, char *, int *, int *, int *, double *, double *, int *,
                             double *, int *, double *, double *, int *);
typedef void (*mlp_sgemv_fn)(char *, int *, int *, float *, float *, int *, float *, int *,
                             float *, float *, int *);
typedef void (*mlp_dgemv_fn)(char *, int *, int *, double *, double *, int *, double *, int *,
                             double *, double *, int *);

static mlp_sgemm_fn mlp_sgemm;
static mlp_dgemm_fn mlp_dgemm;
static mlp_sgemv_fn mlp_sgemv;
static mlp_dgemv_fn mlp_dgemv;

#endif
