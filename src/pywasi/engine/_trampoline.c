/* The C end of pywasi's host calls on wasmtime: an optional accelerator for `wasmtime_engine`.
 *
 * wasmtime calls `trampoline` for every import defined with
 * `wasmtime_linker_define_func_unchecked`, with a `HostCall` object as its environment. The
 * trampoline turns the raw 16-byte argument values into Python ints and floats, calls the system
 * call's implementation (or an embedder's host function) with exact positional arguments
 * (vectorcall, no tuple), and stores the result: the same steps as the generated Python host call in `wasmtime_engine`, without
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
    PyObject *bind;    /* bind(caller_address) before the first call, then dropped; or NULL */
    /* A bytearray whose first byte the host sets to ask the guest to stop, and the callable
     * that then raises why (or clears the byte): checked on entry to every call, so a guest
     * compiled without epoch checks still stops at its next host call. Or NULL. */
    PyObject *stop_flag;
    PyObject *check_stop;
    /* wasmtime_trap_new, for the one case Python cannot make the trap: `failed` raising. */
    void *(*trap_new)(const char *message, size_t length);
    char result;       /* 0 (none), 'I' u32 (an errno) or, for embedders' functions, 'i' i32,
                          'q' i64, 'f' f32, 'd' f64: stored in the first raw value */
    Py_ssize_t arity;
    /* per parameter, `struct` codes: 'I' u32, 'Q' u64, 'q' s64, 'i' s32, 'f' f32, 'd' f64 */
    char kinds[MAX_ARITY];
} HostCall;

static PyObject *implementation_name;
static PyObject *relocate_name;

/* An int result as a 64-bit pattern: any value of the signed or unsigned reading of `bits`
 * bits. Returns 0, or -1 with an exception set. */
static int
integer_bits(PyObject *result, int bits, uint64_t *out)
{
    PyObject *number = PyLong_CheckExact(result) ? Py_NewRef(result) : PyNumber_Long(result);
    if (number == NULL) {
        return -1;
    }
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(number, &overflow);
    if (overflow > 0) {
        unsigned long long wide = PyLong_AsUnsignedLongLong(number);
        if (wide == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_DECREF(number);
            return -1;
        }
        value = (long long)wide;
    }
    Py_DECREF(number);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow < 0 || (bits == 32 && (overflow > 0 || value < INT32_MIN || value > (long long)UINT32_MAX))) {
        PyErr_Format(PyExc_OverflowError, "host function result does not fit an i%d", bits);
        return -1;
    }
    *out = (uint64_t)value;
    return 0;
}

/* Returns 0, or -1 with an exception set. */
static int
store_result(HostCall *self, PyObject *result, unsigned char *values)
{
    char kind = self->result;
    if (kind == 0) {
        return 0;
    }
    if (kind == 'f' || kind == 'd') {
        double number = PyFloat_AsDouble(result);
        if (number == -1.0 && PyErr_Occurred()) {
            return -1;
        }
        if (kind == 'f') {
            float narrow = (float)number;
            memcpy(values, &narrow, sizeof narrow);
        }
        else {
            memcpy(values, &number, sizeof number);
        }
        return 0;
    }
    if (kind == 'I' && PyLong_CheckExact(result)) { /* the system calls' errno: the hot case */
        unsigned long wide = PyLong_AsUnsignedLong(result);
        if (wide == (unsigned long)-1 && PyErr_Occurred()) {
            return -1;
        }
        if (wide > UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "host call result does not fit an i32");
            return -1;
        }
        uint32_t value = (uint32_t)wide;
        memcpy(values, &value, sizeof value);
        return 0;
    }
    uint64_t bits;
    if (integer_bits(result, kind == 'q' ? 64 : 32, &bits) < 0) {
        return -1;
    }
    if (kind == 'q') {
        memcpy(values, &bits, sizeof bits);
    }
    else {
        uint32_t value = (uint32_t)bits;
        memcpy(values, &value, sizeof value);
    }
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
    (void)count;
    HostCall *self = (HostCall *)env;
    void *trap = NULL;
    PyGILState_STATE gil = PyGILState_Ensure();

    PyObject *stack[MAX_ARITY + 2]; /* stack[0] is free for PY_VECTORCALL_ARGUMENTS_OFFSET */
    PyObject **args = stack + 1;
    Py_ssize_t nargs = 0, first_int = 0;
    PyObject *callee = NULL, *result = NULL;

    if (self->bind != NULL) {
        PyObject *bound = PyObject_CallFunction(self->bind, "K",
                                                (unsigned long long)(uintptr_t)caller);
        if (bound == NULL) {
            goto failed;
        }
        Py_DECREF(bound);
        Py_CLEAR(self->bind);
    }
    if (self->stop_flag != NULL && PyByteArray_AS_STRING(self->stop_flag)[0]) {
        PyObject *carry_on = PyObject_CallNoArgs(self->check_stop);
        if (carry_on == NULL) {
            goto failed;
        }
        Py_DECREF(carry_on);
    }
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
        PyObject *value;
        switch (self->kinds[index]) {
        case 'I':
            value = PyLong_FromUnsignedLong((uint32_t)raw);
            break;
        case 'i':
            value = PyLong_FromLong((int32_t)(uint32_t)raw);
            break;
        case 'q':
            value = PyLong_FromLongLong((int64_t)raw);
            break;
        case 'f': {
            float narrow;
            memcpy(&narrow, &raw, sizeof narrow);
            value = PyFloat_FromDouble(narrow);
            break;
        }
        case 'd': {
            double wide;
            memcpy(&wide, &raw, sizeof wide);
            value = PyFloat_FromDouble(wide);
            break;
        }
        default:
            value = PyLong_FromUnsignedLongLong(raw);
        }
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
    static char *keywords[] = {"target", "context", "kinds", "result", "failed", "movable",
                               "trap_new", "bind", "stop_flag", "check_stop", NULL};
    PyObject *target, *context, *failed, *movable, *trap_new, *bind = Py_None;
    PyObject *stop_flag = Py_None, *check_stop = Py_None;
    const char *kinds, *result;
    Py_ssize_t arity, result_length;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOs#s#OO!O!|OOO:HostCall", keywords,
                                     &target, &context, &kinds, &arity, &result, &result_length,
                                     &failed, &PyList_Type, &movable, &PyLong_Type, &trap_new,
                                     &bind, &stop_flag, &check_stop)) {
        return -1;
    }
    if ((stop_flag == Py_None) != (check_stop == Py_None)
        || (stop_flag != Py_None && (!PyByteArray_CheckExact(stop_flag)
                                     || PyByteArray_GET_SIZE(stop_flag) < 1))) {
        PyErr_SetString(PyExc_ValueError,
                        "stop_flag (a non-empty bytearray) and check_stop go together");
        return -1;
    }
    if (result_length > 1 || strspn(result, "Iiqfd") != (size_t)result_length) {
        PyErr_SetString(PyExc_ValueError, "result: '' or one of 'I', 'i', 'q', 'f' and 'd'");
        return -1;
    }
    void *trap_new_address = PyLong_AsVoidPtr(trap_new);
    if (trap_new_address == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "trap_new: the address of wasmtime_trap_new");
        }
        return -1;
    }
    if (arity > MAX_ARITY || strspn(kinds, "IQqifd") != (size_t)arity) {
        PyErr_SetString(PyExc_ValueError, "kinds: at most 16 of 'I', 'Q', 'q', 'i', 'f', 'd'");
        return -1;
    }
    Py_XSETREF(self->target, Py_NewRef(target));
    Py_XSETREF(self->context, context == Py_None ? NULL : Py_NewRef(context));
    Py_XSETREF(self->failed, Py_NewRef(failed));
    Py_XSETREF(self->movable, Py_NewRef(movable));
    Py_XSETREF(self->bind, bind == Py_None ? NULL : Py_NewRef(bind));
    Py_XSETREF(self->stop_flag, stop_flag == Py_None ? NULL : Py_NewRef(stop_flag));
    Py_XSETREF(self->check_stop, check_stop == Py_None ? NULL : Py_NewRef(check_stop));
    self->trap_new = (void *(*)(const char *, size_t))trap_new_address;
    self->result = result_length ? result[0] : 0;
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
    Py_VISIT(self->bind);
    Py_VISIT(self->stop_flag);
    Py_VISIT(self->check_stop);
    return 0;
}

static int
HostCall_clear(HostCall *self)
{
    Py_CLEAR(self->target);
    Py_CLEAR(self->context);
    Py_CLEAR(self->failed);
    Py_CLEAR(self->movable);
    Py_CLEAR(self->bind);
    Py_CLEAR(self->stop_flag);
    Py_CLEAR(self->check_stop);
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
