#!/bin/bash
# Issue 14, break 10: argument errors: "-rf" is named as the unknown
# option, and --listen '[::1' is refused.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

sv tenant create acme >/dev/null

# ------------------------------------------------------ argument errors

expect_fail 2 "unknown or incomplete option '-rf'" sv tenant create -rf
expect_fail 2 "unknown or incomplete option '-rf'" sv --json tenant create -rf
expect_fail 2 "unknown or incomplete option '-x'" sv tenant create x -x
expect_fail 2 "unknown or incomplete option '--root'" sv tenant create x --root
for bad in '[::1' '[::1]' '::1]:10809' '[]:10809' '[::1:10809'; do
    expect_fail 2 "bad --listen '$bad'" sv tenant serve acme --listen "$bad"
done
echo "ok: '-rf' is named as the unknown option; unclosed or stray brackets in --listen are refused"
