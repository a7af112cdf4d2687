#!/bin/bash
# vmeter-web against a real PostgreSQL, over real HTTP (curl): the first
# admin from the command line (no default password), passwords stored as
# Argon2id, login good and bad, the session cookie's attributes and only
# its hash stored, CSRF refused without and with a wrong token, API
# tokens, login rate limiting, a cross-tenant matrix (every endpoint x
# every role x every object: what each sees is computed here from the
# fixtures, and no body names another tenant's objects), bad and
# oversized requests answered with JSON, a slow client (a header byte a
# second) closed at its deadline while others are served, the connection
# cap, kept answers and principals (a revoked token refused at once, each
# tenant scope its own answer, a change shown once the kept answer is old),
# keep-alive, and SIGTERM.  Waits for states, never for times.
. "$(dirname "$0")/../lib.sh"

WEB=$top_builddir/web/vmeter-web
start_postgres
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
write_conf "$T/vmeter.conf" "web {
  listen = \"127.0.0.1:$PORT\"
  threads = 2
  max-connections = 24
  max-header-bytes = 4096
  max-body-bytes = 2048
  request-timeout = 8
  login-failures = 5
  login-lock = 5
  login-lock-max = 10
}"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
web() { "$WEB" -c "$T/vmeter.conf" "$@"; }

# ---------------------------------------------------------------- fixtures
# uuid name host tenant-now (the VM m1 moved from beta to acme; n1 has no
# tenant); the expected sets below are computed from this table.
VMS="11111111-0000-4000-8000-00000000000a a1 hv1 acme
11111111-0000-4000-8000-00000000000b a2 hv2 acme
22222222-0000-4000-8000-00000000000a b1 hv1 beta
33333333-0000-4000-8000-00000000000a m1 hv2 acme
44444444-0000-4000-8000-00000000000a n1 hv1 -"
# invoice-id tenant
INVOICES="101 acme
102 beta
103 acme"
# VMs with a usage minute (for /metrics)
USED="a1 b1"
{
	echo "INSERT INTO host (host_id, hostname) VALUES (1, 'hv1'), (2, 'hv2');"
	echo "INSERT INTO host_inventory VALUES (1, now() - interval '1 day', 16, 2400, 67108864, 'cpu', 1, 1, 8, 2),
	      (2, now() - interval '1 day', 32, 2400, 134217728, 'cpu', 2, 2, 8, 2);"
	i=0
	echo "$VMS" | while read -r uuid name host tenant; do
		i=$((i + 1))
		t=$tenant; [ "$t" = - ] && t=""
		h=${host#hv}
		echo "INSERT INTO vm (vm_id, uuid) VALUES ($i, '$uuid');"
		if [ "$name" = m1 ]; then
			echo "INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib,
			  current_memory_kib, tenant, project, cost_centre, owner_source, digest)
			  VALUES ($i, now() - interval '2 days', $h, '$name', 1, 1, 1024, 1024, 'beta', 'p', '', 'config', 'd0');"
		fi
		echo "INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib,
		  current_memory_kib, tenant, project, cost_centre, owner_source, digest)
		  VALUES ($i, now() - interval '1 day', $h, '$name', 2, 2, 2048, 2048, '$t', 'web', '', 'config', 'd$i');"
		echo "INSERT INTO vm_event (vm_id, host_id, at, event) VALUES ($i, $h, now() - interval '1 day', 'started');"
		echo "INSERT INTO agg_vm_class (vm_id, dimension, class, since, judged_at, window_from, window_to, host_id, evidence)
		  VALUES ($i, 'size', 'oversized', now(), now(), now() - interval '1 hour', now(), $h, '{\"vm\": \"$name\"}');"
		case " $USED " in *" $name "*)
			echo "INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns)
			  VALUES ($h, $i, date_trunc('minute', now()) - interval '2 minutes', 60000, 6, 30000000000);" ;;
		esac
	done
	echo "$INVOICES" | while read -r id tenant; do
		echo "INSERT INTO bill_invoice (invoice_id, kind, tenant, period, period_from, period_to, currency, time_zone,
		  rounding, total) VALUES ($id, 'invoice', '$tenant', '2026-0$((id - 100))-01', '2026-0$((id - 100))-01 00:00+00',
		  '2026-0$((id - 99))-01 00:00+00', 'EUR', 'UTC', 'half-even', 1234);"
		echo "INSERT INTO bill_line (invoice_id, line_no, kind, project, vm_name, meter, qty, amount)
		  VALUES ($id, 1, 'usage', 'web', 'line-of-$tenant', 'vcpu', 10, 1234);"
		# a kept report per invoice, its source naming the invoice's line
		echo "INSERT INTO report_file (kind, tenant, period, format, source, body) VALUES ('chargeback', '$tenant',
		  '2026-0$((id - 100))-01', 'csv', 'line-of-$tenant', 'x');"
	done
} >"$T/fixtures.sql"
psql_q "SELECT vm_ensure_partitions(now() - interval '1 day', now() + interval '1 day')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/fixtures.sql" >"$T/fixtures.log" 2>&1 ||
	{ cat "$T/fixtures.log"; bail "fixtures"; }

# ---------------------------------------------------------------- users
web user add root >/dev/null 2>&1
is "$?" 2 "user add without --role: usage error"
web user add vb --role tenant-viewer >/dev/null 2>&1
is "$?" 2 "a tenant viewer without --tenant: usage error"
echo "short" | web user add x --role admin --password-stdin >/dev/null 2>&1
is "$?" 2 "a password under 8 bytes is refused"
echo "admin-password-1" | web user add root --role admin --password-stdin >"$T/add.out" 2>&1
ok $? "the first admin, password from stdin: $(cat "$T/add.out")"
out=$(web user add op --role operator 2>&1)
ok $? "an operator with a password made for it"
OP_PW=$(echo "$out" | sed -n 's/^password (shown once): //p')
is "${#OP_PW}" 20 "the made password is printed once, 20 characters"
echo "viewer-a-password" | web user add va --role tenant-viewer --tenant acme --password-stdin >/dev/null 2>&1
echo "viewer-b-password" | web user add vb --role tenant-viewer --tenant beta --password-stdin >/dev/null 2>&1
echo "ratelimit-pass" | web user add rl --role operator --password-stdin >/dev/null 2>&1
echo "another-password" | web user add root --role admin --password-stdin >/dev/null 2>&1
is "$?" 1 "a second user of the same name is refused"
is "$(psql_q "SELECT count(*) FROM web_user WHERE password_hash LIKE '\$argon2id\$%' AND password_hash NOT LIKE '%password%'")" 5 \
	"passwords are stored as Argon2id strings, never as given"
TOK_A=$(web token add va --label ci | sed -n 's/.*(shown once): //p')
web token add root >"$T/tok.admin"
TOK_ADMIN=$(sed -n 's/.*(shown once): //p' "$T/tok.admin")
TOK_ADMIN_ID=$(sed -n 's/^token \([0-9]*\) .*/\1/p' "$T/tok.admin")
echo "$TOK_A" | grep -Eq '^vmt_[0-9a-f]{64}$'
ok $? "token add prints a vmt_ token once"
is "$(psql_q "SELECT count(*) FROM web_token WHERE token_hash = encode(sha256('$TOK_A'::bytea), 'hex') AND prefix = left('$TOK_A', 12)")" 1 \
	"only the token's SHA-256 is stored"
web token add nobody >/dev/null 2>&1
is "$?" 1 "a token for no such user is refused"

# ---------------------------------------------------------------- start
web -n >/dev/null
ok $? "-n: the configuration is good"
sed "s/listen = .*/listen = \"nowhere\"/" "$T/vmeter.conf" >"$T/bad.conf"
msg=$("$WEB" -c "$T/bad.conf" -n 2>&1)
is "$?" 2 "-n: a bad web.listen is a configuration error ($msg)"
# The answer and login caches' options are checked like the others.
for bad in "threads = 65" "threads = -2" "cache-mb = 0" "cache-ms = 60001" "auth-cache-ms = -1" "graph-cache-ms = -1" "graph-cache-ms = 3600001"; do
	sed "s/listen = .*/&\n$bad/" "$T/vmeter.conf" >"$T/bad.conf"
	msg=$("$WEB" -c "$T/bad.conf" -n 2>&1)
	rc=$?
	case $msg in *"$T/bad.conf:"*"${bad%% *}"*) named=yes ;; *) named=no ;; esac
	is "$rc $named" "2 yes" "-n: web.$bad is refused naming the file, line and option ($msg)"
done

python3 - "$T/notify" "$T/notes" <<'EOP' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode() + "\n")
EOP
listener=$!
on_cleanup "kill $listener 2>/dev/null"
wait_for 10 test -S "$T/notify" || bail "no notify socket"
NOTIFY_SOCKET=$T/notify "$WEB" -c "$T/vmeter.conf" >"$T/web.log" 2>&1 &
WEB_PID=$!
_pids="$_pids $WEB_PID"
show_web_log() { echo "# --- $T/web.log:"; tail -n 30 "$T/web.log" | sed 's/^/#   /'; }
on_cleanup "[ \$_failed = 0 ] || show_web_log"
wait_for 60 grep -q "READY=1" "$T/notes"
ok $? "READY=1 once it listens"
msg=$("$WEB" -c "$T/vmeter.conf" 2>&1)
is "$?:$(echo "$msg" | grep -c "cannot bind")" "1:1" "a second server on the same address: exit 1, saying it cannot bind"

# req NAME METHOD PATH [CURL ARGS...]: the status; body in $T/NAME.body,
# headers in $T/NAME.head.
req() {
	_name=$1 _m=$2 _p=$3
	shift 3
	curl -s -o "$T/$_name.body" -D "$T/$_name.head" -w '%{http_code}' -X "$_m" "$@" "$URL$_p"
}
login() { # login USER PASSWORD: the status; the cookie's token in $T/cookie.$1, CSRF in $T/csrf.$1
	_s=$(req "login.$1" POST /api/v1/login -H 'Content-Type: application/json' \
		--data "{\"user\": \"$1\", \"password\": \"$2\"}")
	sed -n 's/^Set-Cookie: vmeter_session=\([0-9a-f]*\);.*/\1/ip' "$T/login.$1.head" | tr -d '\r' >"$T/cookie.$1"
	jq -r .csrf_token "$T/login.$1.body" >"$T/csrf.$1" 2>/dev/null
	echo "$_s"
}

# a database without the schema: said at once, not only as 500s later
psql_q postgres "CREATE DATABASE empty" >/dev/null
P2=$(free_port)
sed -e "s/dbname=vmeter/dbname=empty/" -e "s/127.0.0.1:$PORT/127.0.0.1:$P2/" "$T/vmeter.conf" >"$T/empty.conf"
"$WEB" -c "$T/empty.conf" >"$T/empty.log" 2>&1 &
EMPTY_PID=$!
_pids="$_pids $EMPTY_PID"
wait_for "the schema's complaint" 60 grep -q "cannot read the database schema's version" "$T/empty.log"
ok $? "without the schema it logs so at start: $(grep -o 'cannot read.*exist' "$T/empty.log" | head -1)"
kill -TERM "$EMPTY_PID"

# ---------------------------------------------------------------- login
is "$(req idx GET /)" 200 "GET / serves the login page"
grep -q '<form id="login"' "$T/idx.body"
ok $? "... with a login form"
is "$(req oa GET /api/v1/openapi.json)" 200 "the OpenAPI document"
is "$(jq -r '.openapi + " " + (.paths | keys | join(","))' "$T/oa.body")" \
	"3.0.3 /api/v1/alerts,/api/v1/hosts,/api/v1/hosts/{name},/api/v1/hosts/{name}/series,/api/v1/invoices,/api/v1/invoices/{id},/api/v1/invoices/{id}/download,/api/v1/login,/api/v1/logout,/api/v1/me,/api/v1/openapi.json,/api/v1/overview,/api/v1/plans,/api/v1/reports,/api/v1/reports/{id}/download,/api/v1/vm-usage,/api/v1/vms,/api/v1/vms/{uuid},/api/v1/vms/{uuid}/history,/api/v1/vms/{uuid}/series,/metrics" \
	"... OpenAPI 3 with every endpoint"
# Every $ref names a component the document has (shared parameters and
# responses are written once, as references).
is "$(jq -r '. as $d |
	[.. | objects | select(has("$ref")) | ."$ref" | ltrimstr("#/") | split("/")
	 | select(. as $p | $d | getpath($p) == null) | join("/")] | unique | join(" ")' "$T/oa.body")" "" \
	"... every \$ref resolves"
grep -i '^Content-Type: application/json' "$T/oa.head" >/dev/null
ok $? "... as application/json"
is "$(login root admin-password-1)" 200 "login with the right password"
cookie=$(grep -i '^Set-Cookie: vmeter_session=' "$T/login.root.head" | tr -d '\r')
case $cookie in *"; HttpOnly"*"; SameSite=Strict"*) r=0 ;; *) r=1 ;; esac
ok $r "the cookie is HttpOnly and SameSite=Strict ($cookie)"
case $cookie in *"Path=/;"*"Max-Age=43200"*) r=0 ;; *) r=1 ;; esac
ok $r "... for Path=/, ending with the session (12 h)"
case $cookie in *Secure*) r=1 ;; *) r=0 ;; esac
ok $r "... and not Secure without TLS in front (web.cookie-secure = 0)"
ROOT=$(cat "$T/cookie.root")
echo "$ROOT" | grep -Eq '^[0-9a-f]{64}$'
ok $? "the session token is 256 random bits"
is "$(psql_q "SELECT count(*) FROM web_session WHERE token_hash = '$ROOT'"):$(psql_q "SELECT count(*) FROM web_session WHERE token_hash = encode(sha256('$ROOT'::bytea), 'hex')")" \
	"0:1" "only the token's hash is stored"
is "$(login root wrong-password)" 401 "a wrong password: 401"
is "$(jq -r .error "$T/login.root.body")" "wrong user name or password" "... saying so"
is "$(login nosuchuser whatever-pw)" 401 "an unknown user: 401"
is "$(jq -r .error "$T/login.nosuchuser.body")" "wrong user name or password" "... the same answer"
login root admin-password-1 >/dev/null
ROOT=$(cat "$T/cookie.root")
CSRF_ROOT=$(cat "$T/csrf.root")
is "$(req me GET /api/v1/me -H "Cookie: vmeter_session=$ROOT")" 200 "GET /api/v1/me with the session"
is "$(jq -r '.user + " " + .role + " " + .via' "$T/me.body")" "root admin session" "... names the user"

# ---------------------------------------------------------------- CSRF
is "$(req lo POST /api/v1/logout -H "Cookie: vmeter_session=$ROOT")" 403 "logout without X-CSRF-Token: 403"
jq -r .error "$T/lo.body" | grep -q "X-CSRF-Token"
ok $? "... naming the header"
# the session's token with its last digit changed
case $CSRF_ROOT in *0) WRONG=${CSRF_ROOT%?}1 ;; *) WRONG=${CSRF_ROOT%?}0 ;; esac
is "$(req lo POST /api/v1/logout -H "Cookie: vmeter_session=$ROOT" -H "X-CSRF-Token: $WRONG")" 403 \
	"logout with a wrong X-CSRF-Token: 403"
is "$(req me GET /api/v1/me -H "Cookie: vmeter_session=$ROOT")" 200 "... and the session lives on"
is "$(req lo POST /api/v1/logout -H "Cookie: vmeter_session=$ROOT" -H "X-CSRF-Token: $CSRF_ROOT")" 204 \
	"logout with the session's token: 204"
grep -qi '^Set-Cookie: vmeter_session=; Path=/; Max-Age=0' "$T/lo.head"
ok $? "... clearing the cookie"
is "$(req me GET /api/v1/me -H "Cookie: vmeter_session=$ROOT")" 401 "... and the session is gone"
is "$(req me GET /api/v1/me -H "Authorization: Bearer $TOK_A")" 200 "an API token authenticates"
is "$(jq -r '.user + " " + .role + " " + .tenant + " " + .via' "$T/me.body")" "va tenant-viewer acme token" "... as its user"
is "$(req lo POST /api/v1/logout -H "Authorization: Bearer $TOK_A")" 400 \
	"a state-changing request by token needs no CSRF token (logout: it has no session)"
is "$(req me GET /api/v1/me -H "Authorization: Bearer vmt_$(printf '%064d' 0)")" 401 "an unknown token: 401"
is "$(req me GET /api/v1/me -H "Authorization: Basic cm9vdDp4")" 401 "another scheme: 401"

# ---------------------------------------------------------------- rate limiting
for i in 1 2 3 4; do login rl "wrong-$i" >/dev/null; done
is "$(login rl wrong-5)" 401 "five wrong passwords: 401 each"
is "$(login rl ratelimit-pass)" 429 "then even the right password: 429 while locked"
grep -qi '^Retry-After: [0-9]' "$T/login.rl.head"
ok $? "... with Retry-After"
rl_ok() { test "$(login rl ratelimit-pass)" = 200; }
wait_for "the lock to end" 60 rl_ok
ok $? "after the lock, the right password logs in"
grep -q "login as 'rl' from 127.0.0.1 refused" "$T/web.log"
ok $? "failed logins are logged with the user and address"

# ---------------------------------------------------------------- the matrix
users_ok() {
	test "$(login root admin-password-1)" = 200 && test "$(login op "$OP_PW")" = 200 &&
		test "$(login va viewer-a-password)" = 200 && test "$(login vb viewer-b-password)" = 200
}
wait_for "the logins (the address lock of the tests above ends)" 60 users_ok || bail "cannot log the roles in"
# principal: curl arguments and the tenant it sees (* all, ! none: 401)
PRINCIPALS="admin|-H|Cookie: vmeter_session=$(cat "$T/cookie.root")|*
operator|-H|Cookie: vmeter_session=$(cat "$T/cookie.op")|*
viewer-a|-H|Cookie: vmeter_session=$(cat "$T/cookie.va")|acme
viewer-b|-H|Cookie: vmeter_session=$(cat "$T/cookie.vb")|beta
token-a|-H|Authorization: Bearer $TOK_A|acme
token-admin|-H|Authorization: Bearer $TOK_ADMIN|*
anonymous|-H|X-Nothing: 1|!"
sees() { [ "$2" = "*" ] || [ "$1" = "$2" ]; } # sees OBJECT-TENANT PRINCIPAL-TENANT
leaks=0
while IFS='|' read -r who h1 h2 scope; do
	want_vms="" want_inv="" want_used=""
	while read -r uuid name host tenant; do
		sees "$tenant" "$scope" && want_vms="$want_vms $uuid"
		case " $USED " in *" $name "*) sees "$tenant" "$scope" && want_used="$want_used $uuid" ;; esac
	done <<<"$VMS"
	while read -r id tenant; do sees "$tenant" "$scope" && want_inv="$want_inv $id"; done <<<"$INVOICES"
	sorted() { echo "$@" | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' '; }
	if [ "$scope" = "!" ]; then code=401; else code=200; fi
	staff=403; { [ "$scope" = "*" ] && staff=200; } || { [ "$scope" = "!" ] && staff=401; }

	s=$(req m GET /api/v1/vms "$h1" "$h2")
	got=$(jq -r '.vms[].uuid' "$T/m.body" 2>/dev/null | sort | tr '\n' ' ')
	[ "$code" = 200 ] || got=""
	is "$s $got" "$code $(sorted $want_vms)" "$who: GET /api/v1/vms: status and the VMs it sees"
	cat "$T/m.body" >>"$T/bodies.$who"
	while read -r uuid name host tenant; do
		want=404; sees "$tenant" "$scope" && want=200; [ "$scope" = "!" ] && want=401
		s=$(req m GET "/api/v1/vms/$uuid" "$h1" "$h2")
		[ "$s" = 200 ] && s="$s $(jq -r .name "$T/m.body")"
		[ "$want" = 200 ] && want="$want $name"
		is "$s" "$want" "$who: GET /api/v1/vms/$name's uuid (tenant ${tenant})"
		cat "$T/m.body" >>"$T/bodies.$who"
		# its graph data and history: the same rights as the VM
		want=404; sees "$tenant" "$scope" && want=200; [ "$scope" = "!" ] && want=401
		s=$(req m GET "/api/v1/vms/$uuid/series?from=-2h&metrics=cpu_alloc_pct" "$h1" "$h2")
		[ "$s" = 200 ] && s="$s $(jq -r .subject.name "$T/m.body")"
		[ "$want" = 200 ] && want="$want $name"
		is "$s" "$want" "$who: GET /api/v1/vms/$name's uuid/series"
		cat "$T/m.body" >>"$T/bodies.$who"
		want=404; sees "$tenant" "$scope" && want=200; [ "$scope" = "!" ] && want=401
		is "$(req m GET "/api/v1/vms/$uuid/history" "$h1" "$h2")" "$want" "$who: GET /api/v1/vms/$name's uuid/history"
		cat "$T/m.body" >>"$T/bodies.$who"
	done <<<"$VMS"
	for p in /api/v1/overview /api/v1/alerts /api/v1/reports /api/v1/plans "/api/v1/vm-usage?from=-24h"; do
		is "$(req m GET "$p" "$h1" "$h2")" "$code" "$who: GET $p"
		cat "$T/m.body" >>"$T/bodies.$who"
	done
	s=$(req m GET /api/v1/vm-usage "$h1" "$h2")
	got=$(jq -r '.vms[].uuid' "$T/m.body" 2>/dev/null | sort | tr '\n' ' ')
	[ "$code" = 200 ] || got=""
	is "$s $got" "$code $(sorted $want_vms)" "$who: GET /api/v1/vm-usage: the VMs it sees"
	is "$(req m GET /api/v1/hosts/hv1 "$h1" "$h2"):$(req m2 GET /api/v1/hosts/hv1/series "$h1" "$h2")" "$staff:$staff" \
		"$who: GET /api/v1/hosts/hv1 and its series"
	cat "$T/m.body" "$T/m2.body" >>"$T/bodies.$who"
	is "$(req m GET /api/v1/hosts "$h1" "$h2")" "$staff" "$who: GET /api/v1/hosts"
	s=$(req m GET /api/v1/invoices "$h1" "$h2")
	got=$(jq -r '.invoices[].id' "$T/m.body" 2>/dev/null | sort | tr '\n' ' ')
	[ "$code" = 200 ] || got=""
	is "$s $got" "$code $(sorted $want_inv)" "$who: GET /api/v1/invoices"
	cat "$T/m.body" >>"$T/bodies.$who"
	while read -r id tenant; do
		want=404; sees "$tenant" "$scope" && want=200; [ "$scope" = "!" ] && want=401
		s=$(req m GET "/api/v1/invoices/$id" "$h1" "$h2")
		[ "$s" = 200 ] && s="$s $(jq -r '.lines[0].vm' "$T/m.body")"
		[ "$want" = 200 ] && want="$want line-of-$tenant"
		is "$s" "$want" "$who: GET /api/v1/invoices/$id (tenant $tenant)"
		cat "$T/m.body" >>"$T/bodies.$who"
		want=404; sees "$tenant" "$scope" && want=200; [ "$scope" = "!" ] && want=401
		s=$(req m GET "/api/v1/invoices/$id/download?format=json" "$h1" "$h2")
		[ "$s" = 200 ] && s="$s $(jq -r '.lines[0].vm_name' "$T/m.body")"
		[ "$want" = 200 ] && want="$want line-of-$tenant"
		is "$s" "$want" "$who: GET /api/v1/invoices/$id/download (tenant $tenant)"
		cat "$T/m.body" >>"$T/bodies.$who"
	done <<<"$INVOICES"
	# /metrics: staff sessions, or any token (scoped to its tenant)
	case $who in token-*) mcode=200 ;; *) mcode=$staff ;; esac
	s=$(req m GET /metrics "$h1" "$h2")
	got=""
	[ "$s" = 200 ] && got=$(sed -n 's/^vmeter_vm_cpu_cores{uuid="\([^"]*\)".*} \([0-9.]*\) .*/\1/p' "$T/m.body" | sort | tr '\n' ' ')
	want=""
	[ "$mcode" = 200 ] && want=$(sorted $want_used)
	is "$s $got" "$mcode $want" "$who: GET /metrics and the VMs it shows"
	cat "$T/m.body" >>"$T/bodies.$who"
	is "$(req m GET /api/v1/me "$h1" "$h2")" "$code" "$who: GET /api/v1/me"
	# no body this principal got names an object of another tenant
	if [ "$scope" != "*" ]; then
		while read -r uuid name host tenant; do
			sees "$tenant" "$scope" && continue
			n=$(grep -c -e "$uuid" -e "\"$name\"" "$T/bodies.$who")
			leaks=$((leaks + n))
		done <<<"$VMS"
		while read -r id tenant; do
			sees "$tenant" "$scope" && continue
			leaks=$((leaks + $(grep -c "line-of-$tenant" "$T/bodies.$who")))
		done <<<"$INVOICES"
	fi
done <<<"$PRINCIPALS"
is "$leaks" 0 "cross-tenant matrix: 0 leaks in every body every principal got"
grep -q '^vmeter_vm_cpu_cores{uuid="11111111-0000-4000-8000-00000000000a",name="a1",tenant="acme"} 0.500000 ' "$T/bodies.admin"
ok $? "/metrics: a1 used 0.5 cores in its latest minute"
grep -q '^vmeter_web_db_connections_up [1-9]' "$T/bodies.admin" && grep -q '^vmeter_web_requests_total{status="200"} [1-9]' "$T/bodies.admin"
ok $? "/metrics: the pool's connections and requests by status"
# web.threads = 2: each request of the matrix came on a connection of its
# own (curl), and the kernel spreads connections over the two threads'
# sockets (SO_REUSEPORT); both answered, while the handler ran on the
# main loop.
req m GET /metrics -H "Authorization: Bearer $TOK_ADMIN" >/dev/null
is "$(grep -m1 '^vmeter_web_threads ' "$T/m.body") $(grep -c '^vmeter_web_thread_responses_total{thread="[12]"} [1-9]' "$T/m.body")" \
	"vmeter_web_threads 2 2" "web.threads = 2: both I/O threads answered requests of the matrix"

# ---------------------------------------------------------------- ends
# A session ended by hand: the server keeps principals for
# web.auth-cache-ms unless told (docs/WEB.md), as an administrator would.
psql_q "UPDATE web_session SET expires_at = now() - interval '1 second' WHERE token_hash = encode(sha256('$(cat "$T/cookie.op")'::bytea), 'hex');
	NOTIFY vmeter_web_auth" >/dev/null
is "$(req e GET /api/v1/me -H "Cookie: vmeter_session=$(cat "$T/cookie.op")")" 401 "an expired session: 401"
web token revoke "$TOK_ADMIN_ID" >/dev/null
ok $? "token revoke ID"
is "$(req e GET /api/v1/me -H "Authorization: Bearer $TOK_ADMIN")" 401 "a revoked token: 401"
web token revoke "$TOK_ADMIN_ID" >/dev/null 2>&1
is "$?" 1 "revoking it again: refused"
web user disable vb >/dev/null
ok $? "user disable NAME"
is "$(psql_q "SELECT count(*) FROM web_session s JOIN web_user u USING (user_id) WHERE u.name = 'vb'")" 0 \
	"... ends its sessions"
is "$(req e GET /api/v1/me -H "Cookie: vmeter_session=$(cat "$T/cookie.vb")")" 401 "a disabled user's session: 401"
web user disable nobody >/dev/null 2>&1
is "$?" 1 "disabling no such user: refused"
is "$(login vb viewer-b-password)" 401 "a disabled user cannot log in"

# ---------------------------------------------------------------- the database away
A="Cookie: vmeter_session=$(cat "$T/cookie.root")"
stop_postgres
is "$(req d GET /api/v1/vms -H "$A")" 503 "the database away: 503"
is "$(jq -r .error "$T/d.body")" "the database is not reachable" "... saying so"
is "$(req d GET /api/v1/openapi.json)" 200 "... while what needs no database is served"
restart_postgres
vms_ok() { test "$(req d GET /api/v1/vms -H "$A")" = 200; }
wait_for "the pool to connect again" 60 vms_ok
ok $? "the database back: served again"

# ---------------------------------------------------------------- kept answers and principals
# Principals are kept (web.auth-cache-ms) only while the server listens
# for vmeter_web_auth; the listener comes back with the database.
wait_for "the listener to connect again" 60 grep -q "listening for 'vmeter_web_auth' notifications again" "$T/web.log"
ok $? "the server listens for token and user changes again once the database is back"
TOK_K=$(web token add va --label kept | sed -n 's/.*(shown once): //p')
TOK_K_ID=$(psql_q "SELECT token_id FROM web_token WHERE label = 'kept'")
for i in 1 2 3; do req k GET /api/v1/me -H "Authorization: Bearer $TOK_K" >/dev/null; done
is "$(req k GET /api/v1/me -H "Authorization: Bearer $TOK_K")" 200 "a token used again and again (its principal kept)"
# With its principal and its answer kept, the VM list is answered by the
# I/O thread that reads the request (web_api_fast): the same scope, and
# nothing once the token or session is gone.
kept_names() { jq -r '[.vms[].name] | join(" ")' "$T/$1.body"; }
for i in 1 2 3; do req kl GET /api/v1/vms -H "Authorization: Bearer $TOK_K" >/dev/null; done
is "$(kept_names kl)" "a1 a2 m1" "a viewer's VM list asked again and again (kept, on the I/O threads): its tenant's"
web token revoke "$TOK_K_ID" >/dev/null
is "$(req k GET /api/v1/me -H "Authorization: Bearer $TOK_K")" 401 "... revoked: 401 at once (the command notifies the server)"
is "$(req kl GET /api/v1/vms -H "Authorization: Bearer $TOK_K")" 401 "... for its kept VM list too"
is "$(login va viewer-a-password)" 200 "a viewer logs in"
VA="Cookie: vmeter_session=$(cat "$T/cookie.va")"
for i in 1 2 3; do req kl GET /api/v1/vms -H "$VA" >/dev/null; done
is "$(kept_names kl)" "a1 a2 m1" "... its VM list asked again and again: its tenant's"
is "$(req lo POST /api/v1/logout -H "$VA" -H "X-CSRF-Token: $(cat "$T/csrf.va")")" 204 "... logs out"
is "$(req kl GET /api/v1/vms -H "$VA")" 401 "... and its kept VM list is not served to the ended session"
# Answers are kept per tenant scope (web.cache-ms): the admin's list and
# a viewer's right after it are each their own.
req ka GET /api/v1/vms -H "$A" >/dev/null
req kv GET /api/v1/vms -H "Authorization: Bearer $TOK_A" >/dev/null
req kb GET /api/v1/vms -H "$A" >/dev/null
is "$(jq -r '[.vms[].name] | join(" ")' "$T/ka.body") / $(jq -r '[.vms[].name] | join(" ")' "$T/kv.body") / $(jq -r '[.vms[].name] | join(" ")' "$T/kb.body")" \
	"a1 a2 b1 m1 n1 / a1 a2 m1 / a1 a2 b1 m1 n1" "the VM list of an admin, then a viewer of acme, then the admin: each its scope's"
is "$(req kv GET /api/v1/vms/22222222-0000-4000-8000-00000000000a -H "Authorization: Bearer $TOK_A")" 404 \
	"... and a VM of beta that the admin just read: 404 for the viewer"
psql_q "INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
	tenant, project, cost_centre, owner_source, digest) VALUES (1, now(), 1, 'a1-renamed', 2, 2, 2048, 2048, 'acme', 'web', '',
	'config', 'dr')" >/dev/null
renamed() { req kr GET /api/v1/vms -H "$A" >/dev/null && jq -e '.vms[] | select(.name == "a1-renamed")' "$T/kr.body"; }
wait_for "the renamed VM in the list" 60 renamed
ok $? "a change shows once the kept answer is older than web.cache-ms"
# /metrics says how kept answers were served: the admin's list came
# kept (kb) and was read while a request waited (ka); asked again and
# again, a request comes while it is too old (web.cache-ms) but not
# twice that: served as it is while it is read again
served() { grep -q "^vmeter_web_cache_requests_total{served=\"$1\"} [1-9]" "$T/m.body"; }
stale_seen() { req kr GET /api/v1/vms -H "$A" >/dev/null && req m GET /metrics -H "$A" >/dev/null && served stale; }
wait_for "a too old list served while it is read again" 60 stale_seen
for how in hit fetch stale; do served "$how" || echo "no $how" >>"$T/cache.miss"; done
grep -q '^vmeter_web_cache_answers [1-9]' "$T/m.body" && grep -q '^vmeter_web_cache_refreshes_total [1-9]' "$T/m.body" || echo "no answers or refreshes" >>"$T/cache.miss"
grep -q '^vmeter_web_cache_io_thread_hits_total [1-9]' "$T/m.body" || echo "no hits on the I/O threads" >>"$T/cache.miss"
is "$(cat "$T/cache.miss" 2>/dev/null)" "" "/metrics: kept answers, and requests served kept (on the I/O threads too), read, and too old while read again"
# keep-alive: curl's second transfer on the first one's connection
is "$(curl -s -o /dev/null -o /dev/null -w '%{http_code}:%{num_connects} ' -H "$A" "$URL/api/v1/vms" "$URL/api/v1/vms/11111111-0000-4000-8000-00000000000a")" \
	"200:1 200:0 " "two requests on one kept-alive connection"

# ---------------------------------------------------------------- bad requests
A="Cookie: vmeter_session=$(cat "$T/cookie.root")"
is "$(req b GET '/api/v1/vms?tenant=beta' -H "$A")" 400 "an unknown query parameter: 400 (the tenant never comes from the request)"
is "$(jq -r .error "$T/b.body")" "query string: unknown parameter 'tenant'" "... naming it"
is "$(req b GET /api/v1/nothing -H "$A")" 404 "an unknown path: 404"
is "$(req b DELETE /api/v1/vms -H "$A")" 405 "a method a path does not take: 405"
is "$(req b POST /api/v1/login -H 'Content-Type: text/plain' --data 'x')" 415 "a login that is not JSON: 415"
is "$(req b POST /api/v1/login -H 'Content-Type: application/json' --data '{"user": "a", "user": "b", "password": "x"}')" 400 \
	"a login with a duplicate member: 400"
is "$(req b POST /api/v1/login -H 'Content-Type: application/json' --data '{"user": "a", "password": "x", "role": "admin"}')" 400 \
	"a login with an unknown member: 400"
is "$(jq -r .error "$T/b.body")" "body: unknown member 'role'" "... naming it"
is "$(req b GET /api/v1/me -H "Cookie: vmeter_session=a; vmeter_session=b")" 400 "the session cookie twice: 400"
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
is "$(req b GET /api/v1/me -H "X-Big: $big")" 431 "headers over web.max-header-bytes: 431"
jq -r .error "$T/b.body" | grep -q "request headers are .* over the limit of 4096"
ok $? "... in JSON, saying what was wrong"
huge=$(head -c 40000 /dev/zero | tr '\0' 'x')
is "$(req b GET /api/v1/me -H "X-Big: $huge")" 400 "headers over twice the limit: libevent stops reading (its own 400)"
head -c 3000 /dev/zero | tr '\0' 'x' >"$T/body3k"
is "$(req b POST /api/v1/login -H 'Content-Type: application/json' --data-binary "@$T/body3k")" 413 \
	"a body over web.max-body-bytes: 413"
jq -r .error "$T/b.body" | grep -q "request body is 3000 bytes, over the limit of 2048"
ok $? "... in JSON, saying what was wrong"
head -c 100000 /dev/zero | tr '\0' 'x' >"$T/body100k"
is "$(req b POST /api/v1/login -H 'Content-Type: application/json' --data-binary "@$T/body100k")" 413 \
	"a body over twice the limit: 413"

# ---------------------------------------------------------------- a slow client
python3 - "$PORT" "$T/slow" <<'EOP' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").write("open\n")
s.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n")
s.settimeout(1)
n = 0
while True:
    try:
        s.sendall(b"X")  # a header byte a second (the recv below paces it)
    except OSError:
        break
    n += 1
    try:
        d = s.recv(4096)
        if not d or b"408" in d:
            open(sys.argv[2], "a").write("closed after %d bytes: %s\n" % (n, d[:40]))
            break
    except socket.timeout:
        pass
EOP
slow=$!
on_cleanup "kill $slow 2>/dev/null"
wait_for 30 grep -q open "$T/slow"
served=0
for i in 1 2 3 4 5; do [ "$(req s GET /api/v1/me -H "$A")" = 200 ] && served=$((served + 1)); done
grep -q closed "$T/slow"
is "$served $?" "5 1" "while a client sends a header byte a second, others are served"
wait_for "the slow client to be closed" 60 grep -q closed "$T/slow"
ok $? "the slow client is closed at its deadline (web.request-timeout): $(tail -1 "$T/slow")"
req m GET /metrics -H "$A" >/dev/null
grep -q '^vmeter_web_connections_timed_out_total [1-9]' "$T/m.body"
ok $? "... and counted in /metrics"
# an idle keep-alive connection: closed at the deadline without a word
python3 - "$PORT" >"$T/idle" 2>&1 <<'EOP'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /static/app.js HTTP/1.1\r\nHost: x\r\n\r\n")
got = b""
while b"\nstart();\n" not in got:  # the script's last line
    got += s.recv(65536)
s.settimeout(120)
rest = s.recv(4096)
print("closed, then %d bytes" % len(rest) if not rest else "got %r" % rest[:60])
EOP
is "$(cat "$T/idle")" "closed, then 0 bytes" "an idle keep-alive connection is closed at the deadline, without a 408"

# ---------------------------------------------------------------- the connection cap
# 24 connections, each having had an answer (so counted), then one more.
python3 - "$PORT" 24 >"$T/cap" 2>&1 <<'EOP'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
held = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b"</html>" not in got:
        d = s.recv(65536)
        if not d:
            print("connection %d closed early" % i)
            sys.exit(1)
        got += d
    held.append(s)
extra = socket.create_connection(("127.0.0.1", port))
extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
extra.settimeout(30)
d = b""
try:
    while True:
        x = extra.recv(4096)
        if not x:
            break
        d += x
except OSError:
    pass
print(d.split(b"\r\n")[0].decode(), d.split(b"\r\n\r\n")[-1].decode().strip())
EOP
is "$(tail -1 "$T/cap")" 'HTTP/1.1 503 Service Unavailable {"error": "too many connections", "status": 503}' \
	"a connection over web.max-connections gets a 503 and is closed"
serves() { test "$(req s GET /api/v1/me -H "$A")" = 200; }
wait_for "the server to serve again once those are closed" 60 serves
ok $? "... and once they are closed, it serves again"

# ---------------------------------------------------------------- one loop
# web.threads = 0: the main loop serves the connections itself, as before
# there were I/O threads; the same answers.
PORT0=$(free_port)
sed -e "s/threads = 2/threads = 0/" -e "s/listen = .*/listen = \"127.0.0.1:$PORT0\"/" "$T/vmeter.conf" >"$T/one.conf"
"$WEB" -c "$T/one.conf" >"$T/one.log" 2>&1 &
ONE_PID=$!
_pids="$_pids $ONE_PID"
up0() { curl -s -o /dev/null "http://127.0.0.1:$PORT0/"; }
wait_for "the one-loop server to listen" 60 up0
ok $? "web.threads = 0: it serves ($(grep -o '[0-9]* I/O threads' "$T/one.log"))"
req l GET /api/v1/vms -H "$A" >/dev/null
s=$(curl -s -o "$T/one.body" -w '%{http_code}' -H "$A" "http://127.0.0.1:$PORT0/api/v1/vms")
cmp -s "$T/one.body" "$T/l.body"
is "$s $?" "200 0" "... the VM list, the same as the threaded server's"
s=$(curl -s -o "$T/one.body" -w '%{http_code}' -H "$A" "http://127.0.0.1:$PORT0/api/v1/nowhere")
is "$s $(jq -r .error "$T/one.body")" "404 no such endpoint" "... a bad path, in JSON"
curl -s -o "$T/one.body" -H "$A" "http://127.0.0.1:$PORT0/metrics"
is "$(grep -m1 '^vmeter_web_threads ' "$T/one.body") $(grep -c '^vmeter_web_thread_responses_total{thread="0"} [1-9]' "$T/one.body")" \
	"vmeter_web_threads 0 1" "... and /metrics counts its answers on the main loop"
kill -TERM "$ONE_PID"
gone0() { ! kill -0 "$ONE_PID" 2>/dev/null; }
wait_for "the one-loop server to exit" 60 gone0
wait "$ONE_PID"
is "$?" 0 "... SIGTERM: it stops with status 0"

# ---------------------------------------------------------------- the address lock
# 7 failures from 127.0.0.1 so far; 13 more, each for another name, reach
# web.login-address-failures (20): then even a good login from there waits.
for i in $(seq 13); do login "guess$i" wrong-password >/dev/null; done
is "$(login root admin-password-1)" 429 "20 failed logins from one address lock it, whatever the user"

# ---------------------------------------------------------------- stop
kill -TERM "$WEB_PID"
gone() { ! kill -0 "$WEB_PID" 2>/dev/null; }
wait_for "vmeter-web to exit" 60 gone
wait "$WEB_PID"
is "$?" 0 "SIGTERM: it stops with status 0"
grep -q "STOPPING=1" "$T/notes" && grep -q "stopped" "$T/web.log"
ok $? "... saying STOPPING=1 and a last log line"
plan "$_n"
