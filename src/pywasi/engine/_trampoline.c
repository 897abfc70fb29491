/* The C end of pywasi's host calls on wasmtime: an optional accelerator for `wasmtime_engine`.
 *
 * wasmtime calls `trampoline` for every import defined with
 * `wasmtime_linker_define_func_unchecked`, with a `HostCall` object as its environment. The
 * trampoline turns the raw 16-byte argument values into Python ints, calls the system call's
 * implementation with exact positional arguments (vectorcall, no tuple), and stores the i32
 * result: the same steps as the generated Python host call in `wasmtime_engine`, without
 * libffi, ctypes' argument conversion or a `struct` unpack. Everything else (errno mapping,
 * traps) stays in Python, in the `failed` callable each HostCall carries.
 *
 * If this file cannot be compiled, pywasi runs the pure-Python path, which behaves the same.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_ARITY 16
#define RAW_VALUE_SIZE 16 /* sizeof(wasmtime_val_raw_t) */

typedef struct {
    PyObject_HEAD
    PyObject *target;  /* a SystemCall (its `implementation` is read per call) or a callable */
    PyObject *context; /* the first argument of an implementation; NULL for a plain callable */
    PyObject *failed;  /* failed(exception, raw_address) -> trap address or 0 */
    PyObject *movable; /* list of memories to `relocate()` before each call */
    /* wasmtime_trap_new, for the one case Python cannot make the trap: `failed` raising. */
    void *(*trap_new)(const char *message, size_t length);
    int returns;       /* store an i32 result in the first raw value */
    Py_ssize_t arity;
    char kinds[MAX_ARITY]; /* per parameter: 'I' u32, 'Q' u64 or 'q' s64 (`struct` codes) */
} HostCall;

static PyObject *implementation_name;
static PyObject *relocate_name;

/* Returns 0, or -1 with an exception set. */
static int
store_result(HostCall *self, PyObject *result, unsigned char *values)
{
    if (!self->returns) {
        return 0;
    }
    uint32_t value;
    if (PyLong_CheckExact(result)) {
        unsigned long wide = PyLong_AsUnsignedLong(result);
        if (wide == (unsigned long)-1 && PyErr_Occurred()) {
            return -1;
        }
        if (wide > UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "host call result does not fit an i32");
            return -1;
        }
        value = (uint32_t)wide;
    }
    else {
        /* A plain callable may return anything int() accepts, as on the Python path. */
        PyObject *number = PyNumber_Long(result);
        if (number == NULL) {
            return -1;
        }
        int status = store_result(self, number, values);
        Py_DECREF(number);
        return status;
    }
    memcpy(values, &value, sizeof value);
    return 0;
}

static int
relocate_memories(PyObject *movable)
{
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(movable); index++) {
        PyObject *done = PyObject_CallMethodNoArgs(PyList_GET_ITEM(movable, index),
                                                   relocate_name);
        if (done == NULL) {
            return -1;
        }
        Py_DECREF(done);
    }
    return 0;
}

/* The signature of wasmtime_func_unchecked_callback_t. */
static void *
trampoline(void *env, void *caller, unsigned char *values, size_t count)
{
    (void)caller;
    (void)count;
    HostCall *self = (HostCall *)env;
    void *trap = NULL;
    PyGILState_STATE gil = PyGILState_Ensure();

    PyObject *stack[MAX_ARITY + 2]; /* stack[0] is free for PY_VECTORCALL_ARGUMENTS_OFFSET */
    PyObject **args = stack + 1;
    Py_ssize_t nargs = 0, first_int = 0;
    PyObject *callee = NULL, *result = NULL;

    if (PyList_GET_SIZE(self->movable) && relocate_memories(self->movable) < 0) {
        goto failed;
    }
    if (self->context != NULL) {
        callee = PyObject_GetAttr(self->target, implementation_name);
        if (callee == NULL) {
            goto failed;
        }
        args[nargs++] = self->context;
    }
    else {
        callee = Py_NewRef(self->target);
    }
    first_int = nargs;
    for (Py_ssize_t index = 0; index < self->arity; index++) {
        uint64_t raw;
        memcpy(&raw, values + index * RAW_VALUE_SIZE, sizeof raw);
        char kind = self->kinds[index];
        PyObject *value = kind == 'q' ? PyLong_FromLongLong((int64_t)raw)
                                      : PyLong_FromUnsignedLongLong(kind == 'I' ? (uint32_t)raw
                                                                                : raw);
        if (value == NULL) {
            goto release;
        }
        args[nargs++] = value;
    }
    result = PyObject_Vectorcall(callee, args, (size_t)nargs | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                 NULL);
release:
    for (Py_ssize_t index = first_int; index < nargs; index++) {
        Py_DECREF(args[index]);
    }
    Py_DECREF(callee);
    if (result != NULL) {
        int status = store_result(self, result, values);
        Py_DECREF(result);
        if (status == 0) {
            PyGILState_Release(gil);
            return NULL;
        }
    }

failed:;
    /* Hand the exception to Python: it stores an errno (and we return no trap) or makes one. */
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    PyObject *answer = PyObject_CallFunction(self->failed, "OK", value,
                                             (unsigned long long)(uintptr_t)values);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    if (answer != NULL) {
        trap = PyLong_AsVoidPtr(answer);
        Py_DECREF(answer);
    }
    if (answer == NULL || PyErr_Occurred()) {
        /* Only if `failed` itself broke (a second Ctrl-C, say): report it and trap. */
        static const char message[] = "pywasi: a host call failed and so did its handler";
        PyErr_WriteUnraisable(self->failed);
        trap = self->trap_new(message, sizeof message - 1);
    }
    PyGILState_Release(gil);
    return trap;
}

/* The signature of wasmtime's finalizer: wasmtime drops its reference to a HostCall. */
static void
release(void *env)
{
#if PY_VERSION_HEX >= 0x030D0000
    if (Py_IsFinalizing()) {
#else
    if (_Py_IsFinalizing()) {
#endif
        return; /* too late to run Python code; the process is going away anyway */
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    Py_DECREF((PyObject *)env);
    PyGILState_Release(gil);
}

static int
HostCall_init(HostCall *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"target", "context", "kinds", "returns", "failed", "movable",
                               "trap_new", NULL};
    PyObject *target, *context, *failed, *movable, *trap_new;
    const char *kinds;
    Py_ssize_t arity;
    int returns;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOs#pOO!O!:HostCall", keywords, &target,
                                     &context, &kinds, &arity, &returns, &failed, &PyList_Type,
                                     &movable, &PyLong_Type, &trap_new)) {
        return -1;
    }
    void *trap_new_address = PyLong_AsVoidPtr(trap_new);
    if (trap_new_address == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "trap_new: the address of wasmtime_trap_new");
        }
        return -1;
    }
    if (arity > MAX_ARITY || strspn(kinds, "IQq") != (size_t)arity) {
        PyErr_SetString(PyExc_ValueError, "kinds: at most 16 of 'I', 'Q' and 'q'");
        return -1;
    }
    Py_XSETREF(self->target, Py_NewRef(target));
    Py_XSETREF(self->context, context == Py_None ? NULL : Py_NewRef(context));
    Py_XSETREF(self->failed, Py_NewRef(failed));
    Py_XSETREF(self->movable, Py_NewRef(movable));
    self->trap_new = (void *(*)(const char *, size_t))trap_new_address;
    self->returns = returns;
    self->arity = arity;
    memcpy(self->kinds, kinds, (size_t)arity);
    return 0;
}

static int
HostCall_traverse(HostCall *self, visitproc visit, void *arg)
{
    Py_VISIT(self->target);
    Py_VISIT(self->context);
    Py_VISIT(self->failed);
    Py_VISIT(self->movable);
    return 0;
}

static int
HostCall_clear(HostCall *self)
{
    Py_CLEAR(self->target);
    Py_CLEAR(self->context);
    Py_CLEAR(self->failed);
    Py_CLEAR(self->movable);
    return 0;
}

static void
HostCall_dealloc(HostCall *self)
{
    PyObject_GC_UnTrack(self);
    HostCall_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
HostCall_lend(HostCall *self, PyObject *unused)
{
    (void)unused;
    PyObject *address = PyLong_FromVoidPtr(self);
    if (address != NULL) {
        Py_INCREF(self); /* wasmtime's reference, dropped by FINALIZER */
    }
    return address;
}

static PyMethodDef HostCall_methods[] = {
    {"lend", (PyCFunction)HostCall_lend, METH_NOARGS,
     "This object's address, as the callback's environment, with a reference that wasmtime "
     "owns from now on and gives back through FINALIZER."},
    {NULL},
};

static PyTypeObject HostCall_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pywasi.engine._trampoline.HostCall",
    .tp_basicsize = sizeof(HostCall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One host function as wasmtime's unchecked callback sees it.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)HostCall_init,
    .tp_traverse = (traverseproc)HostCall_traverse,
    .tp_clear = (inquiry)HostCall_clear,
    .tp_dealloc = (destructor)HostCall_dealloc,
    .tp_methods = HostCall_methods,
};

static struct PyModuleDef trampoline_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pywasi.engine._trampoline",
    .m_doc = "wasmtime's unchecked host-call callback, in C.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__trampoline(void)
{
    if (PyType_Ready(&HostCall_Type) < 0) {
        return NULL;
    }
    implementation_name = PyUnicode_InternFromString("implementation");
    relocate_name = PyUnicode_InternFromString("relocate");
    if (implementation_name == NULL || relocate_name == NULL) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&trampoline_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "HostCall", (PyObject *)&HostCall_Type) < 0
        || PyModule_AddObject(module, "CALLBACK", PyLong_FromVoidPtr((void *)trampoline)) < 0
        || PyModule_AddObject(module, "FINALIZER", PyLong_FromVoidPtr((void *)release)) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
