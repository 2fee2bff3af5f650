/* zixir.lang._owned: in-place `append`/`put` on values nobody else can see.

Zixir lists and maps are immutable values: `append(xs, x)` and `put(m, k, v)` return new ones.
The compiler turns `xs = append(xs, x)` into `append_owned(append, xs, x, xs)` (and `put` the
same way); these functions mutate the collection in place only when

  - the callee is the built-in `append` (or `put`): the name was not rebound;
  - the collection is exactly a Zixir list (a plain dict with a string key for `put`);
  - the collection was not rebound while the element was computed (`xs` is `again`);
  - its reference count is exactly `expected`: the variable's own reference plus the two
    argument slots on the caller's stack. Any other holder (an alias, a closure's copy, a list or
    map containing it, a `for` loop's iterator, the caller of a function that received it, the
    embedding program) adds a reference, and the call falls back to the copying built-in.

The test and the mutation happen in one C call under the GIL, so no other thread can take a
reference in between. `expected` is measured once at import (zixir/lang/owned.py) with the same
call shape; until then it is -1 and every call copies.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *list_type = NULL;
static PyObject *append_fn = NULL;
static PyObject *put_fn = NULL;
static Py_ssize_t expected = -1;

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *lt, *af, *pf;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "OOOn", &lt, &af, &pf, &n)) return NULL;
    Py_XSETREF(list_type, Py_NewRef(lt));
    Py_XSETREF(append_fn, Py_NewRef(af));
    Py_XSETREF(put_fn, Py_NewRef(pf));
    expected = n;
    Py_RETURN_NONE;
}

/* refs(fn, value, x, again): the reference count `value` has inside this call shape. */
static PyObject *refs(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "refs expects 4 arguments");
        return NULL;
    }
    return PyLong_FromSsize_t(Py_REFCNT(args[1]));
}

/* append_owned(fn, xs, x, again) -> fn(xs, x), in place when xs is provably unshared. */
static PyObject *append_owned(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "append_owned expects 4 arguments");
        return NULL;
    }
    PyObject *fn = args[0], *xs = args[1], *x = args[2];
    if (expected > 0 && fn == append_fn && xs == args[3] &&
        (PyObject *)Py_TYPE(xs) == list_type && Py_REFCNT(xs) == expected) {
        if (PyList_Append(xs, x) < 0) return NULL;
        return Py_NewRef(xs);
    }
    return PyObject_Vectorcall(fn, args + 1, 2, NULL);
}

/* put_owned(fn, m, k, v, again) -> fn(m, k, v), in place when m is provably unshared. */
static PyObject *put_owned(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "put_owned expects 5 arguments");
        return NULL;
    }
    PyObject *fn = args[0], *m = args[1], *k = args[2], *v = args[3];
    if (expected > 0 && fn == put_fn && m == args[4] && PyDict_CheckExact(m) &&
        PyUnicode_CheckExact(k) && Py_REFCNT(m) == expected) {
        if (PyDict_SetItem(m, k, v) < 0) return NULL;
        return Py_NewRef(m);
    }
    return PyObject_Vectorcall(fn, args + 1, 3, NULL);
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS, "configure(list_type, append, put, expected)"},
    {"refs", (PyCFunction)(void (*)(void))refs, METH_FASTCALL, "refs(fn, value, x, again)"},
    {"append_owned", (PyCFunction)(void (*)(void))append_owned, METH_FASTCALL,
     "append_owned(fn, xs, x, again)"},
    {"put_owned", (PyCFunction)(void (*)(void))put_owned, METH_FASTCALL,
     "put_owned(fn, m, k, v, again)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_owned", "In-place append/put on unshared Zixir values.", -1, methods,
};

PyMODINIT_FUNC PyInit__owned(void) { return PyModule_Create(&module); }
