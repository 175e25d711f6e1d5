#!/bin/bash
# sealvol api serve: the HTTPS control API with curl against a real
# server on 127.0.0.1: authentication (none, bad, revoked, expired,
# another tenant's: 404), the limits (a 10 MiB body, malformed JSON, a
# name with ../), 200 concurrent creates of one name, the volume round
# trip with pagination, idempotent create and delete, capacity against
# [caps], the audit lines, and no token anywhere in a log.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires curl --version
requires certtool --version

CERTS=$TMP/certs
"$top_srcdir/scripts/sealvol-certs" ca "$CERTS/ca" >/dev/null
"$top_srcdir/scripts/sealvol-certs" server "$CERTS/ca" "$CERTS/server" 127.0.0.1 >/dev/null

sv tenant create acme >/dev/null
sv tenant create other >/dev/null
cat >>"$ROOT/acme/tenant.conf" <<'CONF'
[caps]
capacity = 64M
volumes = 50
[serve]
attach = 127.0.0.1:10809
CONF
sv volume create other/theirs --size 1M >/dev/null

TOKEN=$(sv tenant token create acme)
OTHER=$(sv tenant token create other)
ADMIN=$(sv tenant token create other --scope admin --expires 12h)
REVOKED=$(sv tenant token create acme)
SHORT=$(sv tenant token create acme --expires 1s)
[[ $TOKEN =~ ^acme~[0-9a-f]{12}\.[0-9a-f]{64}$ ]] || fail "token format: $TOKEN"
sv tenant token revoke acme "${REVOKED%.*}" >/dev/null
sv tenant token list acme >"$TMP/list"
grep -q "${TOKEN%.*}" "$TMP/list" || fail "token list lacks the token"
grep -q "${REVOKED%.*}" "$TMP/list" && fail "token list shows a revoked token"
grep -q "${TOKEN#*.}" "$TMP/list" "$ROOT/acme/tokens.json" && fail "the secret is stored or listed"
[ "$(stat -c %a "$ROOT/acme/tokens.json")" = 600 ] || fail "tokens.json is not 0600"
expect_fail 2 "bad --expires" sv tenant token create acme --expires soon
expect_fail 2 "bad --scope" sv tenant token create acme --scope root

start_api "$CERTS/server"
api_pid=$API_PID port=${API_URL##*:} URL=$API_URL

# call TOKEN METHOD PATH [BODY]: the status in $status, the body in $TMP/body.
call () {
    local tok=$1 method=$2 path=$3
    shift 3
    status=$(curl -sS --cacert "$CERTS/ca/ca-cert.pem" -o "$TMP/body" \
        -w '%{http_code}' -X "$method" ${tok:+-H "Authorization: Bearer $tok"} \
        -H 'Content-Type: application/json' ${1+--data-binary "$1"} \
        --path-as-is "$URL$path")
}
expect () {
    [ "$status" = "$1" ] || fail "wanted $1, got $status: $(cat "$TMP/body")"
    [ -z "${2:-}" ] || grep -q "\"code\":\"$2\"" "$TMP/body" ||
        fail "wanted code $2: $(cat "$TMP/body")"
}
field () { $PY -c "import json,sys; print(json.load(open('$TMP/body'))$1)"; }

# Plain HTTP gets nowhere.
if curl -s -o /dev/null "http://127.0.0.1:$port/v1/capacity"; then
    fail "plain HTTP answered"
fi

# Authentication.
call "" GET /v1/capacity; expect 401 UNAUTHENTICATED
grep -q application/problem+json <(curl -sS -D - -o /dev/null --cacert "$CERTS/ca/ca-cert.pem" "$URL/v1/capacity") ||
    fail "a problem is not application/problem+json"
call "acme~000000000000.$(printf %064d 0)" GET /v1/capacity; expect 401 UNAUTHENTICATED
call "${TOKEN%.*}.$(printf %064d 1)" GET /v1/capacity; expect 401 UNAUTHENTICATED
call "$REVOKED" GET /v1/capacity; expect 401 UNAUTHENTICATED
sleep 1.1
call "$SHORT" GET /v1/capacity; expect 401 UNAUTHENTICATED
grep -q "token expired" "$TMP/body" || fail "expired token: $(cat "$TMP/body")"
status=$(curl -sS --cacert "$CERTS/ca/ca-cert.pem" -o /dev/null -w '%{http_code}' \
    "$URL/v1/capacity?access_token=$TOKEN")
[ "$status" = 401 ] || fail "a token in the URL was taken"

# The limits.
head -c 10M /dev/zero | tr '\0' x >"$TMP/big"
status=$(curl -sS --cacert "$CERTS/ca/ca-cert.pem" -o "$TMP/body" -w '%{http_code}' \
    -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/big" "$URL/v1/volumes")
expect 413
call "$TOKEN" POST /v1/volumes '{"name": "x", "size": '; expect 400 INVALID_ARGUMENT
call "$TOKEN" POST /v1/volumes '[1]'; expect 400 INVALID_ARGUMENT
call "$TOKEN" POST /v1/volumes '{"name": "../etc", "size": 1048576}'; expect 400 INVALID_ARGUMENT
call "$TOKEN" GET /v1/volumes/../../other/volumes; expect 400 INVALID_ARGUMENT
call "$TOKEN" GET /v1/volumes/..; expect 400 INVALID_ARGUMENT
call "$TOKEN" POST /v1/volumes '{"name": "v", "size": 1000}'; expect 400 OUT_OF_RANGE
call "$TOKEN" POST /v1/volumes '{"name": "v", "size": 1048576, "cipher": "none"}'; expect 400 INVALID_ARGUMENT
call "$TOKEN" POST /v1/volumes '{"name": "v", "size": 1048576, "service_type": "gold"}'; expect 400 INVALID_ARGUMENT
call "$TOKEN" GET /v1/nothing; expect 404 NOT_FOUND
call "$TOKEN" PUT /v1/volumes; expect 405

# Capacity against [caps], before and after.
call "$TOKEN" GET /v1/capacity; expect 200
[ "$(field "['capacity_bytes']")" = 67108864 ] || fail "capacity_bytes: $(cat "$TMP/body")"
[ "$(field "['available_bytes']")" = 67108864 ] || fail "available_bytes: $(cat "$TMP/body")"
[ "$(field "['max_volumes']")" = 50 ] || fail "max_volumes: $(cat "$TMP/body")"
[ "$(field "['used_bytes']")" = 0 ] || fail "used_bytes: $(cat "$TMP/body")"
call "$OTHER" GET /v1/capacity; expect 200
[ "$(field "['capacity_bytes']")" = None ] || fail "no cap is not null: $(cat "$TMP/body")"

# Round trip.
call "$TOKEN" POST /v1/volumes '{"name": "db", "size": 4194304, "cipher": "xchacha20-poly1305"}'; expect 201
[ "$(field "['name']"),$(field "['size']"),$(field "['cipher']"),$(field "['service_type']"),$(field "['tenant']")" \
    = "db,4194304,xchacha20-poly1305,gp,acme" ] || fail "created: $(cat "$TMP/body")"
[ "$(field "['attach']['host']"):$(field "['attach']['port']")" = 127.0.0.1:10809 ] ||
    fail "attach: $(cat "$TMP/body")"
id=$(field "['id']")
[ "$id" = "$(sv volume info acme/db --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["volume_id"])')" ] ||
    fail "id is not the superblock's volume id"
call "$TOKEN" POST /v1/volumes '{"name": "db", "size": 1048576, "cipher": "xchacha20-poly1305"}'; expect 200
[ "$(field "['id']")" = "$id" ] || fail "idempotent create gave another volume"
call "$TOKEN" POST /v1/volumes '{"name": "db", "size": 8388608, "cipher": "xchacha20-poly1305"}'; expect 409 ALREADY_EXISTS
call "$TOKEN" POST /v1/volumes '{"name": "db", "size": 1048576}'; expect 409 ALREADY_EXISTS
call "$TOKEN" GET /v1/volumes/db; expect 200
[ "$(field "['id']")" = "$id" ] || fail "get"
call "$TOKEN" PATCH /v1/volumes/db '{"size": 8388608}'; expect 200
[ "$(field "['size']")" = 8388608 ] || fail "resize: $(cat "$TMP/body")"
call "$TOKEN" PATCH /v1/volumes/db '{"size": 4194304}'; expect 400 OUT_OF_RANGE
call "$TOKEN" PATCH /v1/volumes/nope '{"size": 4194304}'; expect 404 NOT_FOUND
call "$TOKEN" PATCH /v1/volumes/db '{"size": 1073741824}'; expect 507 RESOURCE_EXHAUSTED
call "$TOKEN" GET /v1/capacity; expect 200
[ "$(field "['used_bytes']"),$(field "['volumes']"),$(field "['available_bytes']")" = "8388608,1,58720256" ] ||
    fail "capacity after create: $(cat "$TMP/body")"
call "$TOKEN" POST /v1/volumes '{"name": "huge", "size": 67108864}'; expect 507 RESOURCE_EXHAUSTED

# Another tenant's token sees none of acme's volumes: 404, not 403.
call "$OTHER" GET /v1/volumes/db; expect 404 NOT_FOUND
call "$OTHER" DELETE /v1/volumes/db; expect 204
call "$OTHER" PATCH /v1/volumes/db '{"size": 16777216}'; expect 404 NOT_FOUND
[ -d "$ROOT/acme/volumes/db" ] || fail "another tenant's token removed a volume"
call "$TOKEN" GET /v1/volumes/theirs; expect 404 NOT_FOUND

# Pagination: 7 volumes, pages of 3, sorted by name.
for v in a1 a2 a3 a4 a5 a6; do
    call "$TOKEN" POST /v1/volumes "{\"name\": \"$v\", \"size\": 65536}"; expect 201
done
names=; next=
while :; do
    call "$TOKEN" GET "/v1/volumes?limit=3${next:+&page_token=$next}"; expect 200
    names+=$(field "['volumes']" | $PY -c 'import ast,sys; print(" ".join(v["name"] for v in ast.literal_eval(sys.stdin.read())))')" "
    next=$(field "['next_page_token']")
    [ "$next" = None ] && break
done
[ "$names" = "a1 a2 a3 a4 a5 a6 db " ] || fail "pages: '$names'"
call "$TOKEN" GET "/v1/volumes?limit=0"; expect 400 INVALID_ARGUMENT

# Delete, idempotent.
call "$TOKEN" DELETE /v1/volumes/a1; expect 204
[ -e "$ROOT/acme/volumes/a1" ] && fail "deleted volume still there"
call "$TOKEN" DELETE /v1/volumes/a1; expect 204
call "$TOKEN" GET /v1/volumes/a1; expect 404 NOT_FOUND

# A per-volume delete credential: registered at create as a hash, it
# deletes its volume after the token that created it is revoked (the
# tenant's namespace and Secret are gone) and does nothing else.
NS=$(sv tenant token create acme)
DSECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
DSHA=$(printf %s "$DSECRET" | sha256sum | cut -c1-64)
DCRED=acme~${DSHA:0:12}.$DSECRET
call "$NS" POST /v1/volumes "{\"name\": \"dc1\", \"size\": 65536, \"delete_sha256\": \"$DSHA\"}"
expect 201
call "$NS" POST /v1/volumes "{\"name\": \"dc1\", \"size\": 65536, \"delete_sha256\": \"$DSHA\"}"
expect 200
grep -q "\"scope\": *\"delete\"" "$ROOT/acme/tokens.json" || fail "no delete credential stored"
grep -qF "$DSECRET" "$ROOT/acme/tokens.json" && fail "the delete credential's secret is stored"
call "$NS" POST /v1/volumes '{"name": "dc2", "size": 65536, "delete_sha256": "ABC"}'
expect 400 INVALID_ARGUMENT
call "$NS" POST /v1/volumes "{\"name\": \"dc2\", \"size\": 65536, \"delete_sha256\": \"${TOKEN:5:12}${DSHA:12}\"}"
expect 409 ALREADY_EXISTS
sv tenant token revoke acme "${NS%.*}" >/dev/null
call "$DCRED" GET /v1/volumes; expect 403 PERMISSION_DENIED
call "$DCRED" GET /v1/volumes/dc1; expect 403 PERMISSION_DENIED
call "$DCRED" GET /v1/capacity; expect 403 PERMISSION_DENIED
call "$DCRED" POST /v1/volumes '{"name": "dc3", "size": 65536}'; expect 403 PERMISSION_DENIED
call "$DCRED" PATCH /v1/volumes/dc1 '{"size": 131072}'; expect 403 PERMISSION_DENIED
call "$DCRED" DELETE /v1/volumes/a2; expect 403 PERMISSION_DENIED
[ -e "$ROOT/acme/volumes/a2" ] || fail "a delete credential deleted another volume"
call "$DCRED" DELETE /v1/volumes/theirs; expect 403 PERMISSION_DENIED
call "$DCRED" DELETE /v1/volumes/dc1; expect 204
[ -e "$ROOT/acme/volumes/dc1" ] && fail "the delete credential did not delete its volume"
call "$DCRED" DELETE /v1/volumes/dc1; expect 204
# A new volume of the same name is not the credential's.
call "$TOKEN" POST /v1/volumes '{"name": "dc1", "size": 65536}'; expect 201
call "$DCRED" DELETE /v1/volumes/dc1; expect 204
[ -e "$ROOT/acme/volumes/dc1" ] || fail "a stale delete credential deleted a new volume"
grep '"event":"api-volume-delete"' "$ROOT/acme/log/audit.log" |
    grep -q "\"token\":\"${DCRED%.*}\"" || fail "no audit line of the credential's delete"

# Admin scope: tenants.
call "$TOKEN" POST /v1/tenants '{"name": "newco"}'; expect 403 PERMISSION_DENIED
call "$ADMIN" POST /v1/tenants '{"name": "newco"}'; expect 201
[ -f "$ROOT/newco/tenant.conf" ] || fail "tenant not created"
call "$ADMIN" POST /v1/tenants '{"name": "newco"}'; expect 409 ALREADY_EXISTS
# Admin scope: the token's tenant's key rotation; its volume still opens.
call "$OTHER" POST /v1/tenant/rotate-key '{}'; expect 403 PERMISSION_DENIED
call "$ADMIN" POST /v1/tenant/rotate-key '{}'; expect 200
[ "$(field '["key_version"]')" = 2 ] || fail "rotate-key: $(cat "$TMP/body")"
sv volume info other/theirs --json | grep -q '"tenant_key_version": 2' || fail "API rotation did not re-wrap"
call "$OTHER" GET /v1/volumes/theirs; expect 200

# 200 concurrent creates of one name: one volume, the API stays up.
for i in $(seq 200); do
    curl -sS --cacert "$CERTS/ca/ca-cert.pem" -o /dev/null -w '%{http_code}\n' \
        -H "Authorization: Bearer $TOKEN" \
        --data-binary '{"name": "race", "size": 65536}' "$URL/v1/volumes" &
done >"$TMP/race" 2>&1
wait_all=$(jobs -p | grep -v "^$api_pid$" || true)
for p in $wait_all; do wait "$p" || true; done
kill -0 $api_pid || fail "the API died under concurrent creates"
grep -vxE '200|201|409' "$TMP/race" && fail "concurrent creates: unexpected answers"
[ "$(grep -cx 201 "$TMP/race")" = 1 ] || fail "concurrent creates: $(sort "$TMP/race" | uniq -c)"
[ "$(ls "$ROOT/acme/volumes" | grep -c race)" = 1 ] || fail "more than one volume 'race'"
call "$TOKEN" GET /v1/volumes/race; expect 200

# Audit: each mutation one line, with the token id and never its secret.
audit=$ROOT/acme/log/audit.log
grep '"event":"api-volume-create"' "$audit" | grep -q "\"token\":\"${TOKEN%.*}\"" ||
    fail "no audit line of a create with the token id"
grep '"event":"api-volume-delete"' "$audit" | grep -q '"status":204' || fail "no delete audit"
grep -q '"event":"api-auth-failed"' "$audit" || fail "failed authentication not audited"
for secret in "${TOKEN#*.}" "${OTHER#*.}" "${ADMIN#*.}" "${REVOKED#*.}" "${SHORT#*.}" \
              "$DSECRET"; do
    grep -rqF "$secret" "$ROOT" "$TMP/api.log" && fail "a token's secret is in a log or file"
done

# Failed authentications from one address are throttled: 429 past the burst.
for i in $(seq 12); do call "acme~000000000000.$(printf %064d "$i")" GET /v1/capacity; done
expect 429 RESOURCE_EXHAUSTED
call "$TOKEN" GET /v1/capacity; expect 429

kill $api_pid; wait $api_pid 2>/dev/null || true
echo "ok: api"
