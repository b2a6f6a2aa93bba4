/* Platform helpers for the kernels: OpenMP availability and flush-to-zero control.
 *
 * Denormal floats make the CPU many times slower; the kernels set flush-to-zero (FTZ) and
 * denormals-are-zero (DAZ) on every thread for the duration of a call and restore the caller's
 * state afterwards.
 */
#ifndef MLP_PLATFORM_H
#define MLP_PLATFORM_H

#ifdef _OPENMP
#include <omp.h>
static inline int mlp_openmp_enabled(void) { return 1; }
static inline int mlp_omp_max_threads(void) { return omp_get_max_threads(); }
#else
static inline int mlp_openmp_enabled(void) { return 0; }
static inline int mlp_omp_max_threads(void) { return 1; }
#endif

#if defined(__x86_64__) || defined(_M_X64) || (defined(__i386__) && defined(__SSE__))
#include <xmmintrin.h>
#define MLP_FTZ_DAZ_BITS 0x8040u
static inline unsigned long long mlp_ftz_enter(void) {
    unsigned int old = _mm_getcsr();
    _mm_setcsr(old | MLP_FTZ_DAZ_BITS);
    return old;
}
static inline void mlp_ftz_exit(unsigned long long old) {
    /* keep the exception flags raised meanwhile, restore only the FTZ/DAZ bits */
    unsigned int now = _mm_getcsr();
    _mm_setcsr((now & ~MLP_FTZ_DAZ_BITS) | ((unsigned int)old & MLP_FTZ_DAZ_BITS));
}
static inline int mlp_ftz_supported(void) { return 1; }
#elif defined(__aarch64__)
static inline unsigned long long mlp_ftz_enter(void) {
    unsigned long long fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr | (1ULL << 24)));
    return fpcr;
}
static inline void mlp_ftz_exit(unsigned long long old) {
    __asm__ __volatile__("msr fpcr, %0" : : "r"(old));
}
static inline int mlp_ftz_supported(void) { return 1; }
#else
static inline unsigned long long mlp_ftz_enter(void) { return 0; }
static inline void mlp_ftz_exit(unsigned long long old) { (void)old; }
static inline int mlp_ftz_supported(void) { return 0; }
#endif

static inline int mlp_ftz_active(void) {
#if defined(__x86_64__) || defined(_M_X64) || (defined(__i386__) && defined(__SSE__))
    return (_mm_getcsr() & MLP_FTZ_DAZ_BITS) == MLP_FTZ_DAZ_BITS;
#else
    return 0;
#endif
}

#endif
