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

`adopt(list)` serves the same purpose for values being created: a list display, comprehension,
slice or concatenation produces a plain Python list, and the Zixir list made from it used to be a
second copy. When the argument's reference count shows that only the caller's argument slot
holds it (`fresh`, measured in zixir/lang/values.py), nobody can ever see it as a plain list, so
its type is switched to the Zixir list type in place (the layouts are checked to be identical at
configuration); otherwise it is copied.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *list_type = NULL;
static PyObject *append_fn = NULL;
static PyObject *put_fn = NULL;
static Py_ssize_t expected = -1;
static PyTypeObject *adopt_type = NULL;
static Py_ssize_t fresh = -1;

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

/* configure_adopt(zlist_type, fresh): the count a list held only by the argument slot has;
   refused (adopt always copies) unless the Zixir list type is a list subclass laid out exactly
   like `list`, with no instance dict or weak references to initialise. */
static PyObject *configure_adopt(PyObject *self, PyObject *args) {
    PyObject *t;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On", &t, &n)) return NULL;
    if (!PyType_Check(t)) {
        PyErr_SetString(PyExc_TypeError, "configure_adopt expects a type");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)t;
    int compatible = tp->tp_base == &PyList_Type && (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) &&
                     tp->tp_basicsize == PyList_Type.tp_basicsize &&
                     tp->tp_itemsize == PyList_Type.tp_itemsize && tp->tp_dictoffset == 0 &&
                     tp->tp_weaklistoffset == 0;
#ifdef Py_TPFLAGS_MANAGED_DICT
    compatible = compatible && !(tp->tp_flags & Py_TPFLAGS_MANAGED_DICT);
#endif
#ifdef Py_TPFLAGS_MANAGED_WEAKREF
    compatible = compatible && !(tp->tp_flags & Py_TPFLAGS_MANAGED_WEAKREF);
#endif
#ifdef Py_GIL_DISABLED
    compatible = 0; /* reference counts are not a proof of ownership without the GIL */
#endif
    Py_XSETREF(adopt_type, (PyTypeObject *)Py_NewRef(t));
    fresh = compatible ? n : -1;
    return PyBool_FromLong(compatible);
}

/* share_list_subscript(zlist_type) -> bool: indexing a Zixir list as fast as a list.

`list` defines `__getitem__` as a method as well as a slot, so a subclass that does not override
it gets CPython's generic slot wrapper, which looks the method up and calls it on every `xs[i]`
(about 5x a list's own indexing). The Zixir list type never overrides it, so its subscript slots
are pointed back at list's own functions: the same code `xs[i]` ends up in either way. Refused
(False) unless the type is a heap subclass of list whose `__getitem__` is list's. Assigning
`__getitem__` on the type later recomputes the slots as usual. */
static PyObject *share_list_subscript(PyObject *self, PyObject *t) {
    if (!PyType_Check(t)) {
        PyErr_SetString(PyExc_TypeError, "share_list_subscript expects a type");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)t;
    if (tp->tp_base != &PyList_Type || !(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) ||
        tp->tp_as_mapping == NULL || tp->tp_as_sequence == NULL)
        Py_RETURN_FALSE;
    PyObject *own = PyObject_GetAttrString(t, "__getitem__");
    if (own == NULL) return NULL;
    PyObject *lists = PyObject_GetAttrString((PyObject *)&PyList_Type, "__getitem__");
    if (lists == NULL) {
        Py_DECREF(own);
        return NULL;
    }
    int same = own == lists;
    Py_DECREF(own);
    Py_DECREF(lists);
    if (!same) Py_RETURN_FALSE;
    tp->tp_as_mapping->mp_subscript = PyList_Type.tp_as_mapping->mp_subscript;
    tp->tp_as_sequence->sq_item = PyList_Type.tp_as_sequence->sq_item;
    PyType_Modified(tp);
    Py_RETURN_TRUE;
}

/* refs1(value): the reference count of a single argument. */
static PyObject *refs1(PyObject *self, PyObject *value) {
    return PyLong_FromSsize_t(Py_REFCNT(value));
}

/* adopt(xs) -> a Zixir list with xs's elements: xs itself when nothing else can hold it. */
static PyObject *adopt(PyObject *self, PyObject *xs) {
    if (adopt_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "adopt is not configured");
        return NULL;
    }
    if (fresh > 0 && PyList_CheckExact(xs) && Py_REFCNT(xs) == fresh) {
        Py_INCREF(adopt_type); /* instances of a heap type hold a reference to it */
        Py_SET_TYPE(xs, adopt_type);
        return Py_NewRef(xs);
    }
    if (!PyList_Check(xs)) return PyObject_CallOneArg((PyObject *)adopt_type, xs);
    PyObject *copy = PyList_GetSlice(xs, 0, PyList_GET_SIZE(xs));
    if (copy == NULL) return NULL;
    Py_INCREF(adopt_type);
    Py_SET_TYPE(copy, adopt_type);
    return copy;
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
    {"configure_adopt", configure_adopt, METH_VARARGS, "configure_adopt(zlist_type, fresh)"},
    {"share_list_subscript", share_list_subscript, METH_O,
     "share_list_subscript(zlist_type) -> bool"},
    {"refs1", refs1, METH_O, "refs1(value)"},
    {"adopt", adopt, METH_O, "adopt(xs) -> Zixir list"},
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
