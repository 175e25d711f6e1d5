/* state.json of a staged volume, read and written with json-c. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "fsutil.h"
#include "node-state.h"

const char *state_root = "/run/sealvol-csi";

/* Volume ids are opaque strings of up to 128 bytes; a hash makes any of
 * them a safe directory name. */
static void
volume_dir_name (const char *volume_id, char *name, size_t len)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0, i;

  EVP_Digest (volume_id, strlen (volume_id), md, &mdlen, EVP_sha256 (), NULL);
  for (i = 0; i < 16 && 2 * i + 2 < len; i++)
    snprintf (name + 2 * i, 3, "%02x", md[i]);
}

void
state_path (const struct vol_state *st, const char *name, char *path, size_t len)
{
  snprintf (path, len, "%s/%s", st->dir, name);
}

void
state_set (char **field, const char *value)
{
  free (*field);
  *field = NULL;
  if (value && (*field = strdup (value)) == NULL)
    abort ();                   /* as call_alloc: no memory, no answer */
}

static const char *
get_string (json_object *o, const char *key)
{
  json_object *v;

  return json_object_object_get_ex (o, key, &v) && json_object_is_type (v, json_type_string)
    ? json_object_get_string (v) : NULL;
}

static bool
get_bool (json_object *o, const char *key)
{
  json_object *v;

  return json_object_object_get_ex (o, key, &v) && json_object_get_boolean (v);
}

static void
load_publications (json_object *root, struct vol_state *st)
{
  json_object *arr;

  if (!json_object_object_get_ex (root, "publications", &arr)
      || !json_object_is_type (arr, json_type_array))
    return;
  for (size_t i = 0; i < json_object_array_length (arr) && st->n_pubs < MAX_PUBLICATIONS; i++) {
    json_object *o = json_object_array_get_idx (arr, i);
    struct publication *p;

    if (get_string (o, "target") == NULL || get_string (o, "capability") == NULL)
      continue;
    p = &st->pubs[st->n_pubs++];
    state_set (&p->target, get_string (o, "target"));
    state_set (&p->capability, get_string (o, "capability"));
    state_set (&p->ro_device, get_string (o, "ro_device"));
    p->readonly = get_bool (o, "readonly");
  }
}

int
state_load (const char *volume_id, struct vol_state *st)
{
  char name[40], path[STATE_PATH_MAX];
  json_object *root, *v;

  memset (st, 0, sizeof *st);
  volume_dir_name (volume_id, name, sizeof name);
  snprintf (st->dir, sizeof st->dir, "%s/%s", state_root, name);
  state_set (&st->volume_id, volume_id);
  state_path (st, "state.json", path, sizeof path);
  if (access (path, F_OK) == -1)
    return errno == ENOENT ? 0 : -1;
  root = json_object_from_file (path);
  if (root == NULL)
    return -1;
  /* What every later call compares against must be there. */
  if (get_string (root, "staging_path") == NULL || get_string (root, "capability") == NULL) {
    json_object_put (root);
    errno = EINVAL;
    return -1;
  }
  state_set (&st->staging_path, get_string (root, "staging_path"));
  state_set (&st->capability, get_string (root, "capability"));
  state_set (&st->attach, get_string (root, "attach"));
  state_set (&st->device, get_string (root, "device"));
  state_set (&st->export, get_string (root, "export"));
  state_set (&st->identity, get_string (root, "identity"));
  st->block = get_bool (root, "block");
  st->readonly = get_bool (root, "readonly");
  st->multi_node = get_bool (root, "multi_node");
  st->staged = get_bool (root, "staged");
  if (json_object_object_get_ex (root, "attach_pid", &v))
    st->attach_pid = json_object_get_int (v);
  load_publications (root, st);
  json_object_put (root);
  return 1;
}

static void
add_string (json_object *o, const char *key, const char *value)
{
  if (value)
    json_object_object_add (o, key, json_object_new_string (value));
}

static json_object *
publications_json (const struct vol_state *st)
{
  json_object *arr = json_object_new_array ();

  for (size_t i = 0; i < st->n_pubs; i++) {
    json_object *o = json_object_new_object ();

    add_string (o, "target", st->pubs[i].target);
    add_string (o, "capability", st->pubs[i].capability);
    add_string (o, "ro_device", st->pubs[i].ro_device);
    json_object_object_add (o, "readonly", json_object_new_boolean (st->pubs[i].readonly));
    json_object_array_add (arr, o);
  }
  return arr;
}

/* Written to a temporary name and renamed (sv_replace_file_ex), so a
 * crash of the plugin leaves the old state or the new one.  Not fsynced:
 * the state directory is on /run and gone after a reboot anyway. */
int
state_save (const struct vol_state *st)
{
  json_object *root = json_object_new_object ();
  const char *text;
  int r;

  add_string (root, "volume_id", st->volume_id);
  add_string (root, "staging_path", st->staging_path);
  add_string (root, "capability", st->capability);
  add_string (root, "attach", st->attach);
  add_string (root, "device", st->device);
  add_string (root, "export", st->export);
  add_string (root, "identity", st->identity);
  json_object_object_add (root, "block", json_object_new_boolean (st->block));
  json_object_object_add (root, "readonly", json_object_new_boolean (st->readonly));
  json_object_object_add (root, "multi_node", json_object_new_boolean (st->multi_node));
  json_object_object_add (root, "staged", json_object_new_boolean (st->staged));
  json_object_object_add (root, "attach_pid", json_object_new_int (st->attach_pid));
  json_object_object_add (root, "publications", publications_json (st));
  text = json_object_to_json_string_ext (root, JSON_C_TO_STRING_PRETTY);
  r = sv_replace_file_ex (st->dir, "state.json", text, strlen (text), 0600, false);
  json_object_put (root);
  return r;
}

static void
publication_free (struct publication *p)
{
  free (p->target);
  free (p->capability);
  free (p->ro_device);
  memset (p, 0, sizeof *p);
}

void
state_free (struct vol_state *st)
{
  for (size_t i = 0; i < st->n_pubs; i++)
    publication_free (&st->pubs[i]);
  free (st->volume_id);
  free (st->staging_path);
  free (st->capability);
  free (st->attach);
  free (st->device);
  free (st->export);
  free (st->identity);
  memset (st, 0, sizeof *st);
}

struct publication *
state_find_publication (struct vol_state *st, const char *target)
{
  for (size_t i = 0; i < st->n_pubs; i++)
    if (strcmp (st->pubs[i].target, target) == 0)
      return &st->pubs[i];
  return NULL;
}

void
state_drop_publication (struct vol_state *st, struct publication *p)
{
  size_t i = (size_t) (p - st->pubs);

  publication_free (p);
  memmove (&st->pubs[i], &st->pubs[i + 1], (st->n_pubs - i - 1) * sizeof *p);
  st->n_pubs--;
  memset (&st->pubs[st->n_pubs], 0, sizeof *p);
}

int
state_find_other (const char *key, const char *value, const char *volume_id,
                  char *other, size_t len)
{
  DIR *d = opendir (state_root);
  struct dirent *e;
  int found = 0;

  if (d == NULL)
    return 0;
  while (!found && (e = readdir (d)) != NULL) {
    char path[STATE_PATH_MAX];
    json_object *root;
    const char *x, *id;

    if (e->d_name[0] == '.')
      continue;
    snprintf (path, sizeof path, "%s/%.64s/state.json", state_root, e->d_name);
    if ((root = json_object_from_file (path)) == NULL)
      continue;
    x = get_string (root, key);
    id = get_string (root, "volume_id");
    if (x && id && strcmp (x, value) == 0 && strcmp (id, volume_id) != 0) {
      snprintf (other, len, "%s", id);
      found = 1;
    }
    json_object_put (root);
  }
  closedir (d);
  return found;
}
