/* The zixir engine kernels in C (ABI and caller contract: zixir_engine.h).
 *
 * Reductions keep eight independent partial results (four 2-lane vectors) so the adds of
 * neighbouring elements do not wait for each other; that is what lets a sum run at memory
 * bandwidth instead of one add latency per element. The lane layout and the order in which
 * lanes are combined are part of the contract: native/zig/engine.zig uses the same, so both
 * builds return bit-identical results. Semantics of NaN and signed zeros: native/README.md.
 */
#include "zixir_engine.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h> /* SSE2 always; the AVX2 functions carry target("avx2") */
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Eight lanes as four 2-double vectors (one SSE2 register each, so the baseline x86_64 build
 * keeps them all in registers). Lane j accumulates elements i + j for i = 0, 8, 16, ... */
typedef double v2d __attribute__((vector_size(16)));

/* Unaligned 2-double load; compiles to a plain vector load. */
static inline v2d load2(const double *p) {
    v2d v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Lanes combined as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)): the same additions in
 * the same order as the Zig build's two 4-lane vectors. */
static inline double combine(v2d a0, v2d a1, v2d a2, v2d a3) {
    v2d w = (a0 + a2) + (a1 + a3);
    return w[0] + w[1];
}

#define ZERO2 ((v2d){0.0, 0.0})

static inline void load_lanes(const double *lanes, v2d *a0, v2d *a1, v2d *a2, v2d *a3) {
    *a0 = load2(lanes);
    *a1 = load2(lanes + 2);
    *a2 = load2(lanes + 4);
    *a3 = load2(lanes + 6);
}

static inline void store_lanes(double *lanes, v2d a0, v2d a1, v2d a2, v2d a3) {
    memcpy(lanes, &a0, sizeof a0);
    memcpy(lanes + 2, &a1, sizeof a1);
    memcpy(lanes + 4, &a2, sizeof a2);
    memcpy(lanes + 6, &a3, sizeof a3);
}

/* ---- sum and dot: the eight-lane loops, dispatched at load time -------------------------------
 *
 * sum_groups / dot_groups add every full group of eight elements of x[0:n] to `lanes` (lane j
 * gets the elements whose index is j mod 8, in index order) and return how many elements they
 * consumed. The AVX2 variants hold the same eight lanes in two 4-double vectors and perform the
 * same additions and multiplications, lane by lane, in the same order (no FMA), so every
 * variant returns the same bits; only the instruction width differs. The variant is chosen once,
 * when the library is loaded, from what the CPU supports (the build itself stays baseline
 * x86_64). */

static size_t sum_groups_sse2(const double *x, size_t n, double *lanes) {
    v2d a0, a1, a2, a3;
    load_lanes(lanes, &a0, &a1, &a2, &a3);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 += load2(x + i);
        a1 += load2(x + i + 2);
        a2 += load2(x + i + 4);
        a3 += load2(x + i + 6);
    }
    store_lanes(lanes, a0, a1, a2, a3);
    return i;
}

static size_t dot_groups_sse2(const double *a, const double *b, size_t n, double *lanes) {
    v2d a0, a1, a2, a3;
    load_lanes(lanes, &a0, &a1, &a2, &a3);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 += load2(a + i) * load2(b + i);
        a1 += load2(a + i + 2) * load2(b + i + 2);
        a2 += load2(a + i + 4) * load2(b + i + 4);
        a3 += load2(a + i + 6) * load2(b + i + 6);
    }
    store_lanes(lanes, a0, a1, a2, a3);
    return i;
}

/* Extremum lanes over the groups of eight (n >= 8): lanes start at x[0]; returns the count
 * of elements done and sets *nan when one of them is NaN. maxpd / minpd return their second
 * operand unless the first is strictly greater (smaller), the scalar rule; the compiler does not
 * find that by itself, hence the intrinsics, and the NaN test is kept in double registers
 * (integer mask accumulators get turned into scalar code). */
typedef long long v2i __attribute__((vector_size(16)));

static inline v2d pick2(v2d v, v2d lane, int want_max) {
#ifdef __SSE2__
    return want_max ? (v2d)_mm_max_pd((__m128d)v, (__m128d)lane)
                    : (v2d)_mm_min_pd((__m128d)v, (__m128d)lane);
#else
    v2i take = want_max ? (v > lane) : (v < lane);
    return (v2d)((take & (v2i)v) | (~take & (v2i)lane));
#endif
}

static inline v2d nan_lanes2(v2d seen, v2d v) {
#ifdef __SSE2__
    return (v2d)_mm_or_pd((__m128d)seen, _mm_cmpunord_pd((__m128d)v, (__m128d)v));
#else
    return (v2d)((v2i)seen | (v != v));
#endif
}

static size_t extremum_groups_sse2(const double *x, size_t n, int want_max, double *lanes,
                                   int *nan) {
    v2d l0 = {x[0], x[0]}, l1 = l0, l2 = l0, l3 = l0;
    v2d unordered = {0.0, 0.0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v2d a = load2(x + i), b = load2(x + i + 2), c = load2(x + i + 4), d = load2(x + i + 6);
        unordered = nan_lanes2(nan_lanes2(nan_lanes2(nan_lanes2(unordered, a), b), c), d);
        l0 = pick2(a, l0, want_max);
        l1 = pick2(b, l1, want_max);
        l2 = pick2(c, l2, want_max);
        l3 = pick2(d, l3, want_max);
    }
    store_lanes(lanes, l0, l1, l2, l3);
    *nan = (((v2i)unordered)[0] | ((v2i)unordered)[1]) != 0;
    return i;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ZX_HAVE_AVX2_VARIANTS 1
typedef double v4d __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static inline v4d load4(const double *p) {
    v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}

__attribute__((target("avx2"))) static size_t sum_groups_avx2(const double *x, size_t n,
                                                              double *lanes) {
    v4d lo = load4(lanes), hi = load4(lanes + 4);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        lo += load4(x + i);
        hi += load4(x + i + 4);
    }
    memcpy(lanes, &lo, sizeof lo);
    memcpy(lanes + 4, &hi, sizeof hi);
    return i;
}

__attribute__((target("avx2"))) static size_t dot_groups_avx2(const double *a, const double *b,
                                                              size_t n, double *lanes) {
    v4d lo = load4(lanes), hi = load4(lanes + 4);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        lo += load4(a + i) * load4(b + i);
        hi += load4(a + i + 4) * load4(b + i + 4);
    }
    memcpy(lanes, &lo, sizeof lo);
    memcpy(lanes + 4, &hi, sizeof hi);
    return i;
}
__attribute__((target("avx2"))) static size_t extremum_groups_avx2(
    const double *x, size_t n, int want_max, double *lanes, int *nan) {
    __m256d lo = _mm256_set1_pd(x[0]), hi = lo, unordered = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256d a = _mm256_loadu_pd(x + i), b = _mm256_loadu_pd(x + i + 4);
        unordered = _mm256_or_pd(unordered, _mm256_or_pd(_mm256_cmp_pd(a, a, _CMP_UNORD_Q),
                                                         _mm256_cmp_pd(b, b, _CMP_UNORD_Q)));
        lo = want_max ? _mm256_max_pd(a, lo) : _mm256_min_pd(a, lo);
        hi = want_max ? _mm256_max_pd(b, hi) : _mm256_min_pd(b, hi);
    }
    _mm256_storeu_pd(lanes, lo);
    _mm256_storeu_pd(lanes + 4, hi);
    *nan = _mm256_movemask_pd(unordered) != 0;
    return i;
}
#endif

static size_t (*sum_groups)(const double *, size_t, double *) = sum_groups_sse2;
static size_t (*extremum_groups)(const double *, size_t, int, double *, int *) =
    extremum_groups_sse2;
static size_t (*dot_groups)(const double *, const double *, size_t, double *) = dot_groups_sse2;
static int simd_level = 0;

static int supported_level(void) {
#ifdef ZX_HAVE_AVX2_VARIANTS
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

static void select_level(int level) {
#ifdef ZX_HAVE_AVX2_VARIANTS
    if (level >= 1) {
        sum_groups = sum_groups_avx2;
        dot_groups = dot_groups_avx2;
        extremum_groups = extremum_groups_avx2;
        simd_level = 1;
        return;
    }
#endif
    (void)level;
    sum_groups = sum_groups_sse2;
    dot_groups = dot_groups_sse2;
    extremum_groups = extremum_groups_sse2;
    simd_level = 0;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor)) static void choose_simd_level(void) {
    select_level(supported_level());
}
#endif

int zx_simd_level(int request) {
    if (request >= 0) {
        const int best = supported_level();
        select_level(request < best ? request : best);
    }
    return simd_level;
}

/* ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), as combine() does with registers. */
static inline double combine_lanes(const double *l) {
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

double zx_sum_from(const double *x, size_t n, double *lanes) {
    size_t i = sum_groups(x, n, lanes);
    double s = combine_lanes(lanes);
    for (; i < n; i++) s += x[i];
    return s;
}

double zx_dot_from(const double *a, const double *b, size_t n, double *lanes) {
    size_t i = dot_groups(a, b, n, lanes);
    double s = combine_lanes(lanes);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Runs of ZX_SPLIT_FROM elements or more are cut into blocks of ZX_BLOCK elements (the last
 * one shorter, down to the last full group of eight): each block's lanes start at zero, the
 * blocks' lanes are added lane by lane in block order into lanes that start at zero, and the
 * remaining n % 8 elements follow in order. The cut depends on n only, so the blocks may be
 * summed on any number of threads (the front end does) and give these bits. */
static double sum_split(const double *x, size_t n) {
    double lanes[8] = {0.0};
    const size_t full = n - n % 8;
    for (size_t at = 0; at < full; at += ZX_BLOCK) {
        double block[8] = {0.0};
        sum_groups(x + at, full - at < ZX_BLOCK ? full - at : ZX_BLOCK, block);
        for (int j = 0; j < 8; j++) lanes[j] += block[j];
    }
    return zx_sum_from(x + full, n - full, lanes);
}

static double dot_split(const double *a, const double *b, size_t n) {
    double lanes[8] = {0.0};
    const size_t full = n - n % 8;
    for (size_t at = 0; at < full; at += ZX_BLOCK) {
        double block[8] = {0.0};
        dot_groups(a + at, b + at, full - at < ZX_BLOCK ? full - at : ZX_BLOCK, block);
        for (int j = 0; j < 8; j++) lanes[j] += block[j];
    }
    return zx_dot_from(a + full, b + full, n - full, lanes);
}

double zx_sum(const double *x, size_t n) {
    if (n >= ZX_SPLIT_FROM) return sum_split(x, n);
    double lanes[8] = {0.0};
    return zx_sum_from(x, n, lanes);
}

double zx_dot(const double *a, const double *b, size_t n) {
    if (n >= ZX_SPLIT_FROM) return dot_split(a, b, n);
    double lanes[8] = {0.0};
    return zx_dot_from(a, b, n, lanes);
}

double zx_product_from(const double *x, size_t n, double *lanes) {
    v2d a0, a1, a2, a3;
    load_lanes(lanes, &a0, &a1, &a2, &a3);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 *= load2(x + i);
        a1 *= load2(x + i + 2);
        a2 *= load2(x + i + 4);
        a3 *= load2(x + i + 6);
    }
    store_lanes(lanes, a0, a1, a2, a3);
    v2d w = (a0 * a2) * (a1 * a3);
    double p = w[0] * w[1];
    for (; i < n; i++) p *= x[i];
    return p;
}

double zx_product(const double *x, size_t n) {
    double lanes[8] = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
    return zx_product_from(x, n, lanes);
}

double zx_mean(const double *x, size_t n) {
    return n ? zx_sum(x, n) / (double)n : 0.0;
}

/* Corrected two-pass variance: the second pass sums the deviations too, and subtracting
 * (sum d)^2 / n removes the rounding error left in the mean. The second pass continues across
 * pieces like zx_sum_from (lanes 0-7: deviations, 8-15: squared deviations). */
double zx_variance_from(const double *x, size_t n, double mean, size_t count, double *lanes) {
    const v2d m = {mean, mean};
    v2d d0, d1, d2, d3, q0, q1, q2, q3;
    load_lanes(lanes, &d0, &d1, &d2, &d3);
    load_lanes(lanes + 8, &q0, &q1, &q2, &q3);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v2d e0 = load2(x + i) - m, e1 = load2(x + i + 2) - m;
        v2d e2 = load2(x + i + 4) - m, e3 = load2(x + i + 6) - m;
        d0 += e0;
        d1 += e1;
        d2 += e2;
        d3 += e3;
        q0 += e0 * e0;
        q1 += e1 * e1;
        q2 += e2 * e2;
        q3 += e3 * e3;
    }
    store_lanes(lanes, d0, d1, d2, d3);
    store_lanes(lanes + 8, q0, q1, q2, q3);
    double drift = combine(d0, d1, d2, d3), squares = combine(q0, q1, q2, q3);
    for (; i < n; i++) {
        double d = x[i] - mean;
        drift += d;
        squares += d * d;
    }
    double variance = (squares - drift * drift / (double)count) / (double)count;
    return variance < 0.0 ? 0.0 : variance; /* keeps NaN */
}

double zx_variance(const double *x, size_t n) {
    if (n == 0) return 0.0;
    double lanes[16] = {0.0};
    return zx_variance_from(x, n, zx_sum(x, n) / (double)n, n, lanes);
}

double zx_std(const double *x, size_t n) {
    return sqrt(zx_variance(x, n));
}

static int has_negative_zero(const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] == 0.0 && signbit(x[i])) return 1;
    return 0;
}

static int has_positive_zero(const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] == 0.0 && !signbit(x[i])) return 1;
    return 0;
}

/* One extremum pass: eight lanes of "keep the larger" (or smaller) plus a NaN flag.
 * `extremum_groups` (SSE2 or AVX2, chosen with the sums' level) runs the groups of eight: each
 * lane keeps v where v > lane (v < lane for the minimum), else the lane: exactly the scalar
 * `v > lane ? v : lane`, which a NaN never wins, so NaNs are caught by an unordered test instead.
 * The lanes are then combined in order, so every level gives the same answer. */
static double extremum(const double *x, size_t n, int want_max) {
    double lane[8];
    int nan = 0;
    size_t i = n >= 8 ? extremum_groups(x, n, want_max, lane, &nan) : 0;
    double best = x[0];
    if (i) {
        best = lane[0];
        for (int j = 1; j < 8; j++) best = want_max ? (lane[j] > best ? lane[j] : best)
                                                   : (lane[j] < best ? lane[j] : best);
    }
    for (; i < n; i++) {
        double v = x[i];
        nan |= v != v;
        best = want_max ? (v > best ? v : best) : (v < best ? v : best);
    }
    return (nan || best != best) ? NAN : best;
}

double zx_min(const double *x, size_t n) {
    if (n == 0) return 0.0;
    double low = extremum(x, n, 0);
    if (low == 0.0) return has_negative_zero(x, n) ? -0.0 : 0.0;
    return low;
}

double zx_max(const double *x, size_t n) {
    if (n == 0) return 0.0;
    double high = extremum(x, n, 1);
    if (high == 0.0) return has_positive_zero(x, n) ? 0.0 : -0.0;
    return high;
}

void zx_vec_add(const double *restrict a, const double *restrict b, double *restrict out,
                size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void zx_vec_sub(const double *restrict a, const double *restrict b, double *restrict out,
                size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] - b[i];
}

void zx_vec_mul(const double *restrict a, const double *restrict b, double *restrict out,
                size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}

void zx_vec_div(const double *restrict a, const double *restrict b, double *restrict out,
                size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = b[i] != 0.0 ? a[i] / b[i] : 0.0;
}

void zx_map_mul(const double *restrict x, double factor, double *restrict out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i] * factor;
}

void zx_map_add(const double *restrict x, double addend, double *restrict out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i] + addend;
}

size_t zx_filter_gt(const double *restrict x, size_t n, double threshold, double *restrict out) {
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        out[kept] = x[i]; /* branch-free: always write, advance only when kept */
        kept += x[i] > threshold;
    }
    return kept;
}

/* ---- sorting: LSD radix sort on order-preserving integer keys ------------------------------
 * A double's bits become an unsigned key that sorts like the value (negative numbers are
 * bit-flipped, positive ones get the sign bit set), so -0.0 sorts before 0.0. NaNs are moved to
 * the end first, in input order. Six passes of 11 bits; a pass whose digit is the same for
 * every key is skipped. Short runs use a merge sort instead (same keys, same result). */

#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)
#define RADIX_PASSES 6

static inline uint64_t to_key(uint64_t bits) {
    return (bits >> 63) ? ~bits : (bits | 0x8000000000000000ull);
}

static inline uint64_t from_key(uint64_t key) {
    return (key >> 63) ? (key & 0x7fffffffffffffffull) : ~key;
}

static void insertion_sort(uint64_t *k, size_t n) {
    for (size_t i = 1; i < n; i++) {
        uint64_t v = k[i];
        size_t j = i;
        for (; j > 0 && k[j - 1] > v; j--) k[j] = k[j - 1];
        k[j] = v;
    }
}

static void radix_sort(uint64_t *keys, uint64_t *tmp, size_t n) {
    static _Thread_local size_t counts[RADIX_PASSES][RADIX_SIZE];
    memset(counts, 0, sizeof counts);
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < RADIX_PASSES; p++)
            counts[p][(keys[i] >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
    uint64_t *src = keys, *dst = tmp;
    for (int p = 0; p < RADIX_PASSES; p++) {
        size_t *c = counts[p];
        unsigned shift = (unsigned)(p * RADIX_BITS);
        if (c[(src[0] >> shift) & (RADIX_SIZE - 1)] == n) continue;
        size_t offset = 0;
        for (size_t d = 0; d < RADIX_SIZE; d++) {
            size_t count = c[d];
            c[d] = offset;
            offset += count;
        }
        for (size_t i = 0; i < n; i++) dst[c[(src[i] >> shift) & (RADIX_SIZE - 1)]++] = src[i];
        uint64_t *swap = src;
        src = dst;
        dst = swap;
    }
    if (src != keys) memcpy(keys, src, n * sizeof *keys);
}

/* Below this many keys a merge sort beats the radix sort's fixed cost (its histograms). */
#define RADIX_MIN 2048
#define MERGE_RUN 16

static void merge_sort(uint64_t *keys, uint64_t *tmp, size_t n) {
    for (size_t lo = 0; lo < n; lo += MERGE_RUN)
        insertion_sort(keys + lo, n - lo < MERGE_RUN ? n - lo : MERGE_RUN);
    uint64_t *src = keys, *dst = tmp;
    for (size_t width = MERGE_RUN; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) dst[k++] = src[j] < src[i] ? src[j++] : src[i++];
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        uint64_t *swap = src;
        src = dst;
        dst = swap;
    }
    if (src != keys) memcpy(keys, src, n * sizeof *keys);
}

void zx_sort_asc(double *x, size_t n, double *scratch) {
    size_t kept = 0, nans = 0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != x[i]) scratch[nans++] = x[i];
        else x[kept++] = x[i];
    }
    memcpy(x + kept, scratch, nans * sizeof *x);
    uint64_t *keys = (uint64_t *)x, *tmp = (uint64_t *)scratch;
    for (size_t i = 0; i < kept; i++) keys[i] = to_key(keys[i]);
    if (kept < RADIX_MIN) merge_sort(keys, tmp, kept);
    else radix_sort(keys, tmp, kept);
    for (size_t i = 0; i < kept; i++) keys[i] = from_key(keys[i]);
}

int64_t zx_find_index(const double *x, size_t n, double value) {
    for (size_t i = 0; i < n; i++)
        if (x[i] == value) return (int64_t)i;
    return -1;
}

size_t zx_count_value(const double *x, size_t n, double value) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += x[i] == value;
    return count;
}

/* Row-major C = A (rows x inner) * B (inner x cols). The inner loop runs along a row of B and
 * of C so it vectorizes; each C element still accumulates its products in k order, the same
 * order as the reference, so results are bit-identical to it. */
void zx_mat_mul(const double *restrict a, const double *restrict b, double *restrict out,
                size_t a_rows, size_t a_cols, size_t b_cols) {
    for (size_t i = 0; i < a_rows; i++) {
        double *row = out + i * b_cols;
        for (size_t j = 0; j < b_cols; j++) row[j] = 0.0;
        for (size_t k = 0; k < a_cols; k++) {
            const double aik = a[i * a_cols + k];
            const double *brow = b + k * b_cols;
            for (size_t j = 0; j < b_cols; j++) row[j] += aik * brow[j];
        }
    }
}

/* Blocked so that both the rows read and the rows written stay in cache. */
void zx_mat_transpose(const double *restrict x, double *restrict out, size_t rows, size_t cols) {
    const size_t block = 32;
    for (size_t r0 = 0; r0 < rows; r0 += block)
        for (size_t c0 = 0; c0 < cols; c0 += block) {
            size_t r1 = r0 + block < rows ? r0 + block : rows;
            size_t c1 = c0 + block < cols ? c0 + block : cols;
            for (size_t r = r0; r < r1; r++)
                for (size_t c = c0; c < c1; c++) out[c * rows + r] = x[r * cols + c];
        }
}

size_t zx_utf8_length(const uint32_t *code_points, size_t n) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = code_points[i];
        bytes += 1 + (c >= 0x80) + (c >= 0x800) + (c >= 0x10000);
    }
    return bytes;
}

int64_t zx_bytes_find(const uint8_t *haystack, size_t n, const uint8_t *needle, size_t m) {
    if (m == 0) return 0;
    if (m > n) return -1;
    const uint8_t first = needle[0];
    const uint8_t *p = haystack, *end = haystack + (n - m) + 1;
    while (p < end) {
        p = memchr(p, first, (size_t)(end - p));
        if (p == NULL) return -1;
        if (memcmp(p, needle, m) == 0) return (int64_t)(p - haystack);
        p++;
    }
    return -1;
}

int zx_bytes_starts_with(const uint8_t *s, size_t n, const uint8_t *prefix, size_t m) {
    return m == 0 || (m <= n && memcmp(s, prefix, m) == 0);
}

int zx_bytes_ends_with(const uint8_t *s, size_t n, const uint8_t *suffix, size_t m) {
    return m == 0 || (m <= n && memcmp(s + (n - m), suffix, m) == 0);
}
