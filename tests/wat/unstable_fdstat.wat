;; fd_fdstat_get on fd 3 under the snapshot-0 ABI; writes errno (4 bytes) + fdstat (24 bytes).
(module
  (import "wasi_unstable" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_unstable" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\1c\00\00\00\1c\00\00\00")  ;; ciovec for the output: 28, 28 bytes
  (func (export "_start")
    (i32.store (i32.const 28) (call $fd_fdstat_get (i32.const 3) (i32.const 32)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
