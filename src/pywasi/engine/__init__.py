"""Engine bindings: everything that knows about a particular WebAssembly engine."""
