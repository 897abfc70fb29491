;; poll_oneoff under the snapshot-0 ABI: 56-byte subscriptions whose clock body starts with
;; an `identifier`. Every identifier is 0x0000000700000007, so a host reading the preview1
;; layout would see clock id 7 and answer EINVAL. The output (224 bytes) is, at offsets from 0:
;;   0 errno,   4 nevents,   8..72 events (64 bytes, 0xaa before)
;;       poll 1: clock MONOTONIC +10 s (userdata 0x1111), fd_write on stdout (userdata 0x2222)
;;  72 errno,  76 nevents,  80 t0, 88 t1 (MONOTONIC around the call), 96..128 events
;;       poll 2: clock MONOTONIC, absolute t0 + 20 ms (userdata 0x3333)
;; 128 errno, 132 nevents, 136 t2, 144 t3 (MONOTONIC around the call), 152..216 events
;;       poll 3: clock MONOTONIC +1 s (0x4444), clock REALTIME absolute now + 15 ms (0x5555)
;; 216 errno, 220 nevents (0xaa before)
;;       poll 4: no subscriptions
(module
  (import "wasi_unstable" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_unstable" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\00\04\00\00\e0\00\00\00")  ;; ciovec for the output: 1024, 224 bytes
  (data (i32.const 1032) "\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa")
  (data (i32.const 1120) "\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa")
  (data (i32.const 1176) "\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa")
  (data (i32.const 1244) "\aa\aa\aa\aa")

  ;; subscription (56 bytes): userdata @0, tag @8, body @16;
  ;; subscription_clock: identifier @0, id @8, timeout @16, precision @24, flags @32.
  (func $clock_sub (param $at i32) (param $userdata i64) (param $clock i32) (param $timeout i64)
                   (param $flags i32)
    (i64.store (local.get $at) (local.get $userdata))
    (i32.store8 offset=8 (local.get $at) (i32.const 0))
    (i64.store offset=16 (local.get $at) (i64.const 0x0000000700000007))
    (i32.store offset=24 (local.get $at) (local.get $clock))
    (i64.store offset=32 (local.get $at) (local.get $timeout))
    (i64.store offset=40 (local.get $at) (i64.const 0))
    (i32.store16 offset=48 (local.get $at) (local.get $flags)))

  (func $now (param $clock i32) (param $out i32)
    (drop (call $clock_time_get (local.get $clock) (i64.const 1) (local.get $out))))

  (func (export "_start")
    ;; poll 1 at 512: the fd_write subscription is the second, 56 bytes in.
    (call $clock_sub (i32.const 512) (i64.const 0x1111) (i32.const 1) (i64.const 10000000000)
                     (i32.const 0))
    (i64.store (i32.const 568) (i64.const 0x2222))
    (i32.store8 (i32.const 576) (i32.const 2))
    (i32.store (i32.const 584) (i32.const 1))
    (i32.store (i32.const 1024)
      (call $poll_oneoff (i32.const 512) (i32.const 1032) (i32.const 2) (i32.const 1028)))

    ;; poll 2 at 640
    (call $now (i32.const 1) (i32.const 1104))
    (call $clock_sub (i32.const 640) (i64.const 0x3333) (i32.const 1)
                     (i64.add (i64.load (i32.const 1104)) (i64.const 20000000)) (i32.const 1))
    (i32.store (i32.const 1096)
      (call $poll_oneoff (i32.const 640) (i32.const 1120) (i32.const 1) (i32.const 1100)))
    (call $now (i32.const 1) (i32.const 1112))

    ;; poll 3 at 704, with REALTIME's reading at 900
    (call $now (i32.const 1) (i32.const 1160))
    (call $now (i32.const 0) (i32.const 900))
    (call $clock_sub (i32.const 704) (i64.const 0x4444) (i32.const 1) (i64.const 1000000000)
                     (i32.const 0))
    (call $clock_sub (i32.const 760) (i64.const 0x5555) (i32.const 0)
                     (i64.add (i64.load (i32.const 900)) (i64.const 15000000)) (i32.const 1))
    (i32.store (i32.const 1152)
      (call $poll_oneoff (i32.const 704) (i32.const 1176) (i32.const 2) (i32.const 1156)))
    (call $now (i32.const 1) (i32.const 1168))

    ;; poll 4
    (i32.store (i32.const 1240)
      (call $poll_oneoff (i32.const 704) (i32.const 1176) (i32.const 0) (i32.const 1244)))

    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
