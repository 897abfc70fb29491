;; Imports sock_accept, which snapshot 0 does not have: linking must fail.
(module
  (import "wasi_unstable" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")))
