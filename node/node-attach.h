/* Attaching a sealvol export to this node as a block device: either the
 * kernel's NBD client (nbd-client, where /dev/nbd* exists), or
 * sealvol-attach's FUSE file with a loop device on it. */
#ifndef SEALVOL_NODE_ATTACH_H
#define SEALVOL_NODE_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

#include "csi-grpc.h"
#include "node-state.h"

enum attach_mode { ATTACH_AUTO, ATTACH_NBD, ATTACH_FUSE };

struct attach_config {
  enum attach_mode mode;
  int timeout;                  /* seconds I/O waits for a lost server */
  const char *program;          /* sealvol-attach */
};
extern struct attach_config attach_config;

/* Where a volume is and how to authenticate: the secrets directory
 * holds ca-cert.pem, client-cert.pem, client-key.pem (libnbd's layout)
 * or psk. */
struct remote {
  const char *host;
  const char *port;
  const char *export;
  const char *secrets_dir;
  const char *psk_user;         /* NULL: certificates */
  bool readonly;
};

/* TENANT-ID:VOLUME-ID, 32 hex digits each, and a NUL. */
#define VOLUME_IDENTITY_MAX 66

/* Connect once over TLS and read the export's size and the volume's
 * identity, which the server states in the export description
 * (nbdkit-sealvol-plugin(1)).  The libnbd error decides the code: no
 * such export is NOT_FOUND, a failed TLS handshake UNAUTHENTICATED, no
 * answer UNAVAILABLE; a server that states no identity is
 * FAILED_PRECONDITION. */
grpc_status_code attach_probe (const struct remote *r, int64_t *size,
                               char identity[VOLUME_IDENTITY_MAX],
                               struct csi_status *st);

/* Attach and record how in VS (attach, attach_pid, device). */
grpc_status_code attach_volume (struct vol_state *vs, const struct remote *r,
                                int64_t size, struct csi_status *st);

/* Undo attach_volume, as far as it got.  Safe to repeat. */
grpc_status_code detach_volume (struct vol_state *vs, struct csi_status *st);

/* Still attached as VS records (device, FUSE file, process)? */
bool attach_alive (const struct vol_state *vs);

/* After the storage side grew the volume: make the device show the new
 * size, waiting up to a few seconds for at least WANT bytes (0: any
 * change).  The new size goes to *SIZE. */
grpc_status_code attach_refresh_size (struct vol_state *vs, int64_t want,
                                      int64_t *size, struct csi_status *st);

/* A loop device over FILE (a file, or a device for a read-only block
 * publish); its name goes to OUT. */
grpc_status_code loop_attach (const char *file, bool readonly, char *out,
                              size_t len, struct csi_status *st);
grpc_status_code loop_detach (const char *device, struct csi_status *st);

/* Size of a block device in bytes, or -1. */
int64_t device_size (const char *device);

#endif
