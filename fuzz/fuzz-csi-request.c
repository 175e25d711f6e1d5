/* Fuzz target: CSI requests (node/csi-request.c over protobuf-c).
 *
 * Why: every byte of a CSI request comes from the kubelet's socket, and
 * the checked strings go on into URIs, paths and command lines.  The
 * first input byte picks the request type; the rest is the message as
 * it would arrive.  Properties, beyond "no crash, no leak":
 *   - a request that does not unpack is refused before any check;
 *   - an accepted capability is exactly one of block or mount, with
 *     fs_type ext4 or xfs, and a supported access mode;
 *   - accepted server, volume and PSK user names hold only their fixed
 *     character sets, so nothing can be smuggled into a URI;
 *   - an accepted path comes out clean (absolute, no ".", "..", "//" or
 *     trailing slash), whatever the input spelled;
 *   - a refusal carries a code and a message, and no message ever
 *     contains a secret's value.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi-request.h"
#include "fuzz-common.h"

static bool
only_chars (const char *s, const char *extra)
{
  static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

  for (; *s; s++)
    if (strchr (alnum, *s) == NULL && strchr (extra, *s) == NULL)
      return false;
  return true;
}

static void
check_refusal (const struct csi_status *st, size_t n_secrets, void *secrets)
{
  FUZZ_CHECK (st->code != GRPC_STATUS_OK && st->message[0] != '\0');
  for (const char *const *k = (const char *const[]) { "ca-cert", "client-cert",
                                                      "client-key", "psk", NULL };
       *k; k++) {
    const char *v = map_get (n_secrets, secrets, *k);
    if (v && strlen (v) >= 8)
      FUZZ_CHECK (strstr (st->message, v) == NULL);
  }
}

static void
check_capability (const Csi__V1__VolumeCapability *c, size_t n_secrets, void *secrets)
{
  struct csi_status st = { GRPC_STATUS_OK, "" };
  struct capability cap;

  if (parse_capability (c, &cap, &st) != GRPC_STATUS_OK) {
    check_refusal (&st, n_secrets, secrets);
    return;
  }
  FUZZ_CHECK (c != NULL && c->access_mode != NULL);
  FUZZ_CHECK (cap.block == (c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK));
  FUZZ_CHECK (cap.block || c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT);
  if (!cap.block)
    FUZZ_CHECK (strcmp (cap.fs_type, "ext4") == 0 || strcmp (cap.fs_type, "xfs") == 0);
  FUZZ_CHECK (memchr (cap.fingerprint, '\0', sizeof cap.fingerprint) != NULL);
  FUZZ_CHECK (c->access_mode->mode >= 1 && c->access_mode->mode <= 7
              && c->access_mode->mode != 4 && c->access_mode->mode != 5);
}

static void
check_stage (const Csi__V1__NodeStageVolumeRequest *req)
{
  struct csi_status st = { GRPC_STATUS_OK, "" };
  struct remote_strings strings;
  char path[256];
  struct remote r;

  check_capability (req->volume_capability, req->n_secrets, req->secrets);
  if (require_path (req->staging_target_path, "staging_target_path", path, sizeof path,
                    &st) != GRPC_STATUS_OK)
    check_refusal (&st, req->n_secrets, req->secrets);
  else                          /* clean: absolute, no ., .., // or trailing / */
    FUZZ_CHECK (path[0] == '/' && strstr (path, "//") == NULL
                && strstr (path, "/./") == NULL && strstr (path, "/../") == NULL
                && path[strlen (path) - 1] != '/');
  st.code = GRPC_STATUS_OK;
  if (parse_remote (req, &r, &strings, &st) != GRPC_STATUS_OK) {
    check_refusal (&st, req->n_secrets, req->secrets);
    return;
  }
  FUZZ_CHECK (only_chars (r.host, ".-") && r.host[0] != '\0');
  FUZZ_CHECK (only_chars (r.port, "") && r.port[0] != '\0');
  FUZZ_CHECK (only_chars (r.export, "._-") && r.export[0] != '\0');
  FUZZ_CHECK (r.psk_user == NULL || only_chars (r.psk_user, "._-"));
  FUZZ_CHECK (r.psk_user || map_get (req->n_secrets, req->secrets, "ca-cert"));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  ProtobufCMessage *m;

  if (size < 1)
    return 0;
  switch (data[0] % 3) {
  case 0:
    m = protobuf_c_message_unpack (&csi__v1__node_stage_volume_request__descriptor,
                                   NULL, size - 1, data + 1);
    if (m)
      check_stage ((const void *) m);
    break;
  case 1:
    m = protobuf_c_message_unpack (&csi__v1__node_publish_volume_request__descriptor,
                                   NULL, size - 1, data + 1);
    if (m) {
      const Csi__V1__NodePublishVolumeRequest *p = (const void *) m;
      check_capability (p->volume_capability, p->n_secrets, p->secrets);
    }
    break;
  default:
    m = protobuf_c_message_unpack (&csi__v1__node_expand_volume_request__descriptor,
                                   NULL, size - 1, data + 1);
    if (m) {
      const Csi__V1__NodeExpandVolumeRequest *e = (const void *) m;
      if (e->volume_capability)
        check_capability (e->volume_capability, e->n_secrets, e->secrets);
    }
    break;
  }
  if (m)
    protobuf_c_message_free_unpacked (m, NULL);
  return 0;
}
