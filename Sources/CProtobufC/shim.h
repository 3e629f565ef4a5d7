// protobuf-c runtime, as Debian's libprotobuf-c-dev installs it.
#ifndef CALIBRATE_CPROTOBUFC_SHIM_H
#define CALIBRATE_CPROTOBUFC_SHIM_H
#include <protobuf-c/protobuf-c.h>
#endif
