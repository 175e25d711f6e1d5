#!/bin/bash
# The man pages are complete and say no more than the programs do:
# - every sealvol option of the option table ('sealvol --help' prints it)
#   has an entry in docs/sealvol.1's OPTIONS, and every entry there is an
#   option of the table;
# - each command's options in docs/sealvol.1's SYNOPSIS are exactly those
#   the table lets it take ('sealvol --help' prints each command's);
# - every parameter of the nbdkit plugin (its config keys, and its
#   config_help as 'nbdkit PLUGIN --help' prints it) has an entry in
#   docs/nbdkit-sealvol-plugin.1's PARAMETERS, and the other way round.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

MAN_CLI=$top_srcdir/docs/sealvol.1
MAN_PLUGIN=$top_srcdir/docs/nbdkit-sealvol-plugin.1

# man_section FILE NAME: the lines of one .SH section, with "\-" as "-".
man_section () {
    awk -v s=".SH $2" '$0 == s { p = 1; next } /^\.SH/ { p = 0 } p' "$1" |
        sed 's/\\-/-/g'
}
# The tag lines (the line after each .TP) of a section.
tags () { awk 'prev ~ /^\.TP/ { print } { prev = $0 }'; }
# same WHAT LIST1 LIST2: the two lists hold the same items.
same () {
    diff <(sort -u <<<"$2") <(sort -u <<<"$3") >"$TMP/diff" ||
        fail "$1: $(grep '^[<>]' "$TMP/diff" | tr '\n' ' ')"
}

"$SEALVOL" --help >"$TMP/help"

# Options: the table against OPTIONS.
table=$(sed -n '/^options:/,$p' "$TMP/help" | grep -oE '^  --[a-z-]+' | sed 's/^  //')
[ -n "$table" ] || fail "'sealvol --help' lists no options"
man=$(man_section "$MAN_CLI" OPTIONS | tags | grep -oE -- '--[a-z-]+' | sort -u)
same "options: < in 'sealvol --help' only, > in sealvol.1 OPTIONS only" "$table" "$man"

# Each command's options: the table against SYNOPSIS (--root, which every
# command takes, left out of both).
table=$(sed -n '/^commands:/,/^options:/p' "$TMP/help" | awk '
    /^  [a-z]/ { cmd = $1 " " $2 }
    /^  [a-z]/ || /^      / {
        for (i = 1; i <= NF; i++)
            if ($i ~ /^\[?--/) { o = $i; gsub(/[][]/, "", o); print cmd ": " o }
    }' | grep -v ': --root$')
[ -n "$table" ] || fail "'sealvol --help' lists no commands"
man=$(man_section "$MAN_CLI" SYNOPSIS | awk '
    function flush() { if (cmd != "") for (o in opts) print cmd ": " o
                       cmd = ""; split("", opts) }
    /^\.PP/ { flush(); next }
    /^\.B (tenant|volume|api) / { cmd = $2 " " $3 }
    { s = $0
      while (match(s, /--[a-z-]+/)) {
          opts[substr(s, RSTART, RLENGTH)] = 1; s = substr(s, RSTART + RLENGTH)
      } }
    END { flush() }' | grep -v ': --root$')
same "command options: < in 'sealvol --help' only, > in sealvol.1 SYNOPSIS only" "$table" "$man"
# And every command of the table has a synopsis.
same "commands: < in 'sealvol --help' only, > in sealvol.1 SYNOPSIS only" \
    "$(sed -n '/^commands:/,/^options:/p' "$TMP/help" | awk '/^  [a-z]/ { print $1 " " $2 }')" \
    "$(man_section "$MAN_CLI" SYNOPSIS | awk '/^\.B (tenant|volume|api) / { print $2 " " $3 }')"

# Plugin parameters: the config keys and config_help against PARAMETERS.
keys=$(grep -ohE 'strcmp \(key, "[a-z-]+"\)' "$top_srcdir"/nbdkit-plugin/*.c |
           grep -oE '"[a-z-]+"' | tr -d '"')
[ -n "$keys" ] || fail "found no config keys in nbdkit-plugin/"
man=$(man_section "$MAN_PLUGIN" PARAMETERS | tags | sed -E 's/^\.B[IR]? "?//' |
          grep -oE '^[a-z-]+=' | tr -d '=')
same "plugin parameters: < config keys only, > nbdkit-sealvol-plugin.1 only" "$keys" "$man"
requires nbdkit --version
help=$(nbdkit "$SEALVOL_PLUGIN" --help | grep -oE '^[a-z-]+=' | tr -d '=')
same "plugin parameters: < config keys only, > config_help only" "$keys" "$help"
echo "ok: options, commands and parameters match their man pages"
