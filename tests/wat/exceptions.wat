;; Uses the exception-handling proposal (as recent toolchains emit): exits with the thrown 5.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (tag $boom (param i32))
  (func $thrower (throw $boom (i32.const 5)))
  (func (export "_start")
    (block $caught (result i32)
      (try_table (catch $boom $caught) (call $thrower))
      (i32.const 0))
    (call $exit)))
