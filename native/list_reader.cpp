// zixir.engine._listread: the engine's native front end, shared by the C and Zig backends.
//
// * read_doubles(seq): read a Python list of numbers into a double buffer in one pass (used by
//   every op that is not on the fast path below).
// * Dispatcher: the base type of zixir.engine.native.NativeBackend. A backend hands it the
//   addresses of its own kernels (the C module's or the Zig library's) for every op: the
//   reductions, dot_product, the element-wise ops, filter_gt, sort_asc, find_index,
//   count_value and the matrix ops; the string ops (when the backend answers them in Python)
//   take no kernel: they are answered with CPython's own string functions.
// * front_end(fallback): the `run_with(backend, name, *args)` callable (active_front_end: the
//   same for `run(name, *args)` with the active backend). For a Dispatcher and an
//   op it knows, with arguments of the common shapes (a list or tuple of floats and ints, a
//   1-D C-contiguous float64 buffer), it validates and converts the arguments here and calls the
//   kernel directly: no Python frame, no argument tuple, no bytearray. Anything else (other ops,
//   other backends, unusual number types, any bad argument) goes to `fallback` with the
//   arguments untouched, and Python validates and words the error exactly as before, so a bad
//   argument never reaches a kernel.
//
// Lists are converted chunk by chunk into a buffer on the stack: a list of CHUNK elements or
// fewer in one piece (the kernel sees the same doubles as from a buffer), longer ones for sums
// and dot products through zx_sum_from / zx_dot_from, which carry the kernel's eight lanes
// across pieces and so return exactly what zx_sum / zx_dot return for the whole run; likewise
// zx_product_from, zx_variance_from (after a first pass for the mean), and min / max combine
// the results of the pieces. Only sorting and the matrix ops read a long list into one heap
// buffer (they need all of it). The hot paths use the raw C API (METH_FASTCALL,
// vectorcall) because pybind11's generic argument dispatch costs more than a short sum.
//
// Sums and dot products of ZX_SPLIT_FROM elements or more follow the kernels' block cut
// (zixir_engine.h): long buffers have their blocks computed on up to threads() threads without
// the GIL, long lists feed each block's pieces into lanes of its own; either way the result has
// the bits of the single-threaded kernel.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sched.h>
#endif

#include "zixir_engine.h"  // ZX_SPLIT_FROM, ZX_BLOCK: the block cut of long sums

namespace py = pybind11;

namespace {

// ---- read_doubles ---------------------------------------------------------------------------

// Returns (bytearray of len(seq) native doubles, -1), or (None, index of the first element
// that is not a float, a non-bool int, or an int that fits a double).
py::tuple read_doubles(py::handle seq) {
    PyObject *fast = PySequence_Fast(seq.ptr(), "expected a list or tuple");
    if (fast == nullptr) throw py::error_already_set();
    py::object keep = py::reinterpret_steal<py::object>(fast);
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *raw = PyByteArray_FromStringAndSize(nullptr, n * static_cast<Py_ssize_t>(sizeof(double)));
    if (raw == nullptr) throw py::error_already_set();
    py::object buffer = py::reinterpret_steal<py::object>(raw);
    double *out = reinterpret_cast<double *>(PyByteArray_AS_STRING(raw));
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = items[i];
        if (PyFloat_Check(item)) {
            out[i] = PyFloat_AS_DOUBLE(item);
        } else if (PyLong_Check(item) && !PyBool_Check(item)) {
            const double value = PyLong_AsDouble(item);
            if (value == -1.0 && PyErr_Occurred()) {  // too large for a double
                PyErr_Clear();
                return py::make_tuple(py::none(), i);
            }
            out[i] = value;
        } else {
            return py::make_tuple(py::none(), i);
        }
    }
    return py::make_tuple(buffer, -1);
}

// ---- kernels as the backends export them (native/zixir_engine.h) ---------------------------

using reduce_fn = double (*)(const double *, size_t);
using sum_from_fn = double (*)(const double *, size_t, double *);
using dot_fn = double (*)(const double *, const double *, size_t);
using dot_from_fn = double (*)(const double *, const double *, size_t, double *);

// What an op's fast path does with its kernels (the Python side names these kinds). SUM to STD
// are the numeric ops of one or two lists with a number result or an element-wise list result
// (`fast_ops`); the others are the rest of the op table (`native_ops` has them all).
enum Kind : int {
    NONE = 0, SUM = 1, MEAN = 2, REDUCE = 3, DOT = 4, PAIRWISE = 5, MAP = 6,
    PRODUCT = 7, MIN = 8, MAX = 9, VARIANCE = 10, STD = 11,
    FILTER = 12, SORT = 13, FIND = 14, COUNT = 15, MAT_MUL = 16, TRANSPOSE = 17,
    TEXT_COUNT = 18, TEXT_FIND = 19, TEXT_STARTS = 20, TEXT_ENDS = 21,
};
constexpr int LAST_NUMERIC = STD, LAST_KIND = TEXT_ENDS;

using pairwise_fn = void (*)(const double *, const double *, double *, size_t);
using map_fn = void (*)(const double *, double, double *, size_t);
using variance_from_fn = double (*)(const double *, size_t, double, size_t, double *);
using filter_fn = size_t (*)(const double *, size_t, double, double *);
using sort_fn = void (*)(double *, size_t, double *);
using find_fn = int64_t (*)(const double *, size_t, double);
using count_fn = size_t (*)(const double *, size_t, double);
using mat_mul_fn = void (*)(const double *, const double *, double *, size_t, size_t, size_t);
using transpose_fn = void (*)(const double *, double *, size_t, size_t);

struct Entry {
    int kind;
    void *whole;      // the kernel for a whole run (none for the string ops: CPython's own code)
    void *piecewise;  // zx_sum_from / zx_dot_from / zx_product_from / zx_variance_from
    double scalar;    // MAP, FILTER: the default of the optional number argument
    void *first_pass;  // VARIANCE, STD: zx_sum_from (the mean of a long list, piece by piece)
};

constexpr int MAX_OPS = 40;
constexpr Py_ssize_t CHUNK = 1024;  // doubles converted at a time: 8 KiB, stays in L1
static_assert(CHUNK % 8 == 0, "pieces must keep the kernels' eight lanes aligned");
constexpr Py_ssize_t RELEASE_GIL_FROM = 1 << 16;  // buffers this long are summed without the GIL
// Runs of ZX_SPLIT_FROM elements or more are summed in blocks of ZX_BLOCK (zixir_engine.h);
// pieces never straddle a block, and the blocks are what the threads share out.
constexpr Py_ssize_t SPLIT_FROM = ZX_SPLIT_FROM, BLOCK = ZX_BLOCK;
static_assert(BLOCK % CHUNK == 0, "a list piece must never straddle a block");
static_assert(BLOCK % 8 == 0 && SPLIT_FROM >= BLOCK, "blocks keep the eight lanes aligned");
// Helper threads are started for buffers of this many doubles in all (a sum of 2^21, a dot
// product of 2^20 elements, 16 MiB): starting one costs tens of microseconds, which a sum of
// 2^20 elements (~90 us) does not win back. Shorter split runs take the kernel on this thread.
constexpr Py_ssize_t THREADS_FROM_DOUBLES = 1 << 21;

struct Dispatcher {
    PyObject_HEAD
    PyObject *ops;  // op name -> index into entries (a dict of small ints)
    int lists;      // whether lists are read here (false: the backend validates them in Python)
    PyObject *numeric;  // frozenset: the names of the ops of kinds SUM to STD
    Entry entries[MAX_OPS];
};

// ---- arguments ----------------------------------------------------------------------------

// One list-of-numbers argument: either a float64 buffer used in place or a list's item array.
struct Source {
    const double *data = nullptr;
    PyObject *const *items = nullptr;  // a list's (or tuple's) items, from bind_items
    PyObject *seq = nullptr;            // borrowed: the list or tuple
    bool is_list = false;
    Py_ssize_t n = 0;
    Py_buffer view{};
    bool has_view = false;

    ~Source() {
        if (has_view) PyBuffer_Release(&view);
    }
};

bool native_double_format(const char *format) {
    if (format == nullptr) return false;
    if (format[0] == '@' || format[0] == '=') format++;
#if PY_LITTLE_ENDIAN
    else if (format[0] == '<') format++;
#else
    else if (format[0] == '>' || format[0] == '!') format++;
#endif
    return format[0] == 'd' && format[1] == '\0';
}

// Fills `src` if `value` has a shape the fast path takes; false (no error set) otherwise.
// A list's items are looked at only in bind_items, once every buffer of the call is open: a
// buffer exporter may run Python code (`__buffer__`), which could change a list.
bool open_source(PyObject *value, bool lists, Source &src) {
    if (PyList_Check(value) || PyTuple_Check(value)) {
        if (!lists) return false;
        src.is_list = true;
        src.seq = value;
        return true;
    }
    PyBufferProcs *procs = Py_TYPE(value)->tp_as_buffer;
    if (procs == nullptr || procs->bf_getbuffer == nullptr || PyBytes_Check(value) ||
        PyByteArray_Check(value)) {
        return false;
    }
    if (PyObject_GetBuffer(value, &src.view, PyBUF_RECORDS_RO) != 0) {
        PyErr_Clear();
        return false;
    }
    src.has_view = true;
    const Py_buffer &v = src.view;
    if (v.ndim != 1 || v.itemsize != 8 || !native_double_format(v.format)) return false;
    if (v.shape[0] > 1 && v.strides != nullptr && v.strides[0] != 8) return false;
    src.data = static_cast<const double *>(v.buf);
    src.n = v.shape[0];
    return true;
}

void bind_items(Source &src) {
    if (!src.is_list) return;
    if (PyList_Check(src.seq)) {
        src.items = reinterpret_cast<PyListObject *>(src.seq)->ob_item;
        src.n = PyList_GET_SIZE(src.seq);
    } else {
        src.items = reinterpret_cast<PyTupleObject *>(src.seq)->ob_item;
        src.n = PyTuple_GET_SIZE(src.seq);
    }
}

// Converts items[0:count] into out; false if one is not a float or an int that fits a double
// (the caller then leaves the whole call to Python, which names the element). Runs no Python
// code, so the list cannot change while it is read.
inline bool read_items(PyObject *const *items, Py_ssize_t count, double *out) {
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = items[i];
        if (PyFloat_CheckExact(item) || PyFloat_Check(item)) {
            out[i] = PyFloat_AS_DOUBLE(item);
        } else if (PyLong_Check(item) && !PyBool_Check(item)) {
            const double value = PyLong_AsDouble(item);
            if (value == -1.0 && PyErr_Occurred()) {
                PyErr_Clear();
                return false;
            }
            out[i] = value;
        } else {
            return false;
        }
    }
    return true;
}

// The doubles src[offset:offset+count]: in place for a buffer, converted into `scratch` for a
// list. nullptr only if an element cannot be read.
inline const double *piece(const Source &src, Py_ssize_t offset, Py_ssize_t count,
                           double *scratch) {
    if (!src.is_list) return src.data != nullptr ? src.data + offset : scratch;  // empty: no data
    return read_items(src.items + offset, count, scratch) ? scratch : nullptr;
}

// ---- the fast paths: a result, or nullptr with no error set to mean "ask Python" ------------

PyObject *const DECLINE = nullptr;

// The smaller (want_max: larger) of two chunk results of zx_min / zx_max, so that combining the
// chunks' results gives exactly the whole run's: NaN wins (the first one seen, which is the
// build's own NaN), and between zeros -0.0 wins a minimum and 0.0 a maximum (the whole-run
// kernels return -0.0 / 0.0 exactly when some element is one).
inline double better_extremum(double best, double v, bool want_max) {
    if (best != best) return best;
    if (v != v) return v;
    if (want_max) return v > best || (v == best && !std::signbit(v)) ? v : best;
    return v < best || (v == best && std::signbit(v)) ? v : best;
}

// ---- long sums and dot products: the block cut, on several threads -------------------------
// zx_sum / zx_dot of ZX_SPLIT_FROM elements or more are defined block by block (zixir_engine.h):
// every block's lanes start at zero and the blocks' lanes are added in block order. The front
// end computes the blocks of a buffer on up to `max_threads` threads, each block with the
// backend's own zx_sum_from / zx_dot_from into a slot of its own, then adds the slots in
// order: the same operations as the single-threaded kernel, so the same bits on any number of
// threads and any machine.

std::atomic<int> max_threads{1};

int available_cpus() {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
#endif
    const unsigned count = std::thread::hardware_concurrency();
    return count > 0 ? static_cast<int>(count) : 1;
}

// The blocks of a[0:full] (and b) computed into lanes[8 * block]; called without the GIL.
// Thread t takes the contiguous blocks [t * blocks / threads, (t + 1) * blocks / threads): one
// sequential stream per thread, which the hardware prefetchers follow best.
void split_blocks(sum_from_fn sum_step, dot_from_fn dot_step, const double *a, const double *b,
                  size_t full, double *lanes, size_t blocks, int threads) {
    auto work = [=](size_t first, size_t last) {
        for (size_t k = first; k < last; k++) {
            const size_t at = k * static_cast<size_t>(BLOCK);
            const size_t len = std::min(full - at, static_cast<size_t>(BLOCK));
            if (b != nullptr) {
                dot_step(a + at, b + at, len, lanes + 8 * k);
            } else {
                sum_step(a + at, len, lanes + 8 * k);
            }
        }
    };
    auto share = [=](size_t t) { return blocks * t / static_cast<size_t>(threads); };
    std::vector<std::thread> helpers;
    size_t started = 1;  // this thread and the helpers running
    for (int t = 1; t < threads; t++) {
        try {
            helpers.emplace_back(work, share(t), share(t + 1));
        } catch (const std::exception &) {  // no thread: the shares left are done here
            break;
        }
        started++;
    }
    work(0, share(1));
    if (started < static_cast<size_t>(threads)) work(share(started), blocks);
    for (std::thread &helper : helpers) helper.join();
}

// zx_sum(a, n) (b == nullptr) or zx_dot(a, b, n) of a buffer of at least SPLIT_FROM elements,
// computed block by block on up to max_threads threads; nullptr with MemoryError set if the
// block slots cannot be allocated.
PyObject *split_buffer(const Entry &entry, const double *a, const double *b, size_t n,
                       double scale) {
    sum_from_fn sum_step = reinterpret_cast<sum_from_fn>(entry.piecewise);
    dot_from_fn dot_step = reinterpret_cast<dot_from_fn>(entry.piecewise);
    const size_t full = n - n % 8, blocks = (full + BLOCK - 1) / BLOCK;
    const int threads = static_cast<int>(std::min<size_t>(
        static_cast<size_t>(std::max(1, max_threads.load(std::memory_order_relaxed))), blocks));
    double *lanes = static_cast<double *>(PyMem_Calloc(blocks * 8, sizeof(double)));
    if (lanes == nullptr) return PyErr_NoMemory();
    double total[8] = {0.0};
    double result;
    Py_BEGIN_ALLOW_THREADS
    split_blocks(sum_step, dot_step, a, b, full, lanes, blocks, threads);
    for (size_t k = 0; k < blocks; k++)
        for (int j = 0; j < 8; j++) total[j] += lanes[8 * k + j];
    result = b != nullptr ? dot_step(a + full, b + full, n - full, total)
                          : sum_step(a + full, n - full, total);
    Py_END_ALLOW_THREADS
    PyMem_Free(lanes);
    return PyFloat_FromDouble(result / scale);
}

// The block cut for a run read piece by piece (lists): `lanes` gathers the current block,
// `total` the finished ones. feed(len) follows a zx_sum_from / zx_dot_from of `len` elements of
// full groups into `lanes`; the last n % 8 elements then go in with `total`.
struct BlockCut {
    double total[8] = {0.0}, lanes[8] = {0.0};
    Py_ssize_t full, done = 0;

    explicit BlockCut(Py_ssize_t n) : full(n - n % 8) {}

    // How many of the `count` elements at `offset` belong to full groups.
    Py_ssize_t groups(Py_ssize_t offset, Py_ssize_t count) const {
        return offset >= full ? 0 : std::min(count, full - offset);
    }

    void feed(Py_ssize_t len) {
        done += len;
        if (done % BLOCK == 0 || done == full) {
            for (int j = 0; j < 8; j++) {
                total[j] += lanes[j];
                lanes[j] = 0.0;
            }
        }
    }
};

// zx_sum of a list of at least SPLIT_FROM elements, piece by piece with the block cut; false if
// an element cannot be read.
bool split_list_sum(sum_from_fn step, const Source &xs, double *scratch, double &result) {
    const Py_ssize_t n = xs.n;
    BlockCut cut(n);
    for (Py_ssize_t offset = 0; offset < n; offset += CHUNK) {
        const Py_ssize_t count = n - offset < CHUNK ? n - offset : CHUNK;
        if (!read_items(xs.items + offset, count, scratch)) return false;
        const Py_ssize_t groups = cut.groups(offset, count);
        if (groups > 0) {
            step(scratch, static_cast<size_t>(groups), cut.lanes);
            cut.feed(groups);
        }
        if (offset + count == n) {
            result = step(scratch + groups, static_cast<size_t>(count - groups), cut.total);
        }
    }
    return true;
}

PyObject *one_list(const Entry &entry, const Source &xs) {
    const Py_ssize_t n = xs.n;
    double result;
    if (!xs.is_list) {  // a buffer, in place
        const double *data = n ? xs.data : nullptr;
        if ((entry.kind == SUM || entry.kind == MEAN) && n >= SPLIT_FROM &&
            n >= THREADS_FROM_DOUBLES && max_threads.load(std::memory_order_relaxed) > 1) {
            // zx_mean is zx_sum / n in both builds
            return split_buffer(entry, data, nullptr, static_cast<size_t>(n),
                                entry.kind == MEAN ? static_cast<double>(n) : 1.0);
        }
        reduce_fn kernel = reinterpret_cast<reduce_fn>(entry.whole);
        if (n >= RELEASE_GIL_FROM) {
            Py_BEGIN_ALLOW_THREADS
            result = kernel(data, static_cast<size_t>(n));
            Py_END_ALLOW_THREADS
        } else {
            result = kernel(data, static_cast<size_t>(n));
        }
        return PyFloat_FromDouble(result);
    }
    double scratch[CHUNK];
    if (n <= CHUNK) {
        if (!read_items(xs.items, n, scratch)) return DECLINE;
        result = reinterpret_cast<reduce_fn>(entry.whole)(scratch, static_cast<size_t>(n));
        return PyFloat_FromDouble(result);
    }
    // Longer lists are read a chunk at a time, never into one buffer of their own.
    const int kind = entry.kind;
    if (kind == MIN || kind == MAX) {
        reduce_fn kernel = reinterpret_cast<reduce_fn>(entry.whole);
        for (Py_ssize_t offset = 0; offset < n; offset += CHUNK) {
            const Py_ssize_t count = n - offset < CHUNK ? n - offset : CHUNK;
            if (!read_items(xs.items + offset, count, scratch)) return DECLINE;
            const double v = kernel(scratch, static_cast<size_t>(count));
            result = offset == 0 ? v : better_extremum(result, v, kind == MAX);
        }
        return PyFloat_FromDouble(result);
    }
    double lanes[16];
    if (kind == SUM || kind == MEAN || kind == PRODUCT || kind == VARIANCE || kind == STD) {
        // zx_sum_from / zx_product_from: the whole run's zx_sum / zx_product, piece by piece
        const bool product = kind == PRODUCT;
        sum_from_fn step = reinterpret_cast<sum_from_fn>(product ? entry.piecewise
                                                         : kind == VARIANCE || kind == STD
                                                             ? entry.first_pass
                                                             : entry.piecewise);
        if (!product && n >= SPLIT_FROM) {  // zx_sum's block cut
            if (!split_list_sum(step, xs, scratch, result)) return DECLINE;
        } else {
            for (double &lane : lanes) lane = product ? 1.0 : 0.0;
            for (Py_ssize_t offset = 0; offset < n; offset += CHUNK) {
                const Py_ssize_t count = n - offset < CHUNK ? n - offset : CHUNK;
                if (!read_items(xs.items + offset, count, scratch)) return DECLINE;
                result = step(scratch, static_cast<size_t>(count), lanes);
            }
        }
        // zx_mean is zx_sum / n in both builds
        if (kind == MEAN) result /= static_cast<double>(n);
        if (kind != VARIANCE && kind != STD) return PyFloat_FromDouble(result);
    } else {  // REDUCE: a kernel without a piecewise form gets the list in one buffer
        double *whole = static_cast<double *>(PyMem_Malloc(static_cast<size_t>(n) * sizeof(double)));
        if (whole == nullptr) return PyErr_NoMemory();
        if (!read_items(xs.items, n, whole)) {
            PyMem_Free(whole);
            return DECLINE;
        }
        result = reinterpret_cast<reduce_fn>(entry.whole)(whole, static_cast<size_t>(n));
        PyMem_Free(whole);
        return PyFloat_FromDouble(result);
    }
    // zx_variance: the mean from the first pass, then the deviations, reading the list again
    // (it cannot change in between: nothing here runs Python code)
    const double mean = result / static_cast<double>(n);
    variance_from_fn step = reinterpret_cast<variance_from_fn>(entry.piecewise);
    for (double &lane : lanes) lane = 0.0;
    for (Py_ssize_t offset = 0; offset < n; offset += CHUNK) {
        const Py_ssize_t count = n - offset < CHUNK ? n - offset : CHUNK;
        read_items(xs.items + offset, count, scratch);  // read once already: cannot fail
        result = step(scratch, static_cast<size_t>(count), mean, static_cast<size_t>(n), lanes);
    }
    return PyFloat_FromDouble(kind == STD ? std::sqrt(result) : result);  // zx_std: sqrt(zx_variance)
}

PyObject *two_lists(const Entry &entry, const Source &xs, const Source &ys) {
    const Py_ssize_t n = xs.n;
    if (ys.n != n) return DECLINE;  // Python reports the length mismatch
    double result;
    if (!xs.is_list && !ys.is_list) {
        if (n >= SPLIT_FROM && 2 * n >= THREADS_FROM_DOUBLES &&
            max_threads.load(std::memory_order_relaxed) > 1) {
            return split_buffer(entry, xs.data, ys.data, static_cast<size_t>(n), 1.0);
        }
        dot_fn kernel = reinterpret_cast<dot_fn>(entry.whole);
        if (n >= RELEASE_GIL_FROM) {
            Py_BEGIN_ALLOW_THREADS
            result = kernel(xs.data, ys.data, static_cast<size_t>(n));
            Py_END_ALLOW_THREADS
        } else {
            result = kernel(n ? xs.data : nullptr, n ? ys.data : nullptr, static_cast<size_t>(n));
        }
        return PyFloat_FromDouble(result);
    }
    double scratch_x[CHUNK], scratch_y[CHUNK];
    if (n <= CHUNK) {
        const double *a = piece(xs, 0, n, scratch_x), *b = piece(ys, 0, n, scratch_y);
        if (a == nullptr || b == nullptr) return DECLINE;
        result = reinterpret_cast<dot_fn>(entry.whole)(a, b, static_cast<size_t>(n));
        return PyFloat_FromDouble(result);
    }
    dot_from_fn step = reinterpret_cast<dot_from_fn>(entry.piecewise);
    double lanes[8] = {0.0};
    result = 0.0;
    if (n >= SPLIT_FROM) {  // zx_dot's block cut
        BlockCut cut(n);
        for (Py_ssize_t offset = 0; offset < n; offset += CHUNK) {
            const Py_ssize_t count = n - offset < CHUNK ? n - offset : CHUNK;
            const double *a = piece(xs, offset, count, scratch_x);
            const double *b = piece(ys, offset, count, scratch_y);
            if (a == nullptr || b == nullptr) return DECLINE;
            const Py_ssize_t groups = cut.groups(offset, count);
            if (groups > 0) {
                step(a, b, static_cast<size_t>(groups), cut.lanes);
                cut.feed(groups);
            }
            if (offset + count == n) {
                result = step(a + groups, b + groups, static_cast<size_t>(count - groups),
                              cut.total);
            }
        }
        return PyFloat_FromDouble(result);
    }
    for (Py_ssize_t offset = 0; offset < n; offset += CHUNK) {
        const Py_ssize_t count = n - offset < CHUNK ? n - offset : CHUNK;
        const double *a = piece(xs, offset, count, scratch_x);
        const double *b = piece(ys, offset, count, scratch_y);
        if (a == nullptr || b == nullptr) return DECLINE;
        result = step(a, b, static_cast<size_t>(count), lanes);
    }
    return PyFloat_FromDouble(result);
}

// A number argument as the Python path takes it (float, or int that is not bool and fits a
// double); false (no error set) for anything else.
bool read_number(PyObject *value, double &out) {
    PyObject *const items[1] = {value};
    return read_items(items, 1, &out);
}

// Element-wise ops: the result list is built here, chunk by chunk (element-wise results do not
// depend on how the run is cut).
PyObject *element_wise(const Entry &entry, const Source &xs, const Source *ys, double scalar) {
    const Py_ssize_t n = xs.n;
    if (ys != nullptr && ys->n != n) return DECLINE;  // Python reports the length mismatch
    PyObject *result = PyList_New(n);
    if (result == nullptr) return nullptr;
    double scratch_x[CHUNK], scratch_y[CHUNK], out[CHUNK];
    for (Py_ssize_t offset = 0; offset < n; offset += CHUNK) {
        const Py_ssize_t count = n - offset < CHUNK ? n - offset : CHUNK;
        const double *a = piece(xs, offset, count, scratch_x);
        const double *b = ys != nullptr ? piece(*ys, offset, count, scratch_y) : scratch_y;
        if (a == nullptr || b == nullptr) {
            Py_DECREF(result);
            return DECLINE;
        }
        if (ys != nullptr) {
            reinterpret_cast<pairwise_fn>(entry.whole)(a, b, out, static_cast<size_t>(count));
        } else {
            reinterpret_cast<map_fn>(entry.whole)(a, scalar, out, static_cast<size_t>(count));
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *item = PyFloat_FromDouble(out[i]);
            if (item == nullptr) {
                Py_DECREF(result);
                return nullptr;
            }
            PyList_SET_ITEM(result, offset + i, item);
        }
    }
    return result;
}

// A list of floats made of out[0:n].
PyObject *float_list(const double *out, Py_ssize_t n) {
    PyObject *result = PyList_New(n);
    if (result == nullptr) return nullptr;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyFloat_FromDouble(out[i]);
        if (item == nullptr) {
            Py_DECREF(result);
            return nullptr;
        }
        PyList_SET_ITEM(result, i, item);
    }
    return result;
}

// A whole argument as one run of doubles, for kernels that need all of it at once (sorting,
// matrices): a buffer in place, a list converted on the stack (up to CHUNK) or on the heap.
struct Run {
    const double *data = nullptr;
    double *heap = nullptr;
    double stack[CHUNK];

    Run() = default;
    Run(const Run &) = delete;
    Run &operator=(const Run &) = delete;
    ~Run() { PyMem_Free(heap); }

    // Room for n doubles that the caller may write (the heap beyond CHUNK); nullptr with
    // MemoryError set if there is none.
    double *room(Py_ssize_t n) {
        if (n <= CHUNK) return stack;
        heap = static_cast<double *>(PyMem_Malloc(static_cast<size_t>(n) * sizeof(double)));
        if (heap == nullptr) PyErr_NoMemory();
        return heap;
    }
};

enum class Read { OK, DECLINE, ERROR };

// src as one run; `writable`: a copy the kernel may change, even of a buffer.
Read read_run(const Source &src, Run &run, bool writable) {
    if (!src.is_list && !writable) {
        run.data = src.n ? src.data : run.stack;
        return Read::OK;
    }
    double *out = run.room(src.n);
    if (out == nullptr) return Read::ERROR;
    if (src.is_list) {
        if (!read_items(src.items, src.n, out)) return Read::DECLINE;
    } else if (src.n) {
        std::memcpy(out, src.data, static_cast<size_t>(src.n) * sizeof(double));
    }
    run.data = out;
    return Read::OK;
}

inline PyObject *failed(Read read) { return read == Read::ERROR ? nullptr : DECLINE; }

PyObject *filter_gt(const Entry &entry, const Source &xs, double threshold) {
    const Py_ssize_t n = xs.n;
    filter_fn kernel = reinterpret_cast<filter_fn>(entry.whole);
    double scratch[CHUNK], out[CHUNK];
    if (n <= CHUNK) {
        const double *a = piece(xs, 0, n, scratch);
        if (a == nullptr) return DECLINE;
        return float_list(out, static_cast<Py_ssize_t>(kernel(a, static_cast<size_t>(n), threshold, out)));
    }
    PyObject *result = PyList_New(0);
    if (result == nullptr) return nullptr;
    for (Py_ssize_t offset = 0; offset < n; offset += CHUNK) {
        const Py_ssize_t count = n - offset < CHUNK ? n - offset : CHUNK;
        const double *a = piece(xs, offset, count, scratch);
        if (a == nullptr) {
            Py_DECREF(result);
            return DECLINE;
        }
        const size_t kept = kernel(a, static_cast<size_t>(count), threshold, out);
        for (size_t i = 0; i < kept; i++) {
            PyObject *item = PyFloat_FromDouble(out[i]);
            if (item == nullptr || PyList_Append(result, item) != 0) {
                Py_XDECREF(item);
                Py_DECREF(result);
                return nullptr;
            }
            Py_DECREF(item);
        }
    }
    return result;
}

// Short results whose values come from a list's items (sorting permutes them) reuse the item
// objects that are exact floats with the same bits, as `sorted` does, instead of new floats.
constexpr Py_ssize_t REUSE_UP_TO = 32;

PyObject *reusing_items(const double *out, PyObject *const *items, Py_ssize_t n) {
    PyObject *result = PyList_New(n);
    if (result == nullptr) return nullptr;
    uint64_t taken = 0;  // items already placed
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t bits;
        std::memcpy(&bits, out + i, sizeof bits);
        PyObject *item = nullptr;
        for (Py_ssize_t j = 0; j < n; j++) {
            PyObject *candidate = items[j];
            if ((taken >> j & 1) || !PyFloat_CheckExact(candidate)) continue;
            uint64_t have;
            const double value = PyFloat_AS_DOUBLE(candidate);
            std::memcpy(&have, &value, sizeof have);
            if (have == bits) {
                taken |= uint64_t{1} << j;
                item = Py_NewRef(candidate);
                break;
            }
        }
        if (item == nullptr && (item = PyFloat_FromDouble(out[i])) == nullptr) {
            Py_DECREF(result);
            return nullptr;
        }
        PyList_SET_ITEM(result, i, item);
    }
    return result;
}

PyObject *sort_asc(const Entry &entry, const Source &xs) {
    const Py_ssize_t n = xs.n;
    Run values, scratch;
    Read read = read_run(xs, values, true);
    if (read != Read::OK) return failed(read);
    double *room = scratch.room(n);
    if (room == nullptr) return nullptr;
    double *data = const_cast<double *>(values.data);  // our own copy
    sort_fn kernel = reinterpret_cast<sort_fn>(entry.whole);
    if (n >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        kernel(data, static_cast<size_t>(n), room);
        Py_END_ALLOW_THREADS
    } else {
        kernel(data, static_cast<size_t>(n), room);
    }
    if (xs.is_list && n <= REUSE_UP_TO) return reusing_items(data, xs.items, n);
    return float_list(data, n);
}

// find_index / count_value. A list is read to its end even once the value is found: an element
// after it that is not a number still makes the call an error (in Python).
PyObject *search(const Entry &entry, const Source &xs, double value) {
    const Py_ssize_t n = xs.n;
    const bool find = entry.kind == FIND;
    if (!xs.is_list) {
        const double *data = n ? xs.data : nullptr;
        if (find) {
            return PyLong_FromLongLong(
                reinterpret_cast<find_fn>(entry.whole)(data, static_cast<size_t>(n), value));
        }
        return PyLong_FromSize_t(
            reinterpret_cast<count_fn>(entry.whole)(data, static_cast<size_t>(n), value));
    }
    double scratch[CHUNK];
    long long found = -1;
    size_t total = 0;
    for (Py_ssize_t offset = 0; offset < n; offset += CHUNK) {
        const Py_ssize_t count = n - offset < CHUNK ? n - offset : CHUNK;
        if (!read_items(xs.items + offset, count, scratch)) return DECLINE;
        if (!find) {
            total += reinterpret_cast<count_fn>(entry.whole)(scratch, static_cast<size_t>(count), value);
        } else if (found < 0) {
            const int64_t at =
                reinterpret_cast<find_fn>(entry.whole)(scratch, static_cast<size_t>(count), value);
            if (at >= 0) found = static_cast<long long>(offset + at);
        }
    }
    return find ? PyLong_FromLongLong(found) : PyLong_FromSize_t(total);
}

// A dimension as the Python path takes it: an int (not bool) >= 0; false (no error set) for
// anything else, which Python then reports.
bool read_dimension(PyObject *value, Py_ssize_t &out) {
    if (!PyLong_Check(value) || PyBool_Check(value)) return false;
    out = PyLong_AsSsize_t(value);
    if (out == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
    }
    return out >= 0;
}

// rows * cols, or false if it does not fit (Python then reports the size mismatch).
inline bool times(Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t &out) {
    return !__builtin_mul_overflow(rows, cols, &out) && out <= PY_SSIZE_T_MAX / 8;
}

PyObject *mat_mul(const Entry &entry, PyObject *const *args, bool lists) {
    Py_ssize_t rows, inner, cols, a_size, b_size, out_size;
    if (!read_dimension(args[2], rows) || !read_dimension(args[3], inner) ||
        !read_dimension(args[4], cols) || !times(rows, inner, a_size) ||
        !times(inner, cols, b_size) || !times(rows, cols, out_size)) {
        return DECLINE;
    }
    Source as, bs;
    if (!open_source(args[0], lists, as) || !open_source(args[1], lists, bs)) return DECLINE;
    bind_items(as);
    bind_items(bs);
    if (as.n != a_size || bs.n != b_size) return DECLINE;  // Python reports which
    Run a, b, out;
    Read read = read_run(as, a, false);
    if (read == Read::OK) read = read_run(bs, b, false);
    if (read != Read::OK) return failed(read);
    double *room = out.room(out_size);
    if (room == nullptr) return nullptr;
    mat_mul_fn kernel = reinterpret_cast<mat_mul_fn>(entry.whole);
    const double work = static_cast<double>(rows) * static_cast<double>(inner) * static_cast<double>(cols);
    if (work >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        kernel(a.data, b.data, room, static_cast<size_t>(rows), static_cast<size_t>(inner),
               static_cast<size_t>(cols));
        Py_END_ALLOW_THREADS
    } else {
        kernel(a.data, b.data, room, static_cast<size_t>(rows), static_cast<size_t>(inner),
               static_cast<size_t>(cols));
    }
    return float_list(room, out_size);
}

PyObject *mat_transpose(const Entry &entry, PyObject *const *args, bool lists) {
    Py_ssize_t rows, cols, size;
    if (!read_dimension(args[1], rows) || !read_dimension(args[2], cols) ||
        !times(rows, cols, size)) {
        return DECLINE;
    }
    Source flat;
    if (!open_source(args[0], lists, flat)) return DECLINE;
    bind_items(flat);
    if (flat.n != size) return DECLINE;
    Run x, out;
    Read read = read_run(flat, x, false);
    if (read != Read::OK) return failed(read);
    double *room = out.room(size);
    if (room == nullptr) return nullptr;
    reinterpret_cast<transpose_fn>(entry.whole)(x.data, room, static_cast<size_t>(rows),
                                                static_cast<size_t>(cols));
    return float_list(room, size);
}

// ---- the string ops: the Python path's own semantics, with CPython's string code ----------
// Only exact str objects (a subclass may override find / startswith / encode). A string that
// UTF-8 cannot encode (a lone surrogate) is left to Python, which raises as before.

// UTF-8 length of s[0:end]; false if a surrogate in s[0:scan_to] makes s unencodable.
bool utf8_length(PyObject *s, Py_ssize_t end, Py_ssize_t scan_to, Py_ssize_t &bytes) {
    const void *data = PyUnicode_DATA(s);
    const int kind = PyUnicode_KIND(s);
    Py_ssize_t total = 0;
    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *c = static_cast<const Py_UCS1 *>(data);
        for (Py_ssize_t i = 0; i < end; i++) total += 1 + (c[i] >= 0x80);
        bytes = total;
        return true;
    }
    for (Py_ssize_t i = 0; i < scan_to; i++) {
        const Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xD800 && c <= 0xDFFF) return false;
        if (i < end) total += 1 + (c >= 0x80) + (c >= 0x800) + (c >= 0x10000);
    }
    bytes = total;
    return true;
}

inline bool encodable(PyObject *s) {
    Py_ssize_t ignored;
    return PyUnicode_IS_ASCII(s) || utf8_length(s, 0, PyUnicode_GET_LENGTH(s), ignored);
}

PyObject *text_op(int kind, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != (kind == TEXT_COUNT ? 1 : 2) || !PyUnicode_CheckExact(args[0])) return DECLINE;
    PyObject *s = args[0];
    const Py_ssize_t length = PyUnicode_GET_LENGTH(s);
    if (kind == TEXT_COUNT) {
        if (PyUnicode_IS_ASCII(s)) return PyLong_FromSsize_t(length);
        Py_ssize_t bytes;
        if (!utf8_length(s, length, length, bytes)) return DECLINE;
        return PyLong_FromSsize_t(bytes);
    }
    PyObject *other = args[1];
    if (!PyUnicode_CheckExact(other)) return DECLINE;
    if (kind == TEXT_FIND) {
        const bool ascii = PyUnicode_IS_ASCII(s) && PyUnicode_IS_ASCII(other);
        if (!ascii && (!encodable(s) || !encodable(other))) return DECLINE;
        // A UTF-8 match starts and ends on character boundaries, so the first match in code
        // points is the first in bytes: its byte offset is the UTF-8 length of what precedes it.
        Py_ssize_t at = PyUnicode_Find(s, other, 0, PY_SSIZE_T_MAX, 1);
        if (at == -2) return nullptr;
        if (at > 0 && !PyUnicode_IS_ASCII(s)) utf8_length(s, at, at, at);
        return PyLong_FromSsize_t(at);
    }
    const Py_ssize_t match = PyUnicode_Tailmatch(s, other, 0, PY_SSIZE_T_MAX,
                                                 kind == TEXT_STARTS ? -1 : 1);
    if (match < 0) return nullptr;
    return PyBool_FromLong(static_cast<long>(match));
}

PyObject *fast_call(Dispatcher *self, PyObject *name, PyObject *const *args, Py_ssize_t nargs) {
    if (self->ops == nullptr || !PyUnicode_CheckExact(name)) return DECLINE;
    PyObject *index = PyDict_GetItemWithError(self->ops, name);  // borrowed
    if (index == nullptr) {
        PyErr_Clear();
        return DECLINE;
    }
    const Entry &entry = self->entries[PyLong_AsLong(index)];
    const bool lists = self->lists != 0;
    const int kind = entry.kind;
    switch (kind) {
    case DOT:
    case PAIRWISE: {
        if (nargs != 2) return DECLINE;
        Source xs, ys;
        if (!open_source(args[0], lists, xs) || !open_source(args[1], lists, ys)) return DECLINE;
        bind_items(xs);
        bind_items(ys);
        return kind == DOT ? two_lists(entry, xs, ys) : element_wise(entry, xs, &ys, 0.0);
    }
    case MAP:
    case FILTER:
    case FIND:
    case COUNT: {
        // a list and a number: optional for MAP and FILTER (entry.scalar), required otherwise
        const Py_ssize_t fewest = kind == MAP || kind == FILTER ? 1 : 2;
        double scalar = entry.scalar;
        if (nargs < fewest || nargs > 2 || (nargs == 2 && !read_number(args[1], scalar))) {
            return DECLINE;
        }
        Source xs;
        if (!open_source(args[0], lists, xs)) return DECLINE;
        bind_items(xs);
        if (kind == MAP) return element_wise(entry, xs, nullptr, scalar);
        if (kind == FILTER) return filter_gt(entry, xs, scalar);
        return search(entry, xs, scalar);
    }
    case MAT_MUL:
        return nargs == 5 ? mat_mul(entry, args, lists) : DECLINE;
    case TRANSPOSE:
        return nargs == 3 ? mat_transpose(entry, args, lists) : DECLINE;
    case TEXT_COUNT:
    case TEXT_FIND:
    case TEXT_STARTS:
    case TEXT_ENDS:
        return text_op(kind, args, nargs);
    default: {  // the one-list reductions and sort_asc
        if (nargs != 1) return DECLINE;
        Source xs;
        if (!open_source(args[0], lists, xs)) return DECLINE;
        bind_items(xs);
        return kind == SORT ? sort_asc(entry, xs) : one_list(entry, xs);
    }
    }
}

// ---- the Dispatcher type --------------------------------------------------------------------

void dispatcher_dealloc(PyObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    Py_CLEAR(reinterpret_cast<Dispatcher *>(self)->ops);
    Py_CLEAR(reinterpret_cast<Dispatcher *>(self)->numeric);
    type->tp_free(self);
    Py_DECREF(type);
}

// _set_fast_ops({name: (kind, kernel address, piecewise kernel address[, default[, first
// pass address]])}, lists). The string kinds take no kernels (addresses 0).
PyObject *dispatcher_set_fast_ops(PyObject *py_self, PyObject *const *args, Py_ssize_t nargs) {
    auto *self = reinterpret_cast<Dispatcher *>(py_self);
    if (nargs != 2 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "_set_fast_ops(table: dict, lists: bool)");
        return nullptr;
    }
    const int lists = PyObject_IsTrue(args[1]);
    if (lists < 0) return nullptr;
    if (PyDict_GET_SIZE(args[0]) > MAX_OPS) {
        PyErr_SetString(PyExc_ValueError, "too many fast ops");
        return nullptr;
    }
    PyObject *ops = PyDict_New();
    if (ops == nullptr) return nullptr;
    PyObject *numeric = PySet_New(nullptr);
    if (numeric == nullptr) {
        Py_DECREF(ops);
        return nullptr;
    }
    Entry entries[MAX_OPS] = {};
    Py_ssize_t pos = 0, count = 0;
    PyObject *key, *value;
    while (PyDict_Next(args[0], &pos, &key, &value)) {
        int kind;
        unsigned long long whole, piecewise, first_pass = 0;
        double scalar = 0.0;
        if (!PyUnicode_Check(key) ||
            !PyArg_ParseTuple(value, "iKK|dK", &kind, &whole, &piecewise, &scalar, &first_pass)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "op names must be str");
            goto fail;
        }
        {
            const bool text = kind >= TEXT_COUNT && kind <= TEXT_ENDS;
            const bool needs_piecewise = kind == SUM || kind == MEAN || kind == DOT ||
                                         kind == PRODUCT || kind == VARIANCE || kind == STD;
            const bool needs_first_pass = kind == VARIANCE || kind == STD;
            if (kind < SUM || kind > LAST_KIND || (whole == 0) != text ||
                (needs_piecewise && piecewise == 0) || (needs_first_pass && first_pass == 0)) {
                PyErr_Format(PyExc_ValueError, "bad fast-path entry for %R", key);
                goto fail;
            }
        }
        entries[count] = Entry{kind, reinterpret_cast<void *>(static_cast<uintptr_t>(whole)),
                               reinterpret_cast<void *>(static_cast<uintptr_t>(piecewise)),
                               scalar, reinterpret_cast<void *>(static_cast<uintptr_t>(first_pass))};
        {
            PyObject *index = PyLong_FromSsize_t(count);
            if (index == nullptr || PyDict_SetItem(ops, key, index) != 0) {
                Py_XDECREF(index);
                goto fail;
            }
            Py_DECREF(index);
        }
        if (kind <= LAST_NUMERIC && PySet_Add(numeric, key) != 0) goto fail;
        count++;
    }
    {
        PyObject *frozen = PyFrozenSet_New(numeric);
        Py_DECREF(numeric);
        if (frozen == nullptr) {
            Py_DECREF(ops);
            return nullptr;
        }
        std::memcpy(self->entries, entries, sizeof entries);
        self->lists = lists;
        Py_XSETREF(self->ops, ops);
        Py_XSETREF(self->numeric, frozen);
    }
    Py_RETURN_NONE;
fail:
    Py_DECREF(ops);
    Py_DECREF(numeric);
    return nullptr;
}

PyObject *dispatcher_fast_ops(PyObject *py_self, void *) {
    auto *self = reinterpret_cast<Dispatcher *>(py_self);
    if (self->numeric == nullptr) return PyFrozenSet_New(nullptr);
    Py_INCREF(self->numeric);
    return self->numeric;
}

PyObject *dispatcher_native_ops(PyObject *py_self, void *) {
    auto *self = reinterpret_cast<Dispatcher *>(py_self);
    if (self->ops == nullptr) return PyFrozenSet_New(nullptr);
    return PyFrozenSet_New(self->ops);
}

PyObject *dispatcher_reads_lists(PyObject *py_self, void *) {
    return PyBool_FromLong(reinterpret_cast<Dispatcher *>(py_self)->lists);
}

PyMethodDef dispatcher_methods[] = {
    {"_set_fast_ops", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(dispatcher_set_fast_ops)),
     METH_FASTCALL, "Install the kernels of the native fast path."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef dispatcher_getset[] = {
    {"fast_ops", dispatcher_fast_ops, nullptr,
     "Names of the reductions, dot_product and element-wise ops on the native fast path.",
     nullptr},
    {"native_ops", dispatcher_native_ops, nullptr,
     "Names of all ops the native fast path serves (fast_ops and the others).", nullptr},
    {"fast_path_reads_lists", dispatcher_reads_lists, nullptr,
     "Whether lists are read by the fast path (else only buffers are).", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot dispatcher_slots[] = {
    {Py_tp_doc, const_cast<char *>("Base of the native backends: kernels reached without Python.")},
    {Py_tp_new, reinterpret_cast<void *>(PyType_GenericNew)},
    {Py_tp_dealloc, reinterpret_cast<void *>(dispatcher_dealloc)},
    {Py_tp_methods, dispatcher_methods},
    {Py_tp_getset, dispatcher_getset},
    {0, nullptr},
};

PyType_Spec dispatcher_spec = {
    "zixir.engine._listread.Dispatcher",
    sizeof(Dispatcher),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    dispatcher_slots,
};

PyTypeObject *dispatcher_type = nullptr;

// ---- run_with ------------------------------------------------------------------------------

// run_with(backend, name, *args); `self` is the Python fallback with the same signature.
PyObject *run_with(PyObject *fallback, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs >= 2 && PyObject_TypeCheck(args[0], dispatcher_type)) {
        PyObject *result = fast_call(reinterpret_cast<Dispatcher *>(args[0]), args[1], args + 2,
                                     nargs - 2);
        if (result != nullptr || PyErr_Occurred()) return result;
    }
    return PyObject_Vectorcall(fallback, args, static_cast<size_t>(nargs), nullptr);
}

PyMethodDef run_with_def = {
    "run_with", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(run_with)),
    METH_FASTCALL,
    "run_with(backend, name, *args): run engine op `name` with `backend`."};

py::object front_end(py::object fallback) {
    if (!PyCallable_Check(fallback.ptr())) throw py::type_error("fallback must be callable");
    PyObject *function = PyCFunction_NewEx(&run_with_def, fallback.ptr(), nullptr);
    if (function == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(function);
}

// run(name, *args) with the active backend; `state` is (fallback, namespace, key): the active
// backend is namespace[key], read on every call (the Python module global stays the truth).
PyObject *run_active(PyObject *state, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *fallback = PyTuple_GET_ITEM(state, 0);
    if (nargs >= 1) {
        PyObject *active = PyDict_GetItemWithError(PyTuple_GET_ITEM(state, 1),
                                                   PyTuple_GET_ITEM(state, 2));  // borrowed
        if (active != nullptr && PyObject_TypeCheck(active, dispatcher_type)) {
            PyObject *result = fast_call(reinterpret_cast<Dispatcher *>(active), args[0],
                                         args + 1, nargs - 1);
            if (result != nullptr || PyErr_Occurred()) return result;
        } else if (active == nullptr && PyErr_Occurred()) {
            return nullptr;
        }
    }
    return PyObject_Vectorcall(fallback, args, static_cast<size_t>(nargs), nullptr);
}

PyMethodDef run_active_def = {
    "run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(run_active)),
    METH_FASTCALL, "run(name, *args): run engine op `name` with the active backend."};

py::object active_front_end(py::object fallback, py::dict namespace_, py::str key) {
    if (!PyCallable_Check(fallback.ptr())) throw py::type_error("fallback must be callable");
    py::tuple state = py::make_tuple(fallback, namespace_, key);
    PyObject *function = PyCFunction_NewEx(&run_active_def, state.ptr(), nullptr);
    if (function == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(function);
}

}  // namespace

PYBIND11_MODULE(_listread, m) {
    m.doc() = "The engine's native front end: list reading and the fast call path.";
    m.def("read_doubles", &read_doubles, py::arg("numbers"),
          "(bytearray of doubles, -1), or (None, index of the first element not read).");
    m.def("front_end", &front_end, py::arg("fallback"),
          "A run_with(backend, name, *args) that serves Dispatcher backends natively and calls "
          "fallback(backend, name, *args) for everything else.");
    m.def("active_front_end", &active_front_end, py::arg("fallback"), py::arg("namespace"),
          py::arg("key"),
          "A run(name, *args) that serves namespace[key] natively when it is a Dispatcher and "
          "calls fallback(name, *args) for everything else.");
    PyObject *type = PyType_FromSpec(&dispatcher_spec);
    if (type == nullptr) throw py::error_already_set();
    dispatcher_type = reinterpret_cast<PyTypeObject *>(type);
    Py_INCREF(type);  // the module-level pointer keeps one reference
    m.attr("Dispatcher") = py::reinterpret_steal<py::object>(type);
    m.attr("KINDS") = py::dict(
        py::arg("sum") = int(SUM), py::arg("mean") = int(MEAN), py::arg("reduce") = int(REDUCE),
        py::arg("dot") = int(DOT), py::arg("pairwise") = int(PAIRWISE), py::arg("map") = int(MAP),
        py::arg("product") = int(PRODUCT), py::arg("min") = int(MIN), py::arg("max") = int(MAX),
        py::arg("variance") = int(VARIANCE), py::arg("std") = int(STD),
        py::arg("filter") = int(FILTER), py::arg("sort") = int(SORT), py::arg("find") = int(FIND),
        py::arg("count") = int(COUNT), py::arg("mat_mul") = int(MAT_MUL),
        py::arg("transpose") = int(TRANSPOSE), py::arg("text_count") = int(TEXT_COUNT),
        py::arg("text_find") = int(TEXT_FIND), py::arg("text_starts") = int(TEXT_STARTS),
        py::arg("text_ends") = int(TEXT_ENDS));
    m.attr("CHUNK") = CHUNK;
    max_threads.store(std::min(available_cpus(), 64));
    m.def(
        "threads", []() { return max_threads.load(); },
        "Most threads a long sum or dot product of a buffer runs on (default: the CPUs this "
        "process may use). Results do not depend on it.");
    m.def(
        "set_threads",
        [](int count) {
            if (count < 1) throw py::value_error("set_threads needs at least one thread");
            return max_threads.exchange(std::min(count, 64));
        },
        py::arg("count"), "Set threads(); returns the previous value.");
}
