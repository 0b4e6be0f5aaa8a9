/*
 * wtcp_tap: attach a Linux TAP device and move raw Ethernet frames between it and JavaScript.
 *
 * Plain C over Node-API (node_api.h) and libuv (uv.h), both shipped with Node's headers.
 *
 * Receive path: the fd is non-blocking and watched by a uv_poll handle on Node's own event loop (no
 * threadpool, no thread hop). When it becomes readable the addon read()s frames until EAGAIN, or until
 * the batch is full, straight into a caller-supplied Uint8Array (it may be a view into WebAssembly
 * memory), records [offset, length] pairs in a caller-supplied Uint32Array, and then calls the JS
 * callback ONCE for the whole batch: callback(count, error). uv_poll is level-triggered, so a batch cut
 * short by its cap is continued on the next loop iteration, after other I/O got its turn.
 *
 * JS API (all synchronous; `h` is the opaque handle returned by open):
 *   open(name: string, exclusive: boolean) -> { handle, name, fd }
 *       Opens /dev/net/tun (O_NONBLOCK | O_CLOEXEC) and attaches `name` with TUNSETIFF
 *       (IFF_TAP | IFF_NO_PI [| IFF_TUN_EXCL]); the device is created if absent. `name` may be a
 *       kernel template such as "wtcp%d"; the returned name is the real one.
 *   setRxBuffer(h, data: Uint8Array, meta: Uint32Array, maxFrame: number) -> undefined
 *       Frames are read into `data`, each read offering `maxFrame` bytes, at offsets aligned to 8.
 *       meta[2i] = offset of frame i in `data`, meta[2i+1] = its length. The batch holds at most
 *       meta.length / 2 frames. The views are re-checked before every batch: if they became detached
 *       (e.g. after WebAssembly memory.grow), polling stops and the callback gets an error with code
 *       "ERR_TAP_RX_BUFFER"; supply new views and call start again.
 *   start(h, callback: (count: number, error?: Error) => void) -> undefined
 *       Starts (or restarts) polling; replaces the callback. While polling, the handle keeps the
 *       event loop alive. On a read error the frames read so far are delivered with the error and
 *       polling stops.
 *   stop(h) -> undefined                     stops polling (the fd stays open)
 *   write(h, frame: Uint8Array) -> number    bytes written, or -errno (e.g. -EAGAIN): never blocks
 *   close(h) -> undefined                    stops polling, closes the fd (a non-persistent device the
 *                                            kernel created for us disappears with it); idempotent
 *   stats(h) -> { rxTruncated, rxBatches, rxFrames }
 *
 * Errors thrown by open carry `code` = the errno name (ENOENT, EPERM, EACCES, EBUSY, EINVAL, ...).
 */
#define NAPI_VERSION 8
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#ifndef IFF_TUN_EXCL
#define IFF_TUN_EXCL 0x8000
#endif

#define TAP_MAGIC 0x77746170u /* "wtap" */

typedef struct tap_s {
  uint32_t magic;
  napi_env env;
  int fd;
  char name[IFNAMSIZ];

  uv_poll_t poll;
  int poll_inited;  /* uv_poll_init done, uv_close not yet completed */
  int polling;      /* uv_poll_start active */
  int js_alive;     /* the JS external has not been finalized */

  napi_ref cb;      /* strong reference to the batch callback, or NULL */
  napi_ref data;    /* Uint8Array receive area */
  napi_ref meta;    /* Uint32Array [offset, length] pairs */
  uint32_t max_frame;
  int32_t record_iface; /* >= 0: lay frames out as the core's input records for this interface */
  napi_async_context actx;

  napi_async_cleanup_hook_handle cleanup;
  int tearing_down; /* the async cleanup hook ran: on_poll_closed removes it */

  double rx_frames, rx_batches, rx_truncated;
} tap_t;

/* ------------------------------------------------------------------------------------------------ */
/* helpers                                                                                          */

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EBADFD: return "EBADFD";
    case ENOBUFS: return "ENOBUFS";
    case ENETDOWN: return "ENETDOWN";
    case EMSGSIZE: return "EMSGSIZE";
    default: {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
      const char *n = strerrorname_np(e);
      if (n) return n;
#endif
      return "EUNKNOWN";
    }
  }
}

/* Creates an Error with message and code (no exception is thrown). */
static napi_value make_error(napi_env env, const char *code, const char *msg) {
  napi_value m, c, err;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &err);
  return err;
}

static napi_value throw_errno(napi_env env, int e, const char *msg) {
  napi_value err = make_error(env, errno_name(e), msg);
  napi_value no;
  napi_create_int32(env, e, &no);
  napi_set_named_property(env, err, "errno", no);
  napi_throw(env, err);
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static tap_t *get_tap(napi_env env, napi_value v) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, v, &p) != napi_ok || p == NULL ||
      ((tap_t *)p)->magic != TAP_MAGIC) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "TAP: expected a handle returned by open()");
    return NULL;
  }
  return (tap_t *)p;
}

static void maybe_free(tap_t *t) {
  if (!t->js_alive && !t->poll_inited) {
    t->magic = 0;
    free(t);
  }
}

static void on_poll_closed(uv_handle_t *h) {
  tap_t *t = (tap_t *)h->data;
  t->poll_inited = 0;
  if (t->cleanup) {
    /* teardown path (async cleanup hook): tell Node we are done */
    napi_async_cleanup_hook_handle c = t->cleanup;
    t->cleanup = NULL;
    napi_remove_async_cleanup_hook(c);
  }
  maybe_free(t);
}

static void delete_ref(napi_env env, napi_ref *r) {
  if (*r) {
    napi_delete_reference(env, *r);
    *r = NULL;
  }
}

/* Stops polling and closes the fd. `teardown` = the environment is going away: no JS, no refs. */
static void do_close(tap_t *t, int teardown) {
  if (t->poll_inited) {
    if (t->polling) uv_poll_stop(&t->poll);
    t->polling = 0;
    if (!uv_is_closing((uv_handle_t *)&t->poll)) uv_close((uv_handle_t *)&t->poll, on_poll_closed);
  }
  if (t->fd >= 0) {
    close(t->fd);
    t->fd = -1;
  }
  if (!teardown) {
    napi_env env = t->env;
    delete_ref(env, &t->cb);
    delete_ref(env, &t->data);
    delete_ref(env, &t->meta);
    if (t->actx) {
      napi_async_destroy(env, t->actx);
      t->actx = NULL;
    }
    if (t->cleanup && !t->tearing_down) {
      napi_async_cleanup_hook_handle c = t->cleanup;
      t->cleanup = NULL;
      napi_remove_async_cleanup_hook(c);
    }
  }
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  tap_t *t = (tap_t *)arg;
  t->cleanup = handle;
  t->tearing_down = 1;
  if (t->poll_inited) {
    do_close(t, 1); /* on_poll_closed removes the hook */
  } else {
    do_close(t, 1);
    t->cleanup = NULL;
    napi_remove_async_cleanup_hook(handle);
  }
}

static void on_finalize(napi_env env, void *data, void *hint) {
  tap_t *t = (tap_t *)data;
  if (t->fd >= 0 || t->poll_inited) do_close(t, 0);
  else {
    delete_ref(env, &t->data);
    delete_ref(env, &t->meta);
  }
  t->js_alive = 0;
  maybe_free(t);
}

/* ------------------------------------------------------------------------------------------------ */
/* receive                                                                                          */

/* Resolves the receive views. Returns 0 if they are missing, detached or too small. */
static int rx_views(tap_t *t, uint8_t **data, size_t *dlen, uint32_t **meta, size_t *mlen) {
  napi_env env = t->env;
  napi_value dv, mv, ab;
  napi_typedarray_type ty;
  size_t off;
  void *p;
  if (!t->data || !t->meta) return 0;
  if (napi_get_reference_value(env, t->data, &dv) != napi_ok || dv == NULL) return 0;
  if (napi_get_reference_value(env, t->meta, &mv) != napi_ok || mv == NULL) return 0;
  if (napi_get_typedarray_info(env, dv, &ty, dlen, &p, &ab, &off) != napi_ok) return 0;
  *data = (uint8_t *)p;
  if (napi_get_typedarray_info(env, mv, &ty, mlen, &p, &ab, &off) != napi_ok) return 0;
  *meta = (uint32_t *)p;
  if (*data == NULL || *meta == NULL || *dlen < t->max_frame || *mlen < 2) return 0;
  return 1;
}

static void call_js(tap_t *t, uint32_t n, napi_value err) {
  napi_env env = t->env;
  napi_value cb, recv, argv[2], result;
  if (!t->cb || napi_get_reference_value(env, t->cb, &cb) != napi_ok || cb == NULL) return;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  napi_create_uint32(env, n, &argv[0]);
  argv[1] = err ? err : undefined(env);
  napi_status s = napi_make_callback(env, t->actx, recv, cb, 2, argv, &result);
  if (s == napi_pending_exception) {
    napi_value ex;
    if (napi_get_and_clear_last_exception(env, &ex) == napi_ok) napi_fatal_exception(env, ex);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  tap_t *t = (tap_t *)h->data;
  if (t->fd < 0 || !t->polling) return;
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  uint32_t n = 0;
  napi_value err = NULL;
  char msg[160];
  if (status == UV_EBADF) { /* libuv's report of EPOLLERR: the tun driver detached the fd */
    snprintf(msg, sizeof msg,
             "TAP: %s is gone (deleted, or its network namespace was removed): receiving stopped",
             t->name);
    err = make_error(env, "EBADFD", msg);
  } else if (status < 0) {
    snprintf(msg, sizeof msg, "TAP: polling %s failed: %s", t->name, uv_strerror(status));
    err = make_error(env, uv_err_name(status), msg);
  } else {
    uint8_t *data;
    uint32_t *meta;
    size_t dlen, mlen;
    if (!rx_views(t, &data, &dlen, &meta, &mlen)) {
      snprintf(msg, sizeof msg,
               "TAP: the receive buffer of %s is missing, detached or smaller than one frame: "
               "supply new views with setRxBuffer and start again", t->name);
      err = make_error(env, "ERR_TAP_RX_BUFFER", msg);
    } else {
      size_t cap = mlen / 2, off = 0, mf = t->max_frame;
      size_t hdr = t->record_iface >= 0 ? 4 : 0;
      while (n < cap && dlen - off >= mf + hdr) {
        ssize_t r = read(t->fd, data + off + hdr, mf);
        if (r < 0) {
          int e = errno;
          if (e == EINTR) continue;
          if (e == EAGAIN || e == EWOULDBLOCK) break;
          snprintf(msg, sizeof msg, "TAP: reading %s failed: %s", t->name, strerror(e));
          err = make_error(env, errno_name(e), msg);
          break;
        }
        if (r == 0) break;
        if ((size_t)r > mf) { /* the kernel returns the full length of a frame it truncated */
          t->rx_truncated++;
          continue;
        }
        meta[2 * n] = (uint32_t)(off + hdr);
        meta[2 * n + 1] = (uint32_t)r;
        n++;
        if (hdr) {
          /* an input record: little-endian, as WebAssembly reads it */
          data[off] = (uint8_t)(r & 0xff);
          data[off + 1] = (uint8_t)((r >> 8) & 0xff);
          data[off + 2] = (uint8_t)(t->record_iface & 0xff);
          data[off + 3] = (uint8_t)((t->record_iface >> 8) & 0xff);
          off += (hdr + (size_t)r + 3) & ~(size_t)3;
        } else {
          off += ((size_t)r + 7) & ~(size_t)7;
        }
      }
    }
  }
  if (err) {
    uv_poll_stop(&t->poll);
    t->polling = 0;
  }
  if (n > 0 || err) {
    t->rx_frames += n;
    if (n > 0) t->rx_batches++;
    call_js(t, n, err);
  }
  napi_close_handle_scope(env, scope);
}

/* ------------------------------------------------------------------------------------------------ */
/* JS functions                                                                                     */

#define ARGS(n)                                                                   \
  size_t argc = (n);                                                              \
  napi_value argv[(n) > 0 ? (n) : 1];                                             \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL; \
  if (argc < (n)) {                                                               \
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "TAP: missing arguments");     \
    return NULL;                                                                  \
  }

static napi_value js_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "TAP: the device name must be a string");
    return NULL;
  }
  bool exclusive = false;
  napi_get_value_bool(env, argv[1], &exclusive);

  char *name = malloc(len + 1);
  if (!name) return throw_errno(env, ENOMEM, "TAP: out of memory");
  napi_get_value_string_utf8(env, argv[0], name, len + 1, &len);
  char msg[320];

  /* Validate as the kernel would (dev_valid_name), so that the error is clear. */
  const char *bad = NULL;
  if (len >= IFNAMSIZ) bad = "longer than 15 bytes (IFNAMSIZ is 16 with the NUL)";
  else if (strlen(name) != len) bad = "contains a NUL character";
  else if (!strcmp(name, ".") || !strcmp(name, "..")) bad = "'.' and '..' are reserved";
  else if (strpbrk(name, "/: \t\n\r\v\f")) bad = "contains '/', ':' or whitespace";
  if (bad) {
    snprintf(msg, sizeof msg, "TAP: invalid device name \"%.64s%s\": %s", name, len > 64 ? "..." : "",
             bad);
    free(name);
    return throw_errno(env, EINVAL, msg);
  }

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT)
      snprintf(msg, sizeof msg,
               "TAP: /dev/net/tun not found: this needs Linux with the tun module (modprobe tun)");
    else if (e == ENODEV || e == ENXIO)
      snprintf(msg, sizeof msg,
               "TAP: /dev/net/tun exists but the tun driver is missing: load the tun module "
               "(modprobe tun)");
    else if (e == EPERM || e == EACCES)
      snprintf(msg, sizeof msg,
               "TAP: permission denied opening /dev/net/tun: run as root or grant CAP_NET_ADMIN");
    else
      snprintf(msg, sizeof msg, "TAP: cannot open /dev/net/tun: %s", strerror(e));
    free(name);
    return throw_errno(env, e, msg);
  }

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (exclusive ? IFF_TUN_EXCL : 0);
  memcpy(ifr.ifr_name, name, len); /* len < IFNAMSIZ: stays NUL-terminated */
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    const char *shown = len ? name : "a TAP device";
    if (e == EPERM || e == EACCES)
      snprintf(msg, sizeof msg,
               "TAP: permission denied opening %s: run as root or grant CAP_NET_ADMIN", shown);
    else if (e == EBUSY && exclusive)
      snprintf(msg, sizeof msg, "TAP: %s already exists and an exclusive open was asked for", shown);
    else if (e == EBUSY)
      snprintf(msg, sizeof msg, "TAP: %s is busy: another process has it attached", shown);
    else if (e == EINVAL)
      snprintf(msg, sizeof msg,
               "TAP: cannot attach %s: the name is invalid, or a device of that name exists and "
               "is not a single-queue TAP device", shown);
    else
      snprintf(msg, sizeof msg, "TAP: cannot attach %s: %s", shown, strerror(e));
    close(fd);
    free(name);
    return throw_errno(env, e, msg);
  }
  free(name);

  tap_t *t = calloc(1, sizeof *t);
  if (!t) {
    close(fd);
    return throw_errno(env, ENOMEM, "TAP: out of memory");
  }
  t->magic = TAP_MAGIC;
  t->env = env;
  t->fd = fd;
  t->js_alive = 1;
  t->max_frame = 1518;
  t->record_iface = -1;
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;

  napi_value handle, res, v;
  if (napi_create_external(env, t, on_finalize, NULL, &handle) != napi_ok) {
    close(fd);
    free(t);
    return NULL;
  }
  napi_add_async_cleanup_hook(env, on_env_cleanup, t, &t->cleanup);

  napi_value resname;
  napi_create_string_utf8(env, "wtcp:TapLink", NAPI_AUTO_LENGTH, &resname);
  napi_async_init(env, NULL, resname, &t->actx);

  napi_create_object(env, &res);
  napi_set_named_property(env, res, "handle", handle);
  napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, res, "name", v);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, res, "fd", v);
  return res;
}

static napi_value js_set_rx_buffer(napi_env env, napi_callback_info info) {
  /* (handle, data, meta, maxFrame[, recordIface]): with recordIface (0..65535) every frame is read
   * 4 bytes after a [u16 length LE][u16 interface LE] header, records 4-aligned one after the other:
   * the layout of the WebAssembly core's input area, so a batch read into its memory is input as is. */
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 4) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "TAP: missing arguments");
    return NULL;
  }
  int32_t record_iface = -1;
  if (argc >= 5) {
    napi_valuetype vt;
    napi_typeof(env, argv[4], &vt);
    if (vt != napi_undefined) {
      if (napi_get_value_int32(env, argv[4], &record_iface) != napi_ok || record_iface < 0 || record_iface > 65535) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "TAP: recordIface must be an integer 0..65535");
        return NULL;
      }
    }
  }
  tap_t *t = get_tap(env, argv[0]);
  if (!t) return NULL;
  napi_typedarray_type dt, mt;
  size_t dlen, mlen, off;
  void *p;
  napi_value ab;
  uint32_t max_frame = 0;
  if (napi_get_typedarray_info(env, argv[1], &dt, &dlen, &p, &ab, &off) != napi_ok ||
      dt != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "TAP: the receive buffer must be a Uint8Array");
    return NULL;
  }
  if (napi_get_typedarray_info(env, argv[2], &mt, &mlen, &p, &ab, &off) != napi_ok ||
      mt != napi_uint32_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "TAP: the frame table must be a Uint32Array");
    return NULL;
  }
  if (napi_get_value_uint32(env, argv[3], &max_frame) != napi_ok || max_frame < 60 ||
      max_frame > 0x7fffffff) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "TAP: maxFrame must be an integer >= 60");
    return NULL;
  }
  if (dlen < max_frame || mlen < 2) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "TAP: the receive buffer must hold one maxFrame and the frame table one "
                           "[offset, length] pair");
    return NULL;
  }
  delete_ref(env, &t->data);
  delete_ref(env, &t->meta);
  napi_create_reference(env, argv[1], 1, &t->data);
  napi_create_reference(env, argv[2], 1, &t->meta);
  t->max_frame = max_frame;
  t->record_iface = record_iface;
  return undefined(env);
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  ARGS(2);
  tap_t *t = get_tap(env, argv[0]);
  if (!t) return NULL;
  napi_valuetype vt;
  napi_typeof(env, argv[1], &vt);
  if (vt != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "TAP: the callback must be a function");
    return NULL;
  }
  if (t->fd < 0) return throw_errno(env, EBADF, "TAP: the link is closed");
  delete_ref(env, &t->cb);
  napi_create_reference(env, argv[1], 1, &t->cb);
  if (!t->poll_inited) {
    uv_loop_t *loop;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
    int r = uv_poll_init(loop, &t->poll, t->fd);
    if (r < 0) return throw_errno(env, -r, "TAP: uv_poll_init failed");
    t->poll.data = t;
    t->poll_inited = 1;
  }
  if (!t->polling) {
    int r = uv_poll_start(&t->poll, UV_READABLE, on_poll);
    if (r < 0) return throw_errno(env, -r, "TAP: uv_poll_start failed");
    t->polling = 1;
  }
  return undefined(env);
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
  ARGS(1);
  tap_t *t = get_tap(env, argv[0]);
  if (!t) return NULL;
  if (t->polling) {
    uv_poll_stop(&t->poll);
    t->polling = 0;
  }
  return undefined(env);
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  tap_t *t = get_tap(env, argv[0]);
  if (!t) return NULL;
  napi_typedarray_type ty;
  size_t len, off;
  void *p;
  napi_value ab, ret;
  if (napi_get_typedarray_info(env, argv[1], &ty, &len, &p, &ab, &off) != napi_ok ||
      ty != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "TAP: a frame must be a Uint8Array");
    return NULL;
  }
  ssize_t r;
  if (t->fd < 0) {
    r = -EBADF;
  } else {
    do r = write(t->fd, p, len);
    while (r < 0 && errno == EINTR);
    if (r < 0) r = -errno;
  }
  napi_create_int32(env, (int32_t)r, &ret);
  return ret;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  tap_t *t = get_tap(env, argv[0]);
  if (!t) return NULL;
  do_close(t, 0);
  return undefined(env);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  ARGS(1);
  tap_t *t = get_tap(env, argv[0]);
  if (!t) return NULL;
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_double(env, t->rx_truncated, &v);
  napi_set_named_property(env, o, "rxTruncated", v);
  napi_create_double(env, t->rx_batches, &v);
  napi_set_named_property(env, o, "rxBatches", v);
  napi_create_double(env, t->rx_frames, &v);
  napi_set_named_property(env, o, "rxFrames", v);
  return o;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setRxBuffer", NULL, js_set_rx_buffer, NULL, NULL, NULL, napi_enumerable, NULL},
    {"start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL},
    {"stop", NULL, js_stop, NULL, NULL, NULL, napi_enumerable, NULL},
    {"write", NULL, js_write, NULL, NULL, NULL, napi_enumerable, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
    {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
