// libzmq, as Debian's libzmq3-dev installs it. Linked directly rather than through pkg-config:
// Debian's libzmq.pc pulls krb5/pgm flags that SwiftPM rejects (see docs/ARCHITECTURE.md).
#ifndef CALIBRATE_CZMQ_SHIM_H
#define CALIBRATE_CZMQ_SHIM_H
#include <zmq.h>
#include <errno.h>

/// errno of the calling thread (a macro in C, so not visible to Swift directly).
static inline int czmq_errno(void) { return zmq_errno(); }
#endif
