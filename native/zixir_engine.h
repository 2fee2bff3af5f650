/* The zixir engine ABI: what native/zixir_engine.c and native/zig/engine.zig both export.
 *
 * Callers (zixir/engine/native.py) have validated every argument: pointers address `n` (or the
 * stated number of) float64 values, `out` has room for the result, and lengths match. The
 * kernels never allocate; scratch space comes from the caller.
 *
 * zx_sum_from / zx_dot_from continue a zx_sum / zx_dot across calls: `lanes` holds the eight
 * partial sums (lane j has accumulated the elements whose index is j mod 8), every full block of
 * eight elements is added to it, and the result is the combined lanes plus the remaining
 * n % 8 elements in order. Feeding a long run through them in pieces whose lengths are
 * multiples of 8 (and any length last), starting from zeroed lanes, gives exactly zx_sum /
 * zx_dot of the whole run: the list front end (native/list_reader.cpp) sums lists that way
 * without copying them into one buffer.
 *
 * zx_product_from continues zx_product the same way (lanes start at 1.0). zx_variance_from is
 * the second pass of zx_variance continued across pieces: given the `mean` of the whole run of
 * `count` elements, `lanes` (16 doubles, zeroed at the start) holds the eight partial sums of the
 * deviations and the eight of their squares; the result is the variance of the whole run if
 * this piece is the last. zx_variance(x, n) is zx_variance_from(x, n, zx_sum(x, n) / n, n, zeros).
 *
 * Long runs: zx_sum and zx_dot (so zx_mean, and the mean inside zx_variance) of ZX_SPLIT_FROM
 * elements or more cut the run into blocks of ZX_BLOCK elements, the last one ending at the last
 * full group of eight: each block is summed into eight lanes of its own starting at zero (what
 * zx_sum_from / zx_dot_from leave in zeroed lanes), the blocks' lanes are added lane by lane in
 * block order into lanes starting at zero, and zx_sum_from / zx_dot_from of the last n % 8
 * elements with those lanes gives the result. The cut depends on n alone, so callers may
 * compute the blocks on any number of threads (native/list_reader.cpp does, for buffers) and
 * get the same bits on every machine; shorter runs are one sequence of eight lanes as above.
 *
 * zx_simd_level(request) reports (request < 0) or chooses (0: baseline SSE2, 1: AVX2, capped
 * at what the CPU supports) the instruction set of the sum and dot loops; the library picks the
 * best one when it is loaded. Every level gives the same bits (same lanes, same operations, no
 * FMA); the choice exists so tests can check exactly that. Not to be changed while other
 * threads run kernels.
 *
 * The declarations between the cdef markers are read verbatim by cffi, for the compiled C
 * module and for loading the Zig library, so they stay plain C (no macros
 * but the integer constants, which cffi reads as such).
 */
#ifndef ZIXIR_ENGINE_H
#define ZIXIR_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */
#define ZX_SPLIT_FROM 1048576
#define ZX_BLOCK 65536
double zx_sum(const double *x, size_t n);
double zx_product(const double *x, size_t n);
double zx_mean(const double *x, size_t n);
double zx_min(const double *x, size_t n);
double zx_max(const double *x, size_t n);
double zx_variance(const double *x, size_t n);
double zx_std(const double *x, size_t n);
double zx_dot(const double *a, const double *b, size_t n);
double zx_sum_from(const double *x, size_t n, double *lanes);
double zx_dot_from(const double *a, const double *b, size_t n, double *lanes);
double zx_product_from(const double *x, size_t n, double *lanes);
double zx_variance_from(const double *x, size_t n, double mean, size_t count, double *lanes);
void zx_vec_add(const double *a, const double *b, double *out, size_t n);
void zx_vec_sub(const double *a, const double *b, double *out, size_t n);
void zx_vec_mul(const double *a, const double *b, double *out, size_t n);
void zx_vec_div(const double *a, const double *b, double *out, size_t n);
void zx_map_mul(const double *x, double factor, double *out, size_t n);
void zx_map_add(const double *x, double addend, double *out, size_t n);
size_t zx_filter_gt(const double *x, size_t n, double threshold, double *out);
void zx_sort_asc(double *x, size_t n, double *scratch);
int64_t zx_find_index(const double *x, size_t n, double value);
size_t zx_count_value(const double *x, size_t n, double value);
void zx_mat_mul(const double *a, const double *b, double *out, size_t a_rows, size_t a_cols,
                size_t b_cols);
void zx_mat_transpose(const double *x, double *out, size_t rows, size_t cols);
size_t zx_utf8_length(const uint32_t *code_points, size_t n);
int64_t zx_bytes_find(const uint8_t *haystack, size_t n, const uint8_t *needle, size_t m);
int zx_bytes_starts_with(const uint8_t *s, size_t n, const uint8_t *prefix, size_t m);
int zx_bytes_ends_with(const uint8_t *s, size_t n, const uint8_t *suffix, size_t m);
int zx_simd_level(int request);
/* cdef-end */

#endif
