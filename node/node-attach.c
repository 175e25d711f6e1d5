/* Attaching an export: probe with libnbd, then nbd-client or
 * sealvol-attach + losetup.  Secrets reach the tools as file paths in
 * the volume's private directory, never as arguments or log lines. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <libnbd.h>

#include "node-attach.h"
#include "node-util.h"

struct attach_config attach_config = { ATTACH_AUTO, 60, "sealvol-attach" };

/* How libnbd reaches R: the export, TLS required, and the secrets by
 * directory (certificates) or by file (PSK).  Set field by field, so a
 * path needs no quoting. */
static int
remote_settings (struct nbd_handle *h, const struct remote *r)
{
  char psk[STATE_PATH_MAX];

  if (nbd_set_export_name (h, r->export) == -1
      || nbd_set_tls (h, LIBNBD_TLS_REQUIRE) == -1)
    return -1;
  if (r->psk_user == NULL)
    return nbd_set_tls_certificates (h, r->secrets_dir);
  snprintf (psk, sizeof psk, "%s/psk", r->secrets_dir);
  if (nbd_set_tls_username (h, r->psk_user) == -1)
    return -1;
  return nbd_set_tls_psk_file (h, psk);
}

/* S, percent-encoded except for RFC 3986's unreserved characters and
 * '/': libnbd's URI parser decodes every part again, so a space, '?',
 * '#', '&' or '%' in a path stays part of it. */
static void
put_encoded (FILE *f, const char *s)
{
  for (; *s; s++) {
    unsigned char c = (unsigned char) *s;

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || strchr ("-._~/", c))
      putc (c, f);
    else
      fprintf (f, "%%%02X", c);
  }
}

/* The same settings as remote_settings, as the nbds:// URI that
 * sealvol-attach takes (libnbd's nbd_get_uri would need a connected
 * handle and does not encode the query).  Malloc'd, or NULL. */
static char *
remote_uri (const struct remote *r)
{
  char *uri = NULL;
  size_t size;
  FILE *f = open_memstream (&uri, &size);

  if (f == NULL)
    return NULL;
  fputs ("nbds://", f);
  if (r->psk_user) {
    put_encoded (f, r->psk_user);
    putc ('@', f);
  }
  put_encoded (f, r->host);
  fprintf (f, ":%s/", r->port);
  put_encoded (f, r->export);
  fputs (r->psk_user ? "?tls-psk-file=" : "?tls-certificates=", f);
  put_encoded (f, r->secrets_dir);
  if (r->psk_user)
    fputs ("/psk", f);
  if (fclose (f) == EOF) {
    free (uri);
    return NULL;
  }
  return uri;
}

static grpc_status_code
probe_error_code (int err, const char *msg)
{
  if (err == ENOENT && strstr (msg, "no export") != NULL)
    return GRPC_STATUS_NOT_FOUND;
  if (err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH
      || err == ETIMEDOUT || err == ENOENT)
    return GRPC_STATUS_UNAVAILABLE;
  /* GnuTLS failures reach libnbd's message with "TLS" or "certificate";
   * a server that refuses our certificate or PSK closes the connection
   * during the handshake. */
  if (strstr (msg, "TLS") || strstr (msg, "tls") || strstr (msg, "certificate")
      || strstr (msg, "handshake") || err == ECONNRESET || err == EPROTO)
    return GRPC_STATUS_UNAUTHENTICATED;
  return GRPC_STATUS_UNAVAILABLE;
}

#define PROBE_TIMEOUT_MS 15000

/* Connect to R with a deadline: a host that accepts the connection and
 * never answers must not hold up the plugin, which serves one call at a
 * time. */
static int
connect_with_deadline (struct nbd_handle *h, const struct remote *r)
{
  struct timespec start, now;
  int waited = 0;

  clock_gettime (CLOCK_MONOTONIC, &start);
  if (nbd_aio_connect_tcp (h, r->host, r->port) == -1)
    return -1;
  while (!nbd_aio_is_ready (h)) {
    if (nbd_aio_is_dead (h) || nbd_aio_is_closed (h)
        || nbd_poll (h, PROBE_TIMEOUT_MS - waited) == -1)
      return -1;
    clock_gettime (CLOCK_MONOTONIC, &now);
    waited = (int) ((now.tv_sec - start.tv_sec) * 1000
                    + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (waited >= PROBE_TIMEOUT_MS && !nbd_aio_is_ready (h)) {
      errno = ETIMEDOUT;
      return -2;
    }
  }
  return 0;
}

/* The last libnbd call failed: say so with the code its error means. */
static grpc_status_code
probe_failed (const struct remote *r, struct csi_status *st)
{
  return csi_fail (st, probe_error_code (nbd_get_errno (), nbd_get_error ()),
                   "volume %s on %s:%s: %s", r->export, r->host, r->port,
                   nbd_get_error ());
}

/* The identity at the end of a sealvol export description,
 * "sealvol volume TENANT/VOL id TENANT-ID:VOLUME-ID", to IDENTITY. */
static bool
stated_identity (const char *description, char identity[VOLUME_IDENTITY_MAX])
{
  const char *id = description ? strstr (description, " id ") : NULL;

  if (id == NULL)
    return false;
  id += 4;
  if (strlen (id) != VOLUME_IDENTITY_MAX - 1 || id[32] != ':'
      || strspn (id, "0123456789abcdef") != 32
      || strspn (id + 33, "0123456789abcdef") != 32)
    return false;
  memcpy (identity, id, VOLUME_IDENTITY_MAX);
  return true;
}

/* What the connected server says about the export. */
static grpc_status_code
read_export (struct nbd_handle *h, const struct remote *r, int64_t *size,
             char identity[VOLUME_IDENTITY_MAX], struct csi_status *st)
{
  char *description;
  bool stated;

  if ((*size = nbd_get_size (h)) == -1)
    return probe_failed (r, st);
  description = nbd_get_export_description (h);
  stated = stated_identity (description, identity);
  free (description);
  if (!stated)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s on %s:%s: the storage host does not state the volume's "
                     "identity in its export description (an older nbdkit-sealvol-plugin?)",
                     r->export, r->host, r->port);
  return GRPC_STATUS_OK;
}

grpc_status_code
attach_probe (const struct remote *r, int64_t *size, char identity[VOLUME_IDENTITY_MAX],
              struct csi_status *st)
{
  struct nbd_handle *h = nbd_create ();
  grpc_status_code code;
  int c;

  if (h == NULL)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "libnbd: %s", nbd_get_error ());
  /* The export description comes only with full info. */
  if (remote_settings (h, r) == -1 || nbd_set_full_info (h, true) == -1)
    c = -1;
  else
    c = connect_with_deadline (h, r);
  if (c == -2)
    code = csi_fail (st, GRPC_STATUS_UNAVAILABLE, "volume %s on %s:%s: no answer "
                     "within %d s", r->export, r->host, r->port, PROBE_TIMEOUT_MS / 1000);
  else if (c == -1)
    code = probe_failed (r, st);
  else {
    code = read_export (h, r, size, identity, st);
    nbd_shutdown (h, 0);
  }
  nbd_close (h);
  return code;
}

/* ---- sealvol-attach + loop ---- */

static void
fuse_file (const struct vol_state *vs, char *path, size_t len)
{
  state_path (vs, "disk", path, len);
}

/* sealvol-attach runs in a session of its own, so that it outlives a
 * restart of this plugin; its messages go to attach.log. */
static pid_t
start_sealvol_attach (const struct vol_state *vs, const struct remote *r,
                      const char *disk)
{
  char *uri = remote_uri (r), log[STATE_PATH_MAX], timeout[16];
  const char *argv[8];
  int argc = 0, fd;
  pid_t pid;

  if (uri == NULL)
    return -1;
  snprintf (timeout, sizeof timeout, "%d", attach_config.timeout);
  argv[argc++] = attach_config.program;
  argv[argc++] = "--timeout";
  argv[argc++] = timeout;
  if (r->readonly)
    argv[argc++] = "--read-only";
  argv[argc++] = uri;
  argv[argc++] = disk;
  argv[argc] = NULL;
  state_path (vs, "attach.log", log, sizeof log);
  fd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  pid = fd == -1 ? -1 : spawn (argv, fd, true);
  if (fd != -1)
    close (fd);
  free (uri);
  return pid;
}

/* Still running?  It is our child unless the plugin restarted. */
static bool
process_alive (pid_t pid)
{
  if (pid <= 0)
    return false;
  if (waitpid (pid, NULL, WNOHANG) == pid)
    return false;
  return kill (pid, 0) == 0;
}

static off_t
file_size (const char *path)
{
  struct stat sb;

  return stat (path, &sb) == 0 ? sb.st_size : -1;
}

static void
last_log_line (const struct vol_state *vs, char *out, size_t len)
{
  char log[STATE_PATH_MAX], line[512];
  FILE *f;

  snprintf (out, len, "no message");
  state_path (vs, "attach.log", log, sizeof log);
  if ((f = fopen (log, "r")) == NULL)
    return;
  while (fgets (line, sizeof line, f))
    if (line[0] != '\n') {
      line[strcspn (line, "\n")] = '\0';
      snprintf (out, len, "%.*s", (int) len - 1, line);
    }
  fclose (f);
}

static grpc_status_code
attach_fuse (struct vol_state *vs, const struct remote *r, int64_t size,
             struct csi_status *st)
{
  char disk[STATE_PATH_MAX], out[256];
  int fd;

  fuse_file (vs, disk, sizeof disk);
  fd = open (disk, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd == -1 || close (fd) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "%s: %s", disk, strerror (errno));
  state_set (&vs->attach, "fuse");
  vs->attach_pid = start_sealvol_attach (vs, r, disk);
  if (vs->attach_pid == -1)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION, "cannot run %s: %s",
                     attach_config.program, strerror (errno));
  state_save (vs);              /* so that a crash from here on can be undone */
  if (!WAIT_UNTIL (file_size (disk) == size || !process_alive (vs->attach_pid), 15000)
      || file_size (disk) != size) {
    last_log_line (vs, out, sizeof out);
    return csi_fail (st, GRPC_STATUS_UNAVAILABLE, "sealvol-attach did not attach: %s", out);
  }
  if (loop_attach (disk, r->readonly, out, sizeof out, st) != GRPC_STATUS_OK)
    return st->code;
  state_set (&vs->device, out);
  state_save (vs);
  return GRPC_STATUS_OK;
}

/* ---- kernel nbd-client ---- */

/* The first /dev/nbdN no client holds (the kernel lists a holder's pid
 * in sysfs). */
static int
free_nbd_device (char *dev, size_t len)
{
  for (int i = 0; i < 128; i++) {
    char pidfile[64];

    snprintf (dev, len, "/dev/nbd%d", i);
    if (access (dev, F_OK) == -1)
      return -1;
    snprintf (pidfile, sizeof pidfile, "/sys/block/nbd%d/pid", i);
    if (access (pidfile, F_OK) == -1)
      return 0;
  }
  return -1;
}

static grpc_status_code
attach_nbd (struct vol_state *vs, const struct remote *r, struct csi_status *st)
{
  char dev[32], out[256], timeout[16], ca[STATE_PATH_MAX], cert[STATE_PATH_MAX], key[STATE_PATH_MAX];

  if (r->psk_user)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "the kernel NBD client has no PSK support; use certificates "
                     "or SEALVOL_CSI_ATTACH=fuse");
  if (free_nbd_device (dev, sizeof dev) == -1)
    return csi_fail (st, GRPC_STATUS_RESOURCE_EXHAUSTED, "no free /dev/nbd device");
  snprintf (ca, sizeof ca, "%s/ca-cert.pem", r->secrets_dir);
  snprintf (cert, sizeof cert, "%s/client-cert.pem", r->secrets_dir);
  snprintf (key, sizeof key, "%s/client-key.pem", r->secrets_dir);
  snprintf (timeout, sizeof timeout, "%d", attach_config.timeout);
  {
    /* -persist: the kernel client reconnects when the server restarts. */
    const char *argv[32] = {
      "nbd-client", r->host, r->port, dev, "-N", r->export,
      "-enable-tls", "-tlshostname", r->host, "-cacertfile", ca,
      "-timeout", timeout, "-block-size", "4096", "-persist",
    };
    int argc = 16;

    if (r->readonly)
      argv[argc++] = "-readonly";
    if (access (cert, R_OK) == 0) {
      argv[argc++] = "-certfile";
      argv[argc++] = cert;
      argv[argc++] = "-keyfile";
      argv[argc++] = key;
    }
    argv[argc] = NULL;
    if (run_argv (out, sizeof out, argv) != 0)
      return csi_fail (st, GRPC_STATUS_UNAVAILABLE, "nbd-client: %s", out);
  }
  state_set (&vs->attach, "nbd");
  state_set (&vs->device, dev);
  return GRPC_STATUS_OK;
}

grpc_status_code
attach_volume (struct vol_state *vs, const struct remote *r, int64_t size,
               struct csi_status *st)
{
  bool nbd = attach_config.mode == ATTACH_NBD
    || (attach_config.mode == ATTACH_AUTO && access ("/dev/nbd0", F_OK) == 0
        && r->psk_user == NULL);

  return nbd ? attach_nbd (vs, r, st) : attach_fuse (vs, r, size, st);
}

/* ---- detach ---- */

static void
loop_backing_file (const char *device, char *out, size_t len)
{
  char path[128];
  FILE *f;

  out[0] = '\0';
  snprintf (path, sizeof path, "/sys/block/%s/loop/backing_file",
            strrchr (device, '/') ? strrchr (device, '/') + 1 : device);
  if ((f = fopen (path, "r")) == NULL)
    return;
  if (fgets (out, (int) len, f))
    out[strcspn (out, "\n")] = '\0';
  fclose (f);
}

grpc_status_code
loop_detach (const char *device, struct csi_status *st)
{
  char out[256], backing[PATH_MAX];

  loop_backing_file (device, backing, sizeof backing);
  if (backing[0] == '\0')
    return GRPC_STATUS_OK;                /* already detached */
  if (run (out, sizeof out, "losetup", "--detach", device, NULL) != 0)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "losetup --detach %s: %s", device, out);
  /* The kernel lets go of the backing file a little after losetup
   * returns; the FUSE file cannot be unmounted before that. */
  WAIT_UNTIL ((loop_backing_file (device, backing, sizeof backing), backing[0] == '\0'),
              5000);
  return GRPC_STATUS_OK;
}

/* Detach every loop device whose backing file is FILE, and first the
 * loop devices stacked on each of those (read-only block publishes).
 * Found through sysfs rather than the state file: a stage that crashed
 * may have set one up without recording it. */
static grpc_status_code
detach_loops_on (const char *file, struct csi_status *st)
{
  DIR *d = opendir ("/sys/block");
  struct dirent *e;
  grpc_status_code code = GRPC_STATUS_OK;

  if (d == NULL)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "/sys/block: %s", strerror (errno));
  while (code == GRPC_STATUS_OK && (e = readdir (d)) != NULL) {
    char device[300], backing[PATH_MAX];

    if (strncmp (e->d_name, "loop", 4) != 0)
      continue;
    snprintf (device, sizeof device, "/dev/%s", e->d_name);
    loop_backing_file (device, backing, sizeof backing);
    if (strcmp (backing, file) == 0
        && (code = detach_loops_on (device, st)) == GRPC_STATUS_OK)
      code = loop_detach (device, st);
  }
  closedir (d);
  return code;
}

static bool
cmdline_names (pid_t pid, const char *what)
{
  char path[64], cmdline[8192];
  ssize_t n;
  int fd;

  snprintf (path, sizeof path, "/proc/%d/cmdline", (int) pid);
  if ((fd = open (path, O_RDONLY | O_CLOEXEC)) == -1)
    return false;
  n = read (fd, cmdline, sizeof cmdline - 1);
  close (fd);
  if (n <= 0)
    return false;
  for (ssize_t i = 0; i < n; i++)
    if (cmdline[i] == '\0')
      cmdline[i] = ' ';
  cmdline[n] = '\0';
  return strstr (cmdline, what) != NULL;
}

/* Every sealvol-attach serving DISK (normally the recorded one; after a
 * crashed stage, perhaps another): they exit once the FUSE file is
 * unmounted; any that does not is killed. */
static void
stop_attach_processes (const char *disk)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;

  if (d == NULL)
    return;
  while ((e = readdir (d)) != NULL) {
    pid_t pid = (pid_t) atoi (e->d_name);

    if (pid > 0 && pid != getpid () && cmdline_names (pid, disk)
        && !WAIT_UNTIL (!process_alive (pid), 10000))
      kill (pid, SIGKILL);
  }
  closedir (d);
}

static grpc_status_code
detach_fuse (struct vol_state *vs, struct csi_status *st)
{
  char disk[STATE_PATH_MAX], out[256];

  fuse_file (vs, disk, sizeof disk);
  if (detach_loops_on (disk, st) != GRPC_STATUS_OK)
    return st->code;
  if (mount_point (disk, NULL, 0)
      && run (out, sizeof out, "fusermount3", "-u", disk, NULL) != 0)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "fusermount3 -u: %s", out);
  stop_attach_processes (disk);
  return GRPC_STATUS_OK;
}

bool
attach_alive (const struct vol_state *vs)
{
  char disk[STATE_PATH_MAX], backing[PATH_MAX], pidfile[64];

  if (vs->attach == NULL || vs->device == NULL)
    return false;
  if (strcmp (vs->attach, "nbd") == 0) {
    snprintf (pidfile, sizeof pidfile, "/sys/block/%s/pid", strrchr (vs->device, '/') + 1);
    return access (pidfile, F_OK) == 0;
  }
  fuse_file (vs, disk, sizeof disk);
  loop_backing_file (vs->device, backing, sizeof backing);
  return strcmp (backing, disk) == 0 && mount_point (disk, NULL, 0)
    && process_alive (vs->attach_pid) && cmdline_names (vs->attach_pid, disk);
}

grpc_status_code
detach_volume (struct vol_state *vs, struct csi_status *st)
{
  char out[256];

  if (vs->attach == NULL)
    return GRPC_STATUS_OK;
  if (strcmp (vs->attach, "nbd") == 0) {
    if (vs->device && run (out, sizeof out, "nbd-client", "-d", vs->device, NULL) != 0)
      return csi_fail (st, GRPC_STATUS_INTERNAL, "nbd-client -d: %s", out);
    return GRPC_STATUS_OK;
  }
  return detach_fuse (vs, st);
}

/* ---- size ---- */

int64_t
device_size (const char *device)
{
  uint64_t bytes;
  int fd = open (device, O_RDONLY | O_CLOEXEC);

  if (fd == -1)
    return -1;
  if (ioctl (fd, BLKGETSIZE64, &bytes) == -1) {
    close (fd);
    return -1;
  }
  close (fd);
  return (int64_t) bytes;
}

grpc_status_code
attach_refresh_size (struct vol_state *vs, int64_t want, int64_t *size,
                     struct csi_status *st)
{
  char disk[STATE_PATH_MAX], out[256];
  off_t before;

  if (strcmp (vs->attach, "fuse") != 0)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "the kernel NBD client sees a new size only on a new connection: "
                     "unstage and stage the volume again");
  fuse_file (vs, disk, sizeof disk);
  before = file_size (disk);
  if (!cmdline_names (vs->attach_pid, disk) || kill (vs->attach_pid, SIGHUP) == -1)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "sealvol-attach for this volume is not running");
  /* sealvol-attach reconnects to read the size; it answers by changing
   * the file's size, which is all there is to wait for. */
  WAIT_UNTIL (want > 0 ? file_size (disk) >= want : file_size (disk) != before,
              want > 0 ? 10000 : 3000);
  if (run (out, sizeof out, "losetup", "--set-capacity", vs->device, NULL) != 0)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "losetup --set-capacity: %s", out);
  for (size_t i = 0; i < vs->n_pubs; i++)
    if (vs->pubs[i].ro_device
        && run (out, sizeof out, "losetup", "--set-capacity", vs->pubs[i].ro_device,
                NULL) != 0)
      return csi_fail (st, GRPC_STATUS_INTERNAL, "losetup --set-capacity: %s", out);
  *size = device_size (vs->device);
  return GRPC_STATUS_OK;
}

/* losetup on FILE (or a device), read-only if asked; the new loop
 * device's name goes to OUT.  With direct I/O the loop device hands its
 * requests to FILE asynchronously, as they come (and FUSE passes them on
 * to sealvol-attach in parallel); without it, one kernel worker per loop
 * device writes through FILE one request at a time, and on a FUSE file
 * 4 KiB random writes at queue depth 16 ran at a third of the speed
 * (docs/performance.md, "The node path").  It also keeps a second copy
 * of the data out of the page cache. */
grpc_status_code
loop_attach (const char *file, bool readonly, char *out, size_t len,
             struct csi_status *st)
{
  const char *argv[] = { "losetup", "--find", "--show", "--direct-io=on", file,
                         readonly ? "--read-only" : NULL, NULL };

  if (run_argv (out, len, argv) != 0 || strncmp (out, "/dev/", 5) != 0)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "losetup: %s", out);
  return GRPC_STATUS_OK;
}
