/* sealvol CLI: the volume commands. */
#ifndef SEALVOL_CLI_VOLUME_H
#define SEALVOL_CLI_VOLUME_H

#include "cli-common.h"

int cmd_volume_create (const struct options *o, const struct cli_args *a);
int cmd_volume_resize (const struct options *o, const struct cli_args *a);
/* With --force: a volume that does not open, erased without its key. */
int cmd_volume_delete (const struct options *o, const struct cli_args *a);
int cmd_volume_list (const struct options *o, const struct cli_args *a);
int cmd_volume_info (const struct options *o, const struct cli_args *a);
int cmd_volume_verify (const struct options *o, const struct cli_args *a);
int cmd_volume_set_service_type (const struct options *o,
                                 const struct cli_args *a);
int cmd_volume_rekey (const struct options *o, const struct cli_args *a);
int cmd_volume_break_lock (const struct options *o,
                           const struct cli_args *a);

#endif
