/* Fuzz target: ROOT/service-types.conf (server/qos-config.c).
 *
 * Why: the server re-reads this operator-edited INI file every second
 * while serving, so a half-written or mistyped file reaches the parser in
 * a live process.  It must refuse bad files with a reason and keep nothing
 * of them, and never crash or leak the partly built table.
 *
 * Properties: on success every type has a valid, unique name of at most
 * 31 characters, a weight in 1..1000, and sv_service_type_find finds it;
 * on failure the reason is set and the output is untouched.  Whatever
 * limits a file that parses can hold, the token buckets (qos/) take them
 * without overflow, and a volume told to wait W ns for a request gets it
 * at now + W (bucket.c: waits round up so the tokens are there), give or
 * take floating-point rounding.
 */
#include <config.h>

#include <stdint.h>
#include <string.h>

#include "fuzz-common.h"
#include "names.h"
#include "qos-config.h"
#include "qos.h"

static struct fuzz_memfile conf;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc; (void) argv;
  fuzz_init ();
  fuzz_memfile_open (&conf);
  return 0;
}

static void
check_types (const struct sv_service_types *st)
{
  for (unsigned i = 0; i < st->n; i++) {
    const struct sv_service_type *t = &st->type[i];
    FUZZ_CHECK (strlen (t->name) < sizeof t->name);
    FUZZ_CHECK (sv_name_ok (t->name));
    FUZZ_CHECK (t->limits.weight >= 1 && t->limits.weight <= 1000);
    FUZZ_CHECK (sv_service_type_find (st, t->name) == t);
  }
}

/* A few requests of each kind on one volume with these limits. */
static void
exercise_qos (const struct sv_qos_limits *lim)
{
  static const uint64_t lens[] = { 512, 4096, 1 << 20, 64 << 20, 0 };
  struct sv_qos_volume v;
  uint64_t now = UINT64_C (1000000000);

  sv_qos_volume_init (&v, NULL, lim, now);
  for (unsigned i = 0; i < 3 * sizeof lens / sizeof lens[0]; i++) {
    uint64_t len = lens[i % (sizeof lens / sizeof lens[0])];
    enum sv_qos_op op = len ? SV_QOS_WRITE : SV_QOS_FLUSH;
    uint64_t wait = sv_qos_admit (&v, op, len, now);

    if (wait && wait <= UINT64_MAX - now) {
      /* Refilling in doubles can leave the bucket a few ulps short of
       * the cost (then a second wait of 1 ns): allow that, not more. */
      now += wait;
      FUZZ_CHECK (sv_qos_admit (&v, op, len, now)
                  <= 1 + wait / (UINT64_C (1) << 40));
    }
  }
  sv_qos_volume_destroy (&v);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct sv_service_types st = { .n = 12345, .type = NULL };
  char why[256] = "";

  fuzz_memfile_set (&conf, data, size);
  if (sv_service_types_load (conf.path, &st, why, sizeof why) == 0) {
    check_types (&st);
    for (unsigned i = 0; i < st.n; i++)
      exercise_qos (&st.type[i].limits);
    sv_service_types_free (&st);
  }
  else
    FUZZ_CHECK (why[0] != '\0' && st.n == 12345 && st.type == NULL);
  return 0;
}
