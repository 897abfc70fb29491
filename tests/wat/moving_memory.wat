;; Between system calls, grows its memory by 2 MiB (so that on an engine whose memories may
;; move, the base really moves), then reads 5 bytes of stdin into low memory and writes what
;; it read to stdout: 8 rounds. Traps if a call fails or reports a wrong count. `grow` grows
;; it by 2 MiB more, for a host that calls back into the guest.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec at 0 for reading {256, 5}; count read at 8; iovec at 16 for writing; written at 24.
  (data (i32.const 0) "\00\01\00\00\05\00\00\00")
  (func (export "grow") (drop (memory.grow (i32.const 32))))
  (func (export "_start")
    (local $round i32)
    (loop $rounds
      (if (i32.eq (memory.grow (i32.const 32)) (i32.const -1)) (then unreachable))
      (i32.store (i32.const 8) (i32.const 0))
      (if (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
      (if (i32.ne (i32.load (i32.const 8)) (i32.const 5)) (then unreachable))
      (i32.store (i32.const 16) (i32.const 256))
      (i32.store (i32.const 20) (i32.load (i32.const 8)))
      (i32.store (i32.const 24) (i32.const 0))
      (if (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))
        (then unreachable))
      (if (i32.ne (i32.load (i32.const 24)) (i32.const 5)) (then unreachable))
      (br_if $rounds (i32.lt_u (local.tee $round (i32.add (local.get $round) (i32.const 1)))
                               (i32.const 8))))))
