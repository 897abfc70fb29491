;; Seek and stat a file under the snapshot-0 ABI and dump every result byte to stdout.
;; Preopen fd 3 holds data.txt. The output (232 bytes) is, at offsets from 0:
;;   0 path_open errno, 4 fd
;;   8 errno / 16 newoffset   fd_seek(+5, whence 2 = SET)
;;  24 errno / 32 newoffset   fd_seek(+3, whence 0 = CUR)
;;  40 errno / 48 newoffset   fd_seek(-2, whence 1 = END)
;;  56 errno of fd_seek with whence 3 (no such whence)
;;  60 fd_read errno, 64 nread, 68 the byte read
;;  72 fd_filestat_get errno,   80..152 its buffer (72 bytes, 0xaa before the call)
;; 152 path_filestat_get errno, 160..232 its buffer (72 bytes, 0xaa before the call)
(module
  (import "wasi_unstable" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_unstable" "path_filestat_get"
    (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\00\01\00\00\e8\00\00\00")  ;; ciovec for the output: 256, 232 bytes
  (data (i32.const 16) "\44\01\00\00\01\00\00\00") ;; iovec for the read: 324, 1 byte
  (data (i32.const 100) "data.txt")
  (data (i32.const 336) "\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa")
  (data (i32.const 416) "\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa\aa")
  (func (export "_start")
    (local $fd i32)
    ;; rights: fd_read | fd_seek | fd_tell | fd_filestat_get
    (i32.store (i32.const 256)
      (call $path_open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 8) (i32.const 0)
                       (i64.const 0x200026) (i64.const 0) (i32.const 0) (i32.const 260)))
    (local.set $fd (i32.load (i32.const 260)))
    (i32.store (i32.const 264) (call $fd_seek (local.get $fd) (i64.const 5) (i32.const 2) (i32.const 272)))
    (i32.store (i32.const 280) (call $fd_seek (local.get $fd) (i64.const 3) (i32.const 0) (i32.const 288)))
    (i32.store (i32.const 296) (call $fd_seek (local.get $fd) (i64.const -2) (i32.const 1) (i32.const 304)))
    (i32.store (i32.const 312) (call $fd_seek (local.get $fd) (i64.const 0) (i32.const 3) (i32.const 24)))
    (i32.store (i32.const 316) (call $fd_read (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 320)))
    (i32.store (i32.const 328) (call $fd_filestat_get (local.get $fd) (i32.const 336)))
    (i32.store (i32.const 408)
      (call $path_filestat_get (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 8) (i32.const 416)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
