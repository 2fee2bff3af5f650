/* zixir.lang._fastpath: the hottest built-ins and loop helper without a Python frame.

Compiled Zixir code calls `len`, `get`, `slice`, `concat` and the loop helper `iterate` in
nearly every loop and recursion, and `sqrt`/`abs` in nearly every numeric loop; as Python functions each call costs a frame, which is most of
what they do. These C versions answer the common argument types (Zixir lists, strings, maps,
string keys, integer bounds) themselves and hand every other call, unchanged, to the Python
built-in they stand for (configured at import by zixir/lang/fastpath.py), so results, errors
and their wording stay exactly the built-ins'.

New lists (slices, concatenations) are built as plain lists and re-typed to the Zixir list type
before anyone can see them, as `adopt` does (native/owned_update.c); fastpath.py checks the
layouts match before it turns the module on.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static PyTypeObject *zlist = NULL; /* the Zixir list type (a list subclass) */
static PyTypeObject *zrange = NULL;
static PyObject *fallback_len = NULL, *fallback_get = NULL, *fallback_slice = NULL,
                *fallback_concat = NULL, *fallback_iterate = NULL, *fallback_sqrt = NULL,
                *fallback_abs = NULL;

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *zl, *zr, *l, *g, *s, *c, *it, *sq, *ab;
    if (!PyArg_ParseTuple(args, "O!O!OOOOOOO", &PyType_Type, &zl, &PyType_Type, &zr, &l, &g, &s,
                          &c, &it, &sq, &ab))
        return NULL;
    Py_XSETREF(zlist, (PyTypeObject *)Py_NewRef(zl));
    Py_XSETREF(zrange, (PyTypeObject *)Py_NewRef(zr));
    Py_XSETREF(fallback_len, Py_NewRef(l));
    Py_XSETREF(fallback_get, Py_NewRef(g));
    Py_XSETREF(fallback_slice, Py_NewRef(s));
    Py_XSETREF(fallback_concat, Py_NewRef(c));
    Py_XSETREF(fallback_iterate, Py_NewRef(it));
    Py_XSETREF(fallback_sqrt, Py_NewRef(sq));
    Py_XSETREF(fallback_abs, Py_NewRef(ab));
    Py_RETURN_NONE;
}

static int is_list(PyObject *x) {
    PyTypeObject *t = Py_TYPE(x);
    return t == zlist || t == &PyList_Type;
}

/* A plain list nobody else has seen becomes a Zixir list. */
static PyObject *as_zixir_list(PyObject *plain) {
    if (plain == NULL) return NULL;
    Py_INCREF(zlist);
    Py_SET_TYPE(plain, zlist);
    return plain;
}

static int arity(const char *name, Py_ssize_t nargs, Py_ssize_t low, Py_ssize_t high) {
    if (nargs >= low && nargs <= high) return 1;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", name, low, high,
                 nargs);
    return 0;
}

/* len(x) */
static PyObject *fast_len(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (!arity("len", nargs, 1, 1)) return NULL;
    PyObject *x = args[0];
    PyTypeObject *t = Py_TYPE(x);
    if (t == zlist || t == &PyList_Type) return PyLong_FromSsize_t(PyList_GET_SIZE(x));
    if (t == &PyUnicode_Type) return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(x));
    if (t == &PyDict_Type) return PyLong_FromSsize_t(PyDict_GET_SIZE(x));
    return PyObject_Vectorcall(fallback_len, args, nargs, NULL);
}

/* get(coll, key, default?) on a map with a string key */
static PyObject *fast_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (!arity("get", nargs, 2, 3)) return NULL;
    if (Py_TYPE(args[0]) == &PyDict_Type && PyUnicode_CheckExact(args[1])) {
        PyObject *value = PyDict_GetItemWithError(args[0], args[1]); /* borrowed */
        if (value != NULL) return Py_NewRef(value);
        if (PyErr_Occurred()) return NULL;
        return Py_NewRef(nargs == 3 ? args[2] : Py_None);
    }
    return PyObject_Vectorcall(fallback_get, args, nargs, NULL);
}

/* slice(xs, start, stop?) of a list with integer bounds: Python's slicing rules, as the
   built-in applies them */
static PyObject *fast_slice(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (!arity("slice", nargs, 2, 3)) return NULL;
    PyObject *stop = nargs == 3 ? args[2] : Py_None;
    if (is_list(args[0]) && PyLong_CheckExact(args[1]) &&
        (stop == Py_None || PyLong_CheckExact(stop))) {
        PyObject *bounds = PySlice_New(args[1], stop, NULL);
        if (bounds == NULL) return NULL;
        /* list's own subscript: a new plain list, even for a subclass */
        PyObject *part = PyList_Type.tp_as_mapping->mp_subscript(args[0], bounds);
        Py_DECREF(bounds);
        return as_zixir_list(part);
    }
    return PyObject_Vectorcall(fallback_slice, args, nargs, NULL);
}

/* concat(a, b) of two lists */
static PyObject *fast_concat(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (!arity("concat", nargs, 2, 2)) return NULL;
    if (is_list(args[0]) && is_list(args[1])) {
        return as_zixir_list(PyList_Type.tp_as_sequence->sq_concat(args[0], args[1]));
    }
    if (PyUnicode_CheckExact(args[0]) && PyUnicode_CheckExact(args[1])) {
        return PyUnicode_Concat(args[0], args[1]);
    }
    return PyObject_Vectorcall(fallback_concat, args, nargs, NULL);
}

/* sqrt(x) of a float or an int that is not negative (NaN and infinity included: C's sqrt
   gives what math.sqrt gives); negative numbers, huge ints and everything else take the
   built-in, which raises the Zixir error */
static PyObject *fast_sqrt(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (!arity("sqrt", nargs, 1, 1)) return NULL;
    PyObject *x = args[0];
    double v;
    if (PyFloat_CheckExact(x)) {
        v = PyFloat_AS_DOUBLE(x);
    } else if (PyLong_CheckExact(x)) {
        int overflow;
        long small = PyLong_AsLongAndOverflow(x, &overflow);
        if (overflow || small < 0 || small > (1L << 52))
            return PyObject_Vectorcall(fallback_sqrt, args, nargs, NULL);
        v = (double)small;
    } else {
        return PyObject_Vectorcall(fallback_sqrt, args, nargs, NULL);
    }
    if (v < 0.0) return PyObject_Vectorcall(fallback_sqrt, args, nargs, NULL);
    return PyFloat_FromDouble(sqrt(v));
}

/* abs(x) of a float or an int (bools and everything else take the built-in) */
static PyObject *fast_abs(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (!arity("abs", nargs, 1, 1)) return NULL;
    PyObject *x = args[0];
    if (PyFloat_CheckExact(x)) return PyFloat_FromDouble(fabs(PyFloat_AS_DOUBLE(x)));
    if (PyLong_CheckExact(x)) return PyNumber_Absolute(x);
    return PyObject_Vectorcall(fallback_abs, args, nargs, NULL);
}

/* iterate(value): what a `for` loop or comprehension walks (lists as they are) */
static PyObject *fast_iterate(PyObject *self, PyObject *value) {
    if (is_list(value)) return Py_NewRef(value);
    return PyObject_CallOneArg(fallback_iterate, value);
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(zlist, zrange, len, get, slice, concat, iterate, sqrt, abs): types and "
     "fallbacks"},
    {"len", (PyCFunction)(void (*)(void))fast_len, METH_FASTCALL, "len(x)"},
    {"get", (PyCFunction)(void (*)(void))fast_get, METH_FASTCALL, "get(coll, key, default?)"},
    {"slice", (PyCFunction)(void (*)(void))fast_slice, METH_FASTCALL, "slice(xs, start, stop?)"},
    {"concat", (PyCFunction)(void (*)(void))fast_concat, METH_FASTCALL, "concat(a, b)"},
    {"iterate", fast_iterate, METH_O, "iterate(value)"},
    {"sqrt", (PyCFunction)(void (*)(void))fast_sqrt, METH_FASTCALL, "sqrt(x)"},
    {"abs", (PyCFunction)(void (*)(void))fast_abs, METH_FASTCALL, "abs(x)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastpath", "Hot Zixir built-ins without a Python frame.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__fastpath(void) { return PyModule_Create(&module); }
