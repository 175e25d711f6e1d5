/* Nonces never repeat: one block written a million times with identical data gets
 * a distinct nonce and a distinct ciphertext every time, across clean
 * restarts and crashes (a child process that _exits with the volume still
 * open, as SIGKILL would leave it), for both AEAD ciphers. */
#include <config.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format.h"
#include "report.h"
#include "tap.h"
#include "tenant.h"
#include "volume.h"

#define SESSIONS 4
#define WRITES_PER_SESSION 250000
#define RECORD (SV_NONCE_LEN + 16)      /* nonce, first ciphertext bytes */

static char root[] = "/tmp/sealvol-nonces.XXXXXX";

/* One session: write block 0 n times, append each slot's nonce and the
 * first 16 ciphertext bytes to out.  crash: leave without closing. */
static int
session (const char *vol, const char *meta, const char *data, FILE *out,
         bool crash)
{
  struct sv_tenant *t = sv_tenant_open (root, "t");
  static uint8_t block[4096];
  struct sv_volume *v;
  int mfd = open (meta, O_RDONLY), dfd = open (data, O_RDONLY);

  memset (block, 0x5a, sizeof block);
  if (t == NULL || sv_tenant_load_key (t, NULL) == -1
      || (v = sv_volume_open (t, vol, 0, NULL)) == NULL)
    return -1;
  for (int i = 0; i < WRITES_PER_SESSION; i++) {
    uint8_t pair[SV_PAIR_LEN], rec[RECORD];
    struct sv_slot s[2];
    if (sv_volume_write (v, block, sizeof block, 0, false) == -1
        || pread (mfd, pair, sizeof pair, 0) != sizeof pair
        || pread (dfd, rec + SV_NONCE_LEN, 16, 0) != 16)
      return -1;
    sv_slot_decode (pair, &s[0]);
    sv_slot_decode (pair + SV_SLOT_LEN, &s[1]);
    memcpy (rec, s[sv_pair_newest (s)].nonce, SV_NONCE_LEN);
    fwrite (rec, 1, sizeof rec, out);
  }
  fflush (out);
  if (crash)
    _exit (0);
  return sv_volume_close (v);
}

static int
compare_records (const void *a, const void *b)
{
  return memcmp (a, b, RECORD);
}

/* Sort the records and look for a repeated nonce or ciphertext. */
static void
check_distinct (const char *cipher, const char *path, size_t expect)
{
  FILE *f = fopen (path, "rb");
  uint8_t *recs = malloc (expect * RECORD);
  size_t n = f ? fread (recs, RECORD, expect, f) : 0;
  size_t dup_nonce = 0, dup_ct = 0;

  CHECK (n == expect);
  qsort (recs, n, RECORD, compare_records);
  for (size_t i = 1; i < n; i++)
    if (memcmp (recs + (i - 1) * RECORD, recs + i * RECORD, SV_NONCE_LEN) == 0)
      dup_nonce++;
  /* Ciphertext: sort on its bytes alone. */
  for (size_t i = 0; i < n; i++)
    memmove (recs + i * RECORD, recs + i * RECORD + SV_NONCE_LEN, 16);
  qsort (recs, n, RECORD, compare_records);
  for (size_t i = 1; i < n; i++)
    if (memcmp (recs + (i - 1) * RECORD, recs + i * RECORD, 16) == 0)
      dup_ct++;
  printf ("%s: %zu writes, %zu repeated nonces, %zu repeated ciphertexts\n",
          cipher, n, dup_nonce, dup_ct);
  CHECK (dup_nonce == 0);
  CHECK (dup_ct == 0);
  free (recs);
  if (f)
    fclose (f);
}

int
main (void)
{
  static const char *ciphers[] = { "aes-256-gcm", "xchacha20-poly1305" };
  char cmd[512];

  if (sv_crypto_init () == -1 || mkdtemp (root) == NULL)
    return 99;
  struct sv_tenant *t;
  CHECK (sv_tenant_create (root, "t", NULL) == 0);
  t = sv_tenant_open (root, "t");
  CHECK (t && sv_tenant_load_key (t, NULL) == 0);
  for (int c = 0; c < 2; c++) {
    struct sv_create_params p = { .size = 1 << 20,
                                  .cipher = sv_cipher_by_name (ciphers[c]) };
    char vol[16], meta[4096], data[4096], recs[4096];
    FILE *out;
    snprintf (vol, sizeof vol, "v%d", c);
    snprintf (meta, sizeof meta, "%s/t/volumes/%s/meta", root, vol);
    snprintf (data, sizeof data, "%s/t/volumes/%s/data", root, vol);
    snprintf (recs, sizeof recs, "%s/records-%d", root, c);
    CHECK (sv_volume_create (t, vol, &p) == 0);
    out = fopen (recs, "wb");
    for (int s = 0; s < SESSIONS; s++) {
      bool crash = s % 2 == 1;
      pid_t pid;
      int status;
      fflush (out);
      if ((pid = fork ()) == 0)
        _exit (session (vol, meta, data, out, crash) == 0 ? 0 : 1);
      waitpid (pid, &status, 0);
      CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
    fclose (out);
    check_distinct (ciphers[c], recs, (size_t) SESSIONS * WRITES_PER_SESSION);
  }
  sv_tenant_free (t);
  snprintf (cmd, sizeof cmd, "rm -rf %s", root);
  if (system (cmd) != 0)
    return 99;
  return tap_result ();
}
