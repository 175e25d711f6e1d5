/* What the node plugin remembers about a staged volume.
 *
 * Each staged volume has a private directory under the state directory
 * (mode 0700), named by a hash of its volume id: state.json, the
 * secrets/ the attach program reads, the FUSE file and the attach log.
 * The state survives a restart of the plugin, so Unstage and Unpublish
 * still undo what an earlier process did.
 */
#ifndef SEALVOL_NODE_STATE_H
#define SEALVOL_NODE_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#define MAX_PUBLICATIONS 16
#define STATE_DIR_MAX 400       /* the longest state directory accepted */
#define STATE_PATH_MAX (STATE_DIR_MAX + 128)  /* a file in a volume's directory */

struct publication {
  char *target;
  char *capability;             /* fingerprint, see node_capability */
  bool readonly;
  char *ro_device;              /* block access: a read-only loop device */
};

struct vol_state {
  char *volume_id;
  char dir[STATE_DIR_MAX + 40]; /* this volume's private directory */
  char *staging_path;
  char *capability;             /* fingerprint of the staged capability */
  bool block;                   /* block access, else a mounted filesystem */
  bool readonly;                /* staged with a reader-only access mode */
  bool multi_node;              /* may be published at several targets */
  char *attach;                 /* "fuse" or "nbd" */
  pid_t attach_pid;             /* sealvol-attach, for "fuse" */
  char *device;                 /* /dev/loopN or /dev/nbdN */
  char *export;                 /* HOST:PORT/VOLUME: what is attached */
  char *identity;               /* TENANT-ID:VOLUME-ID, as its server states it */
  bool staged;                  /* the stage completed */
  struct publication pubs[MAX_PUBLICATIONS];
  size_t n_pubs;
};

/* The state directory, set once at start-up. */
extern const char *state_root;

/* Fill ST for VOLUME_ID: its directory name, and what state.json says
 * if the file exists.  Returns 1 if it exists, 0 if not, -1 on error. */
int state_load (const char *volume_id, struct vol_state *st);
int state_save (const struct vol_state *st);
void state_free (struct vol_state *st);

/* The id of a volume other than VOLUME_ID whose state.json has the
 * string VALUE at KEY ("identity", "export") goes to OTHER: 1 if there is
 * one, 0 if not. */
int state_find_other (const char *key, const char *value, const char *volume_id,
                      char *other, size_t len);

/* Replace a string field. */
void state_set (char **field, const char *value);

struct publication *state_find_publication (struct vol_state *st,
                                            const char *target);
void state_drop_publication (struct vol_state *st, struct publication *p);

/* PATH inside the volume's directory. */
void state_path (const struct vol_state *st, const char *name,
                 char *path, size_t len);

#endif
