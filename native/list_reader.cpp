// zixir.engine._listread: the engine's native front end, shared by the C and Zig backends.
//
// * read_doubles(seq): read a Python list of numbers into a double buffer in one pass (used by
//   every op that is not on the fast path below).
// * Dispatcher: the base type of zixir.engine.native.NativeBackend. A backend hands it the
//   addresses of its own kernels (the C module's or the Zig library's) for the reductions,
//   dot_product and the element-wise ops (vec_*, vec_scale, map_add, map_mul).
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
// across pieces and so return exactly what zx_sum / zx_dot return for the whole run. The other
// reductions read long lists into one heap buffer. The hot paths use the raw C API (METH_FASTCALL,
// vectorcall) because pybind11's generic argument dispatch costs more than a short sum.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>

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

// What an op's fast path does with its kernels (the Python side names these kinds).
enum Kind : int { NONE = 0, SUM = 1, MEAN = 2, REDUCE = 3, DOT = 4, PAIRWISE = 5, MAP = 6 };

using pairwise_fn = void (*)(const double *, const double *, double *, size_t);
using map_fn = void (*)(const double *, double, double *, size_t);

struct Entry {
    int kind;
    void *whole;      // zx_sum, zx_mean, zx_dot, another one-list reduction, zx_vec_*, zx_map_*
    void *piecewise;  // zx_sum_from / zx_dot_from, for lists longer than a chunk
    double scalar;    // MAP: the default of the optional number argument
};

constexpr int MAX_OPS = 32;
constexpr Py_ssize_t CHUNK = 1024;  // doubles converted at a time: 8 KiB, stays in L1
static_assert(CHUNK % 8 == 0, "pieces must keep the kernels' eight lanes aligned");
constexpr Py_ssize_t RELEASE_GIL_FROM = 1 << 16;  // buffers this long are summed without the GIL

struct Dispatcher {
    PyObject_HEAD
    PyObject *ops;  // op name -> index into entries (a dict of small ints)
    int lists;      // whether lists are read here (false: the backend validates them in Python)
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

PyObject *one_list(const Entry &entry, const Source &xs) {
    const Py_ssize_t n = xs.n;
    double result;
    if (!xs.is_list) {  // a buffer, in place
        const double *data = n ? xs.data : nullptr;
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
    if (entry.kind == SUM || entry.kind == MEAN) {
        sum_from_fn step = reinterpret_cast<sum_from_fn>(entry.piecewise);
        double lanes[8] = {0.0};
        double sum = 0.0;
        for (Py_ssize_t offset = 0; offset < n; offset += CHUNK) {
            const Py_ssize_t count = n - offset < CHUNK ? n - offset : CHUNK;
            if (!read_items(xs.items + offset, count, scratch)) return DECLINE;
            sum = step(scratch, static_cast<size_t>(count), lanes);
        }
        // zx_mean is zx_sum / n in both builds
        return PyFloat_FromDouble(entry.kind == MEAN ? sum / static_cast<double>(n) : sum);
    }
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

PyObject *two_lists(const Entry &entry, const Source &xs, const Source &ys) {
    const Py_ssize_t n = xs.n;
    if (ys.n != n) return DECLINE;  // Python reports the length mismatch
    double result;
    if (!xs.is_list && !ys.is_list) {
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

PyObject *fast_call(Dispatcher *self, PyObject *name, PyObject *const *args, Py_ssize_t nargs) {
    if (self->ops == nullptr || !PyUnicode_CheckExact(name)) return DECLINE;
    PyObject *index = PyDict_GetItemWithError(self->ops, name);  // borrowed
    if (index == nullptr) {
        PyErr_Clear();
        return DECLINE;
    }
    const Entry &entry = self->entries[PyLong_AsLong(index)];
    const bool lists = self->lists != 0;
    if (entry.kind == DOT) {
        if (nargs != 2) return DECLINE;
        Source xs, ys;
        if (!open_source(args[0], lists, xs) || !open_source(args[1], lists, ys)) return DECLINE;
        bind_items(xs);
        bind_items(ys);
        return two_lists(entry, xs, ys);
    }
    if (entry.kind == PAIRWISE) {
        if (nargs != 2) return DECLINE;
        Source xs, ys;
        if (!open_source(args[0], lists, xs) || !open_source(args[1], lists, ys)) return DECLINE;
        bind_items(xs);
        bind_items(ys);
        return element_wise(entry, xs, &ys, 0.0);
    }
    if (entry.kind == MAP) {
        double scalar = entry.scalar;
        if (nargs < 1 || nargs > 2 || (nargs == 2 && !read_number(args[1], scalar))) {
            return DECLINE;
        }
        Source xs;
        if (!open_source(args[0], lists, xs)) return DECLINE;
        bind_items(xs);
        return element_wise(entry, xs, nullptr, scalar);
    }
    if (nargs != 1) return DECLINE;
    Source xs;
    if (!open_source(args[0], lists, xs)) return DECLINE;
    bind_items(xs);
    return one_list(entry, xs);
}

// ---- the Dispatcher type --------------------------------------------------------------------

void dispatcher_dealloc(PyObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    Py_CLEAR(reinterpret_cast<Dispatcher *>(self)->ops);
    type->tp_free(self);
    Py_DECREF(type);
}

// _set_fast_ops({name: (kind, kernel address, piecewise kernel address[, default])}, lists)
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
    Entry entries[MAX_OPS] = {};
    Py_ssize_t pos = 0, count = 0;
    PyObject *key, *value;
    while (PyDict_Next(args[0], &pos, &key, &value)) {
        int kind;
        unsigned long long whole, piecewise;
        double scalar = 0.0;
        if (!PyUnicode_Check(key) ||
            !PyArg_ParseTuple(value, "iKK|d", &kind, &whole, &piecewise, &scalar)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "op names must be str");
            Py_DECREF(ops);
            return nullptr;
        }
        const bool needs_piecewise = kind == SUM || kind == MEAN || kind == DOT;
        if (kind < SUM || kind > MAP || whole == 0 || (needs_piecewise && piecewise == 0)) {
            PyErr_Format(PyExc_ValueError, "bad fast-path entry for %R", key);
            Py_DECREF(ops);
            return nullptr;
        }
        entries[count] = Entry{kind, reinterpret_cast<void *>(static_cast<uintptr_t>(whole)),
                               reinterpret_cast<void *>(static_cast<uintptr_t>(piecewise)),
                               scalar};
        PyObject *index = PyLong_FromSsize_t(count);
        if (index == nullptr || PyDict_SetItem(ops, key, index) != 0) {
            Py_XDECREF(index);
            Py_DECREF(ops);
            return nullptr;
        }
        Py_DECREF(index);
        count++;
    }
    std::memcpy(self->entries, entries, sizeof entries);
    self->lists = lists;
    Py_XSETREF(self->ops, ops);
    Py_RETURN_NONE;
}

PyObject *dispatcher_fast_ops(PyObject *py_self, void *) {
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
    {"fast_ops", dispatcher_fast_ops, nullptr, "Names of the ops on the native fast path.",
     nullptr},
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
    m.attr("KINDS") = py::dict(py::arg("sum") = int(SUM), py::arg("mean") = int(MEAN),
                               py::arg("reduce") = int(REDUCE), py::arg("dot") = int(DOT),
                               py::arg("pairwise") = int(PAIRWISE), py::arg("map") = int(MAP));
    m.attr("CHUNK") = CHUNK;
}
