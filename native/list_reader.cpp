// zixir.engine._listread: read a Python list of numbers into a double buffer in one pass.
//
// Validating a list in Python costs a type check per element (set(map(type, xs))) and
// converting it another pass (array('d', xs)); here both happen in one C loop over the list's
// item array with no Python call per element. The reader only says where it stopped: the
// caller words errors and accepts rarer number types (numpy integers, Fractions) in Python.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace {

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

}  // namespace

PYBIND11_MODULE(_listread, m) {
    m.doc() = "Read a list of Zixir numbers into a double buffer in one pass.";
    m.def("read_doubles", &read_doubles, py::arg("numbers"),
          "(bytearray of doubles, -1), or (None, index of the first element not read).");
}
