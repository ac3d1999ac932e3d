#!/usr/bin/env bash
# Self-test of the local GCS stand-in (tests/server/gcs-server): starts it with
# both profiles and once with TLS, and checks every documented behaviour with
# curl, comparing against python3-computed hashes and the files' own bytes.
# Last line: "N passed, M failed"; exit status non-zero on any failure.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVER=$HERE/gcs-server
PY=(python3 "$HERE/gcscheck.py")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gcs-selftest.XXXXXX")
DATA=$WORK/data
B=bkt
PASS=0
FAIL=0
STATES=()

cleanup() {
    local s
    for s in "${STATES[@]}"; do "$SERVER" stop --state "$s" >/dev/null 2>&1; done
    rm -rf "$WORK"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1${2:+ ($2)}"; }
# check NAME COMMAND...: passes when COMMAND succeeds.
check() { local n=$1; shift; if "$@"; then ok "$n"; else bad "$n"; fi; }
# eq NAME GOT WANT
eq() { if [ "$2" == "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi; }
# ge NAME A B: float A >= B
ge() {
    if awk -v a="$2" -v b="$3" 'BEGIN { exit !(a >= b) }'; then ok "$1"
    else bad "$1" "$2 < $3"; fi
}
lt() {
    if awk -v a="$2" -v b="$3" 'BEGIN { exit !(a < b) }'; then ok "$1"
    else bad "$1" "$2 >= $3"; fi
}

start() { # start STATE ARGS... -> sets $EP
    STATES+=("$1")
    local state=$1; shift
    if ! EP=$("$SERVER" start --data "$DATA" --state "$state" "$@" 2>"$WORK/start.err"); then
        bad "start $*" "$(cat "$WORK/start.err")"
        echo "$PASS passed, $FAIL failed"
        exit 1
    fi
}

C=(curl -s --max-time 20)
# enc NAME [keep-slash]: percent-encode every byte but RFC 3986 unreserved
# ones (in bash: a python3 start per URL would dominate the run time).
enc() {
    local LC_ALL=C s=$1 keep=${2:-} out="" c h i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [a-zA-Z0-9._~-]) out+=$c ;;
            /) if [ -n "$keep" ]; then out+=/; else out+=%2F; fi ;;
            *) printf -v h '%%%02X' "'$c"; out+=$h ;;
        esac
    done
    echo "$out"
}
meta_url() { echo "$EP/storage/v1/b/$B/o/$(enc "$1")"; }
media_url() { echo "$EP/download/storage/v1/b/$B/o/$(enc "$1")?alt=media"; }
http_url() { echo "$EP/http/$B/$(enc "$1" keep)"; }
# jget KEY <json: a flat top-level string or number field (the structured
# checks go through gcscheck.py).
jget() { sed -n 's/.*"'"$1"'":"\{0,1\}\([^",}]*\).*/\1/p' | head -n 1; }
ctl() { "${C[@]}" "${CTLOPTS[@]}" -o /dev/null "$EP/_control/$1"; }
CTLOPTS=()
gen_of() { "${C[@]}" "$(meta_url "$1")" | jget generation; }
# slice FILE FIRST LAST: the bytes FIRST..LAST inclusive
slice() { tail -c +$(($2 + 1)) "$1" | head -c $(($3 - $2 + 1)); }
hdr() { grep -i "^$2:" "$1" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# ---------------------------------------------------------------- data
mkdir -p "$DATA/$B/dir/sub"
echo "outside any bucket" >"$DATA/secret"
: >"$DATA/$B/empty"
head -c 1 /dev/urandom >"$DATA/$B/one"
head -c 4095 /dev/urandom >"$DATA/$B/odd"
head -c $((5 * 1024 * 1024 + 1)) /dev/urandom >"$DATA/$B/big"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$DATA/$B/big20"
NAMES=(empty one odd big "dir/sub/nested.bin" "with space.bin" "hash#tag" "what?q=1"
       "pct%41%2F" "plus+sign" "utf8-ünï-日本.bin")
for n in "dir/sub/nested.bin" "with space.bin" "hash#tag" "what?q=1" "pct%41%2F" \
         "plus+sign" "utf8-ünï-日本.bin"; do
    head -c $((RANDOM % 3000 + 1)) /dev/urandom >"$DATA/$B/$n"
done
BIG=$DATA/$B/big
BIGSIZE=$(stat -c %s "$BIG")

# ================================================================ unshaped
start "$WORK/st-u" --profile unshaped
check "endpoint is http://127.0.0.1:PORT" grep -qE '^http://127\.0\.0\.1:[0-9]+$' <<<"$EP"
eq "endpoint file matches stdout" "$(cat "$WORK/st-u/endpoint")" "$EP"
eq "unshaped profile has no ttfb/rate" \
    "$("${C[@]}" "$EP/_control/config" | jget ttfb_ms),$("${C[@]}" "$EP/_control/config" | jget rate)" "0,0"

# ---- metadata, media and /http for every object
for n in "${NAMES[@]}"; do
    f=$DATA/$B/$n
    if res=$("${C[@]}" "$(meta_url "$n")" | "${PY[@]}" meta "$f" "$B" "$n" 2>"$WORK/err"); then
        ok "metadata fields and hashes: $n"
    else
        bad "metadata fields and hashes: $n" "$(tr '\n' ';' <"$WORK/err")"
        res="- -"
    fi
    gen=${res% *} hashes=${res#* }
    code=$("${C[@]}" -D "$WORK/h" -o "$WORK/body" -w '%{http_code}' "$(media_url "$n")")
    if [ "$code" = 200 ] && cmp -s "$WORK/body" "$f"; then ok "media full body: $n"
    else bad "media full body: $n" "status $code"; fi
    eq "media x-goog-generation: $n" "$(hdr "$WORK/h" x-goog-generation)" "$gen"
    eq "media x-goog-hash: $n" "$(hdr "$WORK/h" x-goog-hash)" "$hashes"
    code=$("${C[@]}" -o "$WORK/body" -w '%{http_code}' "$(http_url "$n")")
    if [ "$code" = 200 ] && cmp -s "$WORK/body" "$f"; then ok "/http full body: $n"
    else bad "/http full body: $n" "status $code"; fi
done

# ---- ranges
for r in 0-0 0-4094 100-199 $((BIGSIZE - 1))-$((BIGSIZE - 1)) 5242000- -10 \
         1048576-3145727 0-99999999; do
    case $r in
        -*) first=$((BIGSIZE - ${r#-})); last=$((BIGSIZE - 1)) ;;
        *-) first=${r%-}; last=$((BIGSIZE - 1)) ;;
        *) first=${r%-*}; last=${r#*-}; [ "$last" -ge "$BIGSIZE" ] && last=$((BIGSIZE - 1)) ;;
    esac
    slice "$BIG" "$first" "$last" >"$WORK/want"
    for kind in media http; do
        url=$(${kind}_url big)
        code=$("${C[@]}" -D "$WORK/h" -o "$WORK/body" -w '%{http_code}' -H "Range: bytes=$r" "$url")
        cr=$(hdr "$WORK/h" content-range)
        if [ "$code" = 206 ] && [ "$cr" = "bytes $first-$last/$BIGSIZE" ] && cmp -s "$WORK/body" "$WORK/want"; then
            ok "$kind range $r"
        else
            bad "$kind range $r" "status $code, content-range '$cr'"
        fi
    done
done
eq "range at end of object -> 416" \
    "$("${C[@]}" -o /dev/null -w '%{http_code}' -H "Range: bytes=$BIGSIZE-" "$(media_url big)")" 416
eq "range past end of 4095-byte object -> 416" \
    "$("${C[@]}" -o /dev/null -w '%{http_code}' -H "Range: bytes=4095-5000" "$(media_url odd)")" 416

# ---- 404s and generations
code=$("${C[@]}" -o "$WORK/body" -w '%{http_code}' "$(meta_url missing)")
eq "missing object metadata -> 404" "$code" 404
eq "404 error.code" "$("${PY[@]}" field error.code <"$WORK/body")" 404
eq "404 error.message" "$("${PY[@]}" field error.message <"$WORK/body")" "No such object: $B/missing"
eq "404 errors[0].reason" "$("${PY[@]}" field error.errors.0.reason <"$WORK/body")" notFound
eq "missing object media -> 404" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(media_url missing)")" 404
eq "directory is not an object -> 404" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(meta_url dir)")" 404

n="dir/sub/nested.bin"; f=$DATA/$B/$n
g1=$(gen_of "$n")
eq "metadata with matching generation" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(meta_url "$n")?generation=$g1")" 200
eq "media with matching generation" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(media_url "$n")&generation=$g1")" 200
eq "metadata with wrong generation -> 404" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(meta_url "$n")?generation=1$g1")" 404
eq "media with wrong generation -> 404" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(media_url "$n")&generation=1$g1")" 404

etag1=$("${C[@]}" -I "$(http_url "$n")" | hdr /dev/stdin etag)
eq "/http If-Match current ETag -> 200" "$("${C[@]}" -o /dev/null -w '%{http_code}' -H "If-Match: $etag1" "$(http_url "$n")")" 200
eq "/http If-Match stale ETag -> 412" "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'If-Match: "1-2"' "$(http_url "$n")")" 412
eq "/http HEAD Content-Length" "$("${C[@]}" -I "$(http_url "$n")" | hdr /dev/stdin content-length)" "$(stat -c %s "$f")"

# Replace by write-to-temp-then-rename.
head -c 2000 /dev/urandom >"$WORK/tmpobj" && mv "$WORK/tmpobj" "$f"
g2=$(gen_of "$n")
check "rename-replace changes generation" test -n "$g2" -a "$g2" != "$g1"
eq "old generation media -> 404" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(media_url "$n")&generation=$g1")" 404
eq "old generation metadata -> 404" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(meta_url "$n")?generation=$g1")" 404
check "new content hashes after replace" "${PY[@]}" meta "$f" "$B" "$n" < <("${C[@]}" "$(meta_url "$n")") >/dev/null
eq "/http If-Match pre-replace ETag -> 412" "$("${C[@]}" -o /dev/null -w '%{http_code}' -H "If-Match: $etag1" "$(http_url "$n")")" 412
# Overwrite in place, same size.
head -c 100 /dev/urandom | dd of="$f" conv=notrunc status=none
g3=$(gen_of "$n")
check "in-place overwrite changes generation" test -n "$g3" -a "$g3" != "$g2"
check "hashes follow in-place overwrite" "${PY[@]}" meta "$f" "$B" "$n" < <("${C[@]}" "$(meta_url "$n")") >/dev/null
# Replace with a file whose mtime was preserved: only the inode differs.
cp "$f" "$WORK/tmpobj" && touch -r "$f" "$WORK/tmpobj" && mv "$WORK/tmpobj" "$f"
g4=$(gen_of "$n")
check "rename-replace with preserved mtime changes generation" test -n "$g4" -a "$g4" != "$g3"

# ---- objects.list: prefixes vs items, paging with an opaque token
# list_names QUERY: every page of the listing (following nextPageToken),
# printed as "P name" (prefix) or "I name size" lines, in page order.
list_names() {
    python3 - "$EP/storage/v1/b/$B/o" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
base, query = sys.argv[1], sys.argv[2]
token = None
while True:
    q = query + ("&pageToken=" + urllib.parse.quote(token, safe="") if token else "")
    page = json.load(urllib.request.urlopen(base + "?" + q))
    for p in page.get("prefixes", []): print("P", p)
    for i in page.get("items", []): print("I", i["name"], i["size"])
    token = page.get("nextPageToken")
    if not token: break
PY
}
want_top=$(cd "$DATA/$B" && find . -maxdepth 1 -type f | sed 's|^\./||' | LC_ALL=C sort |
           while IFS= read -r n; do echo "I $n $(stat -c %s "$n")"; done)
got=$(list_names "delimiter=%2F" | grep '^I' | LC_ALL=C sort)
eq "list with delimiter: top-level items" "$got" "$(LC_ALL=C sort <<<"$want_top")"
eq "list with delimiter: one prefix" "$(list_names "delimiter=%2F" | grep '^P')" "P dir/"
eq "list prefix=dir/ recursive" "$(list_names "prefix=dir%2F")" "I dir/sub/nested.bin $(stat -c %s "$DATA/$B/dir/sub/nested.bin")"
eq "list prefix=dir/ with delimiter" "$(list_names "prefix=dir%2F&delimiter=%2F")" "P dir/sub/"
all=$(list_names "" | cut -d' ' -f2- )
eq "list recursive has every object" "$(wc -l <<<"$all")" "$(find "$DATA/$B" -type f | wc -l)"
eq "maxResults=2 pages give the same names" "$(list_names "maxResults=2" | cut -d' ' -f2-)" "$all"
eq "maxResults=2 page has 2 entries and a token" \
    "$("${C[@]}" "$EP/storage/v1/b/$B/o?maxResults=2" | python3 -c 'import json,sys; p=json.load(sys.stdin); print(len(p["items"]), bool(p["nextPageToken"]))')" "2 True"
ctl "config?list_max=3"
eq "list_max knob caps a page" \
    "$("${C[@]}" "$EP/storage/v1/b/$B/o" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" 3
ctl "config?list_max=1000"
eq "list of a missing bucket is 404" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$EP/storage/v1/b/nobucket/o")" 404
eq "list with an unmatched prefix is empty" "$(list_names "prefix=zzz")" ""

# ---- path traversal
eq "meta ..%2F traversal -> 400" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$EP/storage/v1/b/$B/o/..%2Fsecret")" 400
eq "media %2E%2E%2F traversal -> 400" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$EP/download/storage/v1/b/$B/o/%2E%2E%2Fsecret?alt=media")" 400
eq "bucket .. -> 400" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$EP/storage/v1/b/%2E%2E/o/secret")" 400
code=$("${C[@]}" --path-as-is -o "$WORK/body" -w '%{http_code}' "$EP/http/$B/../secret")
check "/http ../ traversal refused (got $code)" test "$code" != 200 -a "$code" != 206

# ---- keep-alive and the request log
before=$(wc -l <"$WORK/st-u/requests.log")
"${C[@]}" -o /dev/null -o /dev/null "$(meta_url one)" "$(media_url one)"
sleep 0.05
tail -n +$((before + 1)) "$WORK/st-u/requests.log" >"$WORK/lines"
eq "two requests on one connection logged" "$(wc -l <"$WORK/lines")" 2
eq "same connection id" "$(sed -n 1p "$WORK/lines" | jget connection)" "$(sed -n 2p "$WORK/lines" | jget connection)"
eq "connection_requests counts up" "$(sed -n 2p "$WORK/lines" | jget connection_requests)" 2
eq "log keeps the original request_uri" "$(sed -n 2p "$WORK/lines" | jget request_uri)" "/download/storage/v1/b/$B/o/one?alt=media"
"${C[@]}" -o /dev/null -H 'Range: bytes=5-9' "$(media_url big)"
sleep 0.05
eq "log records the Range header" "$(tail -1 "$WORK/st-u/requests.log" | jget range)" "bytes=5-9"
eq "log records status" "$(tail -1 "$WORK/st-u/requests.log" | jget status)" 206
eq "log records body_bytes_sent" "$(tail -1 "$WORK/st-u/requests.log" | jget body_bytes_sent)" 5
if nlines=$("${PY[@]}" log "$WORK/st-u/requests.log" 2>"$WORK/err"); then ok "all $nlines log lines are JSON with the required fields, no /_control"
else bad "log lines valid" "$(tr '\n' ';' <"$WORK/err")"; fi

# ---- control endpoint and stats
eq "unknown knob -> 400" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$EP/_control/config?bogus=1")" 400
eq "bad knob value -> 400" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$EP/_control/config?fault_kind=explode")" 400
eq "rate accepts nginx suffixes" "$("${C[@]}" "$EP/_control/config?rate=10m" | jget rate)" $((10 * 1024 * 1024))
ctl reset
eq "reset restores profile rate" "$("${C[@]}" "$EP/_control/config" | jget rate)" 0
"${C[@]}" -o /dev/null "$(meta_url one)"; "${C[@]}" -o /dev/null "$(meta_url odd)"
"${C[@]}" -o /dev/null "$(media_url one)"; "${C[@]}" -o /dev/null "$(media_url odd)"
"${C[@]}" -o /dev/null -H 'Range: bytes=0-99' "$(media_url big)"; "${C[@]}" -o /dev/null "$(http_url odd)"
"${C[@]}" "$EP/_control/stats" >"$WORK/stats"
eq "stats requests" "$(jget requests <"$WORK/stats")" 6
eq "stats metadata_requests" "$(jget metadata_requests <"$WORK/stats")" 2
eq "stats media_requests" "$(jget media_requests <"$WORK/stats")" 3
eq "stats http_requests" "$(jget http_requests <"$WORK/stats")" 1
metabytes=$(tail -6 "$WORK/st-u/requests.log" | head -2 | while read -r l; do jget body_bytes_sent <<<"$l"; done | awk '{ s += $1 } END { print s }')
eq "stats body_bytes_sent" "$(jget body_bytes_sent <"$WORK/stats")" $((metabytes + 1 + 4095 + 100 + 4095))

# ---- faults
ctl "config?fault_next=2&fault_status=503&fault_retry_after=7"
codes=""
for i in 1 2 3; do
    codes+="$("${C[@]}" -D "$WORK/h$i" -o "$WORK/body$i" -w '%{http_code}' "$(media_url one)") "
done
eq "fault_next=2 -> two 503s then 200" "$codes" "503 503 200 "
eq "fault Retry-After header" "$(hdr "$WORK/h1" retry-after)" 7
eq "fault body is GCS error JSON" "$("${PY[@]}" field error.code <"$WORK/body1")" 503
eq "fault_next does not hit metadata (fault_on=media)" \
    "$(ctl "config?fault_next=1"; "${C[@]}" -o /dev/null -w '%{http_code}' "$(meta_url one)")" 200
ctl reset

ctl "config?fault_on=meta&fault_ratio=1&fault_status=429"
eq "fault_on=meta: metadata gets 429" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(meta_url one)")" 429
eq "fault_on=meta: media unaffected" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(media_url one)")" 200
ctl "config?fault_on=all&fault_status=500"
eq "fault_on=all: /http gets 500" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(http_url one)")" 500
ctl "config?fault_match=nested&fault_on=media"
eq "fault_match hits matching name" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(media_url "dir/sub/nested.bin")")" 500
eq "fault_match spares other names" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(media_url one)")" 200
ctl reset
ctl "config?fault_from=1000&fault_ratio=1"
eq "fault_from spares a range before it" "$("${C[@]}" -o /dev/null -w '%{http_code}' -r 999-2000 "$(media_url big)")" 206
eq "fault_from spares a request without a range" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(media_url one)")" 200
eq "fault_from hits a range from it" "$("${C[@]}" -o /dev/null -w '%{http_code}' -r 1000-2000 "$(media_url big)")" 503
ctl reset

ratio_run() {
    ctl "config?fault_ratio=0.5&seed=42"
    local i s=""
    for i in $(seq 1 30); do
        s+=$("${C[@]}" -o /dev/null -w '%{http_code}' "$(media_url one)" | cut -c1)
    done
    echo "$s"
}
seq1=$(ratio_run); seq2=$(ratio_run)
nf=$(tr -cd 5 <<<"$seq1" | wc -c)
check "fault_ratio=0.5 faults some but not all of 30 ($nf)" test "$nf" -ge 5 -a "$nf" -le 25
eq "same seed gives the same fault sequence" "$seq2" "$seq1"
ctl reset

# cut: half the body, then the connection closes. No resets from here to the
# stats check, so the per-kind fault counters add up.
ctl "config?fault_next=1&fault_kind=cut"
rc=0; out=$("${C[@]}" -o "$WORK/body" -w '%{http_code} %{size_download}' "$(media_url big)") || rc=$?
eq "cut: curl sees a short body (exit 18)" "$rc" 18
eq "cut: status and bytes received (half)" "$out" "200 $((BIGSIZE / 2))"
check "cut: the bytes that did arrive are right" cmp -s "$WORK/body" <(head -c $((BIGSIZE / 2)) "$BIG")
ctl "config?fault_next=1&cut_at=1000"
rc=0; out=$("${C[@]}" -o "$WORK/body" -w '%{http_code} %{size_download}' -H 'Range: bytes=10-9999' "$(media_url big)") || rc=$?
eq "cut_at=1000 on a range: exit 18, 1000 bytes" "$rc $out" "18 206 1000"
check "cut_at: bytes are the range's first 1000" cmp -s "$WORK/body" <(slice "$BIG" 10 1009)
ctl "config?fault_next=1&cut_at=-1&fault_on=meta"
rc=0; "${C[@]}" -o /dev/null "$(meta_url one)" || rc=$?
eq "cut on metadata: short body (exit 18)" "$rc" 18

# stall: part, pause, rest
ctl "config?fault_next=1&fault_kind=stall&stall_ms=300&fault_on=media"
out=$("${C[@]}" -o "$WORK/body" -w '%{http_code} %{time_total}' -H 'Range: bytes=0-99999' "$(media_url big)")
eq "stall: 206" "${out% *}" 206
ge "stall: took >= 300 ms" "${out#* }" 0.3
check "stall: body intact" cmp -s "$WORK/body" <(slice "$BIG" 0 99999)

# reset: no response at all
ctl "config?fault_next=1&fault_kind=reset"
rc=0; out=$("${C[@]}" -o "$WORK/body" -w '%{size_download}' "$(media_url one)") || rc=$?
eq "reset: curl sees an empty reply (exit 52)" "$rc $out" "52 0"
eq "reset: next request is fine" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$(media_url one)")" 200

# long: more bytes than the range asked for
ctl "config?fault_next=1&fault_kind=long"
out=$("${C[@]}" -D "$WORK/h" -o "$WORK/body" -w '%{http_code} %{size_download}' -H 'Range: bytes=100-199' "$(media_url big)")
eq "long: 206 with 100 + 1024 bytes" "$out" "206 1124"
eq "long: Content-Range still claims the asked range" "$(hdr "$WORK/h" content-range)" "bytes 100-199/$BIGSIZE"
check "long: starts with the right bytes" cmp -s <(head -c 100 "$WORK/body") <(slice "$BIG" 100 199)
eq "faults are marked in the log" "$(tail -1 "$WORK/st-u/requests.log" | jget fault)" long

# redirect: 307 to the same URI on the other of 127.0.0.1 and localhost
ctl "config?fault_next=1&fault_kind=redirect"
"${C[@]}" -D "$WORK/h" -o /dev/null "$(http_url one)"
eq "redirect fault: 307 to localhost, same URI" "$(head -1 "$WORK/h" | cut -d' ' -f2) $(hdr "$WORK/h" location)" \
    "307 ${EP/127.0.0.1/localhost}/http/$B/one"
eq "redirect fault: the log has the Host" "$(tail -1 "$WORK/st-u/requests.log" | jget host)" "${EP#http://}"

"${C[@]}" "$EP/_control/stats" >"$WORK/stats"
eq "stats faults per kind" "$("${PY[@]}" field faults <"$WORK/stats")" \
    '{"status": 0, "cut": 3, "stall": 1, "reset": 1, "long": 1, "redirect": 1}'

# The redirector: /redirect/CODE/N/PATH, N hops to /PATH (query kept)
"${C[@]}" -D "$WORK/h" -o /dev/null "$EP/redirect/308/2/http/$B/one?x=1"
eq "redirector: CODE to N-1" "$(head -1 "$WORK/h" | cut -d' ' -f2) $(hdr "$WORK/h" location)" \
    "308 $EP/redirect/308/1/http/$B/one?x=1"
eq "redirector: a decoy ETag" "$(hdr "$WORK/h" etag)" '"redirect-decoy"'
out=$("${C[@]}" -L -o "$WORK/body" -w '%{num_redirects} %{url_effective}' "$EP/redirect/301/3/$(media_url one | cut -d/ -f4-)")
eq "redirector: 3 hops to the object" "$out" "3 $(media_url one)"
check "redirector: its bytes" cmp -s "$WORK/body" "$DATA/$B/one"
"${C[@]}" -D "$WORK/h" -o /dev/null "$EP/redirect/302/loop-b/x/y"
eq "redirector: loop-b to loop" "$(hdr "$WORK/h" location)" "$EP/redirect/302/loop/x/y"
eq "redirector: a bad code is 400" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$EP/redirect/200/1/x")" 400
ctl "config?redirect_host=localhost:1"
"${C[@]}" -D "$WORK/h" -o /dev/null "$EP/redirect/302/loop/x/y"
eq "redirect_host knob" "$(hdr "$WORK/h" location)" "http://localhost:1/redirect/302/loop-b/x/y"
eq "redirect_requests counted" "$("${C[@]}" "$EP/_control/stats" | jget redirect_requests)" 7
# long_extra / long_length: 11 bytes more, Content-Length saying the asked
# size (curl stops there) or none (chunked: curl takes them all)
ctl "config?fault_next=1&fault_kind=long&long_extra=11&long_length=asked"
out=$("${C[@]}" -D "$WORK/h" -o /dev/null -w '%{http_code} %{size_download}' -H 'Range: bytes=100-199' "$(media_url big)")
eq "long asked: Content-Length 100" "$out $(hdr "$WORK/h" content-length)" "206 100 100"
ctl "config?fault_next=1&fault_kind=long&long_extra=11&long_length=none"
out=$("${C[@]}" -D "$WORK/h" -o "$WORK/body" -w '%{http_code} %{size_download}' -H 'Range: bytes=100-199' "$(media_url big)")
eq "long none: chunked, 111 bytes" "$out $(hdr "$WORK/h" transfer-encoding)" "206 111 chunked"
check "long none: starts with the right bytes" cmp -s <(head -c 100 "$WORK/body") <(slice "$BIG" 100 199)
ctl reset
pid=$(cat "$WORK/st-u/nginx.pid")
"$SERVER" stop --state "$WORK/st-u"
# A zombie counts as gone: reaping it is up to whoever inherited the daemon.
check "stop: master process gone" bash -c "! ps -o stat= -p $pid | grep -qv '^Z'"
check "stop: port no longer answers" bash -c "! curl -s --max-time 2 -o /dev/null '$EP/_control/stats'"
check "stop again is a no-op (exit 0)" "$SERVER" stop --state "$WORK/st-u"
check "stop of a never-used state dir (exit 0)" "$SERVER" stop --state "$WORK/nothing-here"

# ================================================================ gcs profile
start "$WORK/st-g" --profile gcs
eq "gcs profile ttfb_ms" "$("${C[@]}" "$EP/_control/config" | jget ttfb_ms)" 38
t=$("${C[@]}" -o /dev/null -w '%{time_starttransfer}' "$(meta_url one)")
ge "gcs: metadata time to first byte >= 38 ms" "$t" 0.038
t=$("${C[@]}" -o /dev/null -w '%{time_starttransfer}' -H 'Range: bytes=0-9' "$(media_url big)")
ge "gcs: media time to first byte >= 38 ms" "$t" 0.038
"${C[@]}" -o /dev/null "$(meta_url big20)"   # hash it now, outside the timing
out=$("${C[@]}" -o "$WORK/body" -w '%{time_starttransfer} %{time_total}' "$(media_url big20)")
xfer=$(awk -v a="${out% *}" -v b="${out#* }" 'BEGIN { print b - a }')
ge "gcs: 20 MiB at 220m takes >= 80 ms after the first byte" "$xfer" 0.08
check "gcs: rate-limited body intact" cmp -s "$WORK/body" "$DATA/$B/big20"
ctl "config?ttfb_ms=0&rate=0"
t=$("${C[@]}" -o /dev/null -w '%{time_starttransfer}' "$(meta_url one)")
lt "ttfb_ms=0 at runtime removes the delay" "$t" 0.03
ctl "config?rate=50m"
t=$("${C[@]}" -o /dev/null -w '%{time_total}' "$(media_url big20)")
ge "rate=50m at runtime: 20 MiB takes >= 0.3 s" "$t" 0.3
ctl reset
eq "reset restores gcs rate" "$("${C[@]}" "$EP/_control/config" | jget rate)" $((220 * 1024 * 1024))
# A taken port must fail cleanly.
port=${EP##*:}
rc=0; "$SERVER" start --data "$DATA" --state "$WORK/st-busy" --port "$port" >/dev/null 2>"$WORK/err" || rc=$?
STATES+=("$WORK/st-busy")
check "start on a busy port fails (exit $rc)" test "$rc" -ne 0
check "busy-port failure explains itself" grep -q "Address already in use" "$WORK/err"
rc=0; "$SERVER" start --data "$DATA" --state "$WORK/st-g" >/dev/null 2>&1 || rc=$?
check "second start on a running state dir fails" test "$rc" -ne 0
"$SERVER" stop --state "$WORK/st-g"

# ================================================================ TLS
start "$WORK/st-t" --profile unshaped --tls
check "TLS endpoint is https" grep -qE '^https://127\.0\.0\.1:[0-9]+$' <<<"$EP"
C=(curl -s --max-time 20 --cacert "$WORK/st-t/ca.pem")
out=$("${C[@]}" --http2 -o "$WORK/body" -w '%{http_code} %{http_version}' "$(meta_url big)")
eq "TLS: metadata over HTTP/2 with ca.pem" "$out" "200 2"
check "TLS: metadata hashes" "${PY[@]}" meta "$BIG" "$B" big <"$WORK/body" >/dev/null
out=$("${C[@]}" --http2 -o "$WORK/body" -w '%{http_code} %{http_version}' -H 'Range: bytes=1000-2000000' "$(media_url big)")
eq "TLS: range over HTTP/2" "$out" "206 2"
check "TLS: range bytes" cmp -s "$WORK/body" <(slice "$BIG" 1000 2000000)
out=$("${C[@]}" --http1.1 -o "$WORK/body" -w '%{http_code} %{http_version}' "$(media_url big)")
eq "TLS: HTTP/1.1 still works" "$out" "200 1.1"
check "TLS: full body" cmp -s "$WORK/body" "$BIG"
ctl "config?fault_next=1&fault_kind=cut"
rc=0; "${C[@]}" --http2 -o "$WORK/body" "$(media_url big)" || rc=$?
check "TLS: cut fault is an error over HTTP/2 (exit $rc)" test "$rc" -ne 0 -a "$(stat -c %s "$WORK/body")" -lt "$BIGSIZE"
eq "TLS: next request fine after cut" "$("${C[@]}" --http2 -o /dev/null -w '%{http_code}' "$(media_url one)")" 200
"$SERVER" stop --state "$WORK/st-t"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
