//! The zixir engine kernels in Zig: the ABI of native/zixir_engine.h, built as a shared library
//! by zixir/engine/zigbuild.py and loaded through cffi.
//!
//! Every kernel mirrors native/zixir_engine.c step for step (the same eight reduction lanes,
//! combined in the same order, the same radix sort), so the two builds return bit-identical
//! results and one test suite holds for both.

const std = @import("std");

const V4 = @Vector(4, f64);

inline fn load4(p: [*]const f64) V4 {
    return p[0..4].*;
}

/// Lanes combined as (v0 + v2) + (v1 + v3), after adding the two vectors lane-wise.
inline fn combine(lo: V4, hi: V4) f64 {
    const v = lo + hi;
    return (v[0] + v[2]) + (v[1] + v[3]);
}

inline fn loadLanes(lanes: [*]const f64, lo: *V4, hi: *V4) void {
    lo.* = load4(lanes);
    hi.* = load4(lanes + 4);
}

inline fn storeLanes(lanes: [*]f64, lo: V4, hi: V4) void {
    lanes[0..4].* = lo;
    lanes[4..8].* = hi;
}

/// zx_sum continued across calls: `lanes` holds the eight partial sums (see zixir_engine.h).
export fn zx_sum_from(x: [*]const f64, n: usize, lanes: [*]f64) f64 {
    var lo: V4 = undefined;
    var hi: V4 = undefined;
    loadLanes(lanes, &lo, &hi);
    var i: usize = 0;
    while (i + 8 <= n) : (i += 8) {
        lo += load4(x + i);
        hi += load4(x + i + 4);
    }
    storeLanes(lanes, lo, hi);
    var s = combine(lo, hi);
    while (i < n) : (i += 1) s += x[i];
    return s;
}

/// zixir_engine.h's ZX_SPLIT_FROM and ZX_BLOCK: runs this long are summed in blocks.
const split_from: usize = 1 << 20;
const block_len: usize = 1 << 16;

/// The block cut of zixir_engine.h (ZX_SPLIT_FROM): each block's lanes from zero, added lane by
/// lane in block order into lanes from zero, then the last n % 8 elements; as in the C kernel.
fn sumSplit(x: [*]const f64, n: usize) f64 {
    var lanes: [8]f64 = @splat(0.0);
    const full = n - n % 8;
    var at: usize = 0;
    while (at < full) : (at += block_len) {
        var block: [8]f64 = @splat(0.0);
        _ = zx_sum_from(x + at, @min(full - at, block_len), &block);
        for (0..8) |j| lanes[j] += block[j];
    }
    return zx_sum_from(x + full, n - full, &lanes);
}

fn dotSplit(a: [*]const f64, b: [*]const f64, n: usize) f64 {
    var lanes: [8]f64 = @splat(0.0);
    const full = n - n % 8;
    var at: usize = 0;
    while (at < full) : (at += block_len) {
        var block: [8]f64 = @splat(0.0);
        _ = zx_dot_from(a + at, b + at, @min(full - at, block_len), &block);
        for (0..8) |j| lanes[j] += block[j];
    }
    return zx_dot_from(a + full, b + full, n - full, &lanes);
}

export fn zx_sum(x: [*]const f64, n: usize) f64 {
    if (n >= split_from) return sumSplit(x, n);
    var lanes: [8]f64 = @splat(0.0);
    return zx_sum_from(x, n, &lanes);
}

/// zx_dot continued across calls, like zx_sum_from.
export fn zx_dot_from(a: [*]const f64, b: [*]const f64, n: usize, lanes: [*]f64) f64 {
    var lo: V4 = undefined;
    var hi: V4 = undefined;
    loadLanes(lanes, &lo, &hi);
    var i: usize = 0;
    while (i + 8 <= n) : (i += 8) {
        lo += load4(a + i) * load4(b + i);
        hi += load4(a + i + 4) * load4(b + i + 4);
    }
    storeLanes(lanes, lo, hi);
    var s = combine(lo, hi);
    while (i < n) : (i += 1) s += a[i] * b[i];
    return s;
}

export fn zx_dot(a: [*]const f64, b: [*]const f64, n: usize) f64 {
    if (n >= split_from) return dotSplit(a, b, n);
    var lanes: [8]f64 = @splat(0.0);
    return zx_dot_from(a, b, n, &lanes);
}

/// zx_product continued across calls, like zx_sum_from (lanes start at 1.0).
export fn zx_product_from(x: [*]const f64, n: usize, lanes: [*]f64) f64 {
    var lo: V4 = undefined;
    var hi: V4 = undefined;
    loadLanes(lanes, &lo, &hi);
    var i: usize = 0;
    while (i + 8 <= n) : (i += 8) {
        lo *= load4(x + i);
        hi *= load4(x + i + 4);
    }
    storeLanes(lanes, lo, hi);
    const v = lo * hi;
    var p = (v[0] * v[2]) * (v[1] * v[3]);
    while (i < n) : (i += 1) p *= x[i];
    return p;
}

export fn zx_product(x: [*]const f64, n: usize) f64 {
    var lanes: [8]f64 = @splat(1.0);
    return zx_product_from(x, n, &lanes);
}

export fn zx_mean(x: [*]const f64, n: usize) f64 {
    if (n == 0) return 0.0;
    return zx_sum(x, n) / @as(f64, @floatFromInt(n));
}

/// The second pass of the corrected two-pass variance, continued across pieces (lanes 0-7:
/// deviations, 8-15: squared deviations), as in the C kernel.
export fn zx_variance_from(x: [*]const f64, n: usize, mean: f64, count: usize, lanes: [*]f64) f64 {
    const m: V4 = @splat(mean);
    var d_lo: V4 = undefined;
    var d_hi: V4 = undefined;
    var q_lo: V4 = undefined;
    var q_hi: V4 = undefined;
    loadLanes(lanes, &d_lo, &d_hi);
    loadLanes(lanes + 8, &q_lo, &q_hi);
    var i: usize = 0;
    while (i + 8 <= n) : (i += 8) {
        const a = load4(x + i) - m;
        const b = load4(x + i + 4) - m;
        d_lo += a;
        d_hi += b;
        q_lo += a * a;
        q_hi += b * b;
    }
    storeLanes(lanes, d_lo, d_hi);
    storeLanes(lanes + 8, q_lo, q_hi);
    var drift = combine(d_lo, d_hi);
    var squares = combine(q_lo, q_hi);
    while (i < n) : (i += 1) {
        const d = x[i] - mean;
        drift += d;
        squares += d * d;
    }
    const total: f64 = @floatFromInt(count);
    const variance = (squares - drift * drift / total) / total;
    return if (variance < 0.0) 0.0 else variance;
}

export fn zx_variance(x: [*]const f64, n: usize) f64 {
    if (n == 0) return 0.0;
    var lanes: [16]f64 = @splat(0.0);
    return zx_variance_from(x, n, zx_sum(x, n) / @as(f64, @floatFromInt(n)), n, &lanes);
}

export fn zx_std(x: [*]const f64, n: usize) f64 {
    return @sqrt(zx_variance(x, n));
}

fn isNegativeZero(v: f64) bool {
    return v == 0.0 and std.math.signbit(v);
}

fn extremum(x: [*]const f64, n: usize, comptime want_max: bool) f64 {
    var lane: [8]f64 = @splat(x[0]);
    var nan = false;
    var i: usize = 0;
    while (i + 8 <= n) : (i += 8) {
        inline for (0..8) |j| {
            const v = x[i + j];
            nan = nan or v != v;
            const better = if (want_max) v > lane[j] else v < lane[j];
            lane[j] = if (better) v else lane[j];
        }
    }
    var best = lane[0];
    for (lane[1..]) |v| {
        const better = if (want_max) v > best else v < best;
        best = if (better) v else best;
    }
    while (i < n) : (i += 1) {
        const v = x[i];
        nan = nan or v != v;
        const better = if (want_max) v > best else v < best;
        best = if (better) v else best;
    }
    return if (nan or best != best) std.math.nan(f64) else best;
}

export fn zx_min(x: [*]const f64, n: usize) f64 {
    if (n == 0) return 0.0;
    const low = extremum(x, n, false);
    if (low == 0.0) {
        for (x[0..n]) |v| if (isNegativeZero(v)) return -0.0;
        return 0.0;
    }
    return low;
}

export fn zx_max(x: [*]const f64, n: usize) f64 {
    if (n == 0) return 0.0;
    const high = extremum(x, n, true);
    if (high == 0.0) {
        for (x[0..n]) |v| if (v == 0.0 and !std.math.signbit(v)) return 0.0;
        return -0.0;
    }
    return high;
}

export fn zx_vec_add(a: [*]const f64, b: [*]const f64, out: [*]f64, n: usize) void {
    for (0..n) |i| out[i] = a[i] + b[i];
}

export fn zx_vec_sub(a: [*]const f64, b: [*]const f64, out: [*]f64, n: usize) void {
    for (0..n) |i| out[i] = a[i] - b[i];
}

export fn zx_vec_mul(a: [*]const f64, b: [*]const f64, out: [*]f64, n: usize) void {
    for (0..n) |i| out[i] = a[i] * b[i];
}

export fn zx_vec_div(a: [*]const f64, b: [*]const f64, out: [*]f64, n: usize) void {
    for (0..n) |i| out[i] = if (b[i] != 0.0) a[i] / b[i] else 0.0;
}

export fn zx_map_mul(x: [*]const f64, factor: f64, out: [*]f64, n: usize) void {
    for (0..n) |i| out[i] = x[i] * factor;
}

export fn zx_map_add(x: [*]const f64, addend: f64, out: [*]f64, n: usize) void {
    for (0..n) |i| out[i] = x[i] + addend;
}

export fn zx_filter_gt(x: [*]const f64, n: usize, threshold: f64, out: [*]f64) usize {
    var kept: usize = 0;
    for (0..n) |i| {
        out[kept] = x[i];
        kept += @intFromBool(x[i] > threshold);
    }
    return kept;
}

// ---- sorting: the same LSD radix sort on order-preserving keys as the C kernel -------------

const radix_bits = 11;
const radix_size = 1 << radix_bits;
const radix_passes = 6;
const sign_bit: u64 = 1 << 63;

threadlocal var radix_counts: [radix_passes][radix_size]usize = undefined;

inline fn toKey(bits: u64) u64 {
    return if (bits >> 63 != 0) ~bits else bits | sign_bit;
}

inline fn fromKey(key: u64) u64 {
    return if (key >> 63 != 0) key & ~sign_bit else ~key;
}

fn insertionSort(k: [*]u64, n: usize) void {
    var i: usize = 1;
    while (i < n) : (i += 1) {
        const v = k[i];
        var j = i;
        while (j > 0 and k[j - 1] > v) : (j -= 1) k[j] = k[j - 1];
        k[j] = v;
    }
}

/// Below this many keys a merge sort beats the radix sort's fixed cost (its histograms).
const radix_min = 2048;
const merge_run = 16;

fn mergeSort(keys: []u64, tmp: []u64) void {
    const n = keys.len;
    var lo: usize = 0;
    while (lo < n) : (lo += merge_run) insertionSort(keys.ptr + lo, @min(merge_run, n - lo));
    var src = keys;
    var dst = tmp;
    var width: usize = merge_run;
    while (width < n) : (width *= 2) {
        lo = 0;
        while (lo < n) : (lo += 2 * width) {
            const mid = @min(lo + width, n);
            const hi = @min(lo + 2 * width, n);
            var i = lo;
            var j = mid;
            var k = lo;
            while (i < mid and j < hi) : (k += 1) {
                // LLVM compiles this to selects (branch-free); GCC keeps the C build's branch
                const a = src[i];
                const b = src[j];
                const take_right = b < a;
                dst[k] = if (take_right) b else a;
                j += @intFromBool(take_right);
                i += @intFromBool(!take_right);
            }
            while (i < mid) : ({
                i += 1;
                k += 1;
            }) dst[k] = src[i];
            while (j < hi) : ({
                j += 1;
                k += 1;
            }) dst[k] = src[j];
        }
        const swap = src;
        src = dst;
        dst = swap;
    }
    if (src.ptr != keys.ptr) @memcpy(keys, src);
}

fn radixSort(keys: []u64, tmp: []u64) void {
    const n = keys.len;
    const counts = &radix_counts;
    for (counts) |*row| @memset(row, 0);
    for (keys) |key| {
        inline for (0..radix_passes) |p| counts[p][(key >> (p * radix_bits)) & (radix_size - 1)] += 1;
    }
    var src = keys;
    var dst = tmp;
    inline for (0..radix_passes) |p| {
        const shift = p * radix_bits;
        const c = &counts[p];
        if (c[(src[0] >> shift) & (radix_size - 1)] != n) {
            var offset: usize = 0;
            for (c) |*slot| {
                const count = slot.*;
                slot.* = offset;
                offset += count;
            }
            for (src) |key| {
                const d = (key >> shift) & (radix_size - 1);
                dst[c[d]] = key;
                c[d] += 1;
            }
            const swap = src;
            src = dst;
            dst = swap;
        }
    }
    if (src.ptr != keys.ptr) @memcpy(keys, src);
}

export fn zx_sort_asc(x: [*]f64, n: usize, scratch: [*]f64) void {
    var kept: usize = 0;
    var nans: usize = 0;
    for (0..n) |i| {
        const v = x[i];
        if (v != v) {
            scratch[nans] = v;
            nans += 1;
        } else {
            x[kept] = v;
            kept += 1;
        }
    }
    @memcpy(x[kept .. kept + nans], scratch[0..nans]);
    const keys: [*]u64 = @ptrCast(x);
    const tmp: [*]u64 = @ptrCast(scratch);
    for (keys[0..kept]) |*k| k.* = toKey(k.*);
    if (kept < radix_min) mergeSort(keys[0..kept], tmp[0..kept]) else radixSort(keys[0..kept], tmp[0..kept]);
    for (keys[0..kept]) |*k| k.* = fromKey(k.*);
}

export fn zx_find_index(x: [*]const f64, n: usize, value: f64) i64 {
    for (0..n) |i| if (x[i] == value) return @intCast(i);
    return -1;
}

export fn zx_count_value(x: [*]const f64, n: usize, value: f64) usize {
    var count: usize = 0;
    for (0..n) |i| count += @intFromBool(x[i] == value);
    return count;
}

/// Row-major product accumulating each output in k order, as the C kernel and the reference.
export fn zx_mat_mul(a: [*]const f64, b: [*]const f64, out: [*]f64, a_rows: usize, a_cols: usize, b_cols: usize) void {
    for (0..a_rows) |i| {
        const row = out[i * b_cols .. (i + 1) * b_cols];
        @memset(row, 0.0);
        for (0..a_cols) |k| {
            const aik = a[i * a_cols + k];
            const brow = b[k * b_cols .. (k + 1) * b_cols];
            for (row, brow) |*o, bv| o.* += aik * bv;
        }
    }
}

export fn zx_mat_transpose(x: [*]const f64, out: [*]f64, rows: usize, cols: usize) void {
    const block = 32;
    var r0: usize = 0;
    while (r0 < rows) : (r0 += block) {
        var c0: usize = 0;
        while (c0 < cols) : (c0 += block) {
            const r1 = @min(r0 + block, rows);
            const c1 = @min(c0 + block, cols);
            for (r0..r1) |r| {
                for (c0..c1) |c| out[c * rows + r] = x[r * cols + c];
            }
        }
    }
}

export fn zx_utf8_length(code_points: [*]const u32, n: usize) usize {
    var bytes: usize = 0;
    for (code_points[0..n]) |c| {
        bytes += 1 + @as(usize, @intFromBool(c >= 0x80)) + @intFromBool(c >= 0x800) + @intFromBool(c >= 0x10000);
    }
    return bytes;
}

export fn zx_bytes_find(haystack: [*]const u8, n: usize, needle: [*]const u8, m: usize) i64 {
    if (m == 0) return 0;
    if (m > n) return -1;
    const found = std.mem.indexOf(u8, haystack[0..n], needle[0..m]) orelse return -1;
    return @intCast(found);
}

export fn zx_bytes_starts_with(s: [*]const u8, n: usize, prefix: [*]const u8, m: usize) c_int {
    if (m == 0) return 1;
    return @intFromBool(m <= n and std.mem.eql(u8, s[0..m], prefix[0..m]));
}

export fn zx_bytes_ends_with(s: [*]const u8, n: usize, suffix: [*]const u8, m: usize) c_int {
    if (m == 0) return 1;
    return @intFromBool(m <= n and std.mem.eql(u8, s[n - m .. n], suffix[0..m]));
}

/// The Zig build is compiled for one CPU level (baseline x86_64, or with AVX2 where the
/// machine has it: see zigbuild.py) and has no runtime dispatch: it reports the level it was
/// built for and ignores requests (its results equal every level's of the C build: same lanes,
/// same operations, strict floats).
export fn zx_simd_level(request: c_int) c_int {
    _ = request;
    const builtin = @import("builtin");
    if (builtin.cpu.arch == .x86_64 and std.Target.x86.featureSetHas(builtin.cpu.features, .avx2)) return 1;
    return 0;
}
