#!/bin/bash
# vmeter-web over HTTPS (web.tls-certificate, web.tls-key; web/tls.c):
# certificate and key checked by -n, TLS 1.2 or later only, the session
# cookie Secure and HSTS without being asked, plain HTTP on the TLS port
# refused, a client that never finishes its handshake closed at the
# request deadline, SIGTERM.  Waits for states, never for times.
. "$(dirname "$0")/../lib.sh"
plan 14

WEB=$top_builddir/web/vmeter-web
start_postgres
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 || bail "openssl req"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=other \
	-keyout "$T/other.pem" -out "$T/other-cert.pem" >/dev/null 2>&1 || bail "openssl req"
conf() { # conf FILE CERT KEY
	write_conf "$1" "web {
  listen = \"127.0.0.1:$PORT\"
  request-timeout = 8
  tls-certificate = \"$2\"
  tls-key = \"$3\"
}"
}
conf "$T/vmeter.conf" "$T/cert.pem" "$T/key.pem"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
echo "admin-password-1" | "$WEB" -c "$T/vmeter.conf" user add root --role admin --password-stdin >/dev/null ||
	bail "user add"

"$WEB" -c "$T/vmeter.conf" -n >/dev/null
ok $? "-n: certificate and key are good"
conf "$T/nokey.conf" "$T/cert.pem" ""
msg=$("$WEB" -c "$T/nokey.conf" -n 2>&1)
is "$?:$(echo "$msg" | grep -c 'go together')" "2:1" "-n: a certificate without a key is refused"
conf "$T/missing.conf" "$T/nothere.pem" "$T/key.pem"
msg=$("$WEB" -c "$T/missing.conf" -n 2>&1)
is "$?:$(echo "$msg" | grep -c "cannot read the certificate '$T/nothere.pem'")" "2:1" "-n: a missing certificate is named"
conf "$T/mismatch.conf" "$T/cert.pem" "$T/other.pem"
msg=$("$WEB" -c "$T/mismatch.conf" -n 2>&1)
is "$?:$(echo "$msg" | grep -c "cannot use the key '$T/other.pem'.*key values mismatch")" "2:1" "-n: a key of another certificate is refused, saying so"

"$WEB" -c "$T/vmeter.conf" >"$T/web.log" 2>&1 &
WEB_PID=$!
_pids="$_pids $WEB_PID"
show_web_log() { echo "# --- $T/web.log:"; tail -n 30 "$T/web.log" | sed 's/^/#   /'; }
on_cleanup "[ \$_failed = 0 ] || show_web_log"
req() { # req NAME METHOD PATH [CURL ARGS...]
	_name=$1 _m=$2 _p=$3
	shift 3
	curl -s --cacert "$T/cert.pem" -o "$T/$_name.body" -D "$T/$_name.head" -w '%{http_code}' -X "$_m" "$@" "$URL$_p"
}
up() { test "$(req idx GET /)" = 200; }
wait_for "HTTPS to answer" 60 up
ok $? "GET / over HTTPS"
grep -qi '^Strict-Transport-Security: max-age=31536000' "$T/idx.head"
ok $? "... with HSTS"
is "$(req login POST /api/v1/login -H 'Content-Type: application/json' \
	--data '{"user": "root", "password": "admin-password-1"}')" 200 "login over HTTPS"
cookie=$(grep -i '^Set-Cookie: vmeter_session=' "$T/login.head" | tr -d '\r')
case $cookie in *"; HttpOnly; SameSite=Strict; Secure") r=0 ;; *) r=1 ;; esac
ok $r "the cookie is Secure under TLS without web.cookie-secure ($cookie)"
tok=$(sed -n 's/^Set-Cookie: vmeter_session=\([0-9a-f]*\);.*/\1/ip' "$T/login.head" | tr -d '\r')
is "$(req vms GET /api/v1/vms -H "Cookie: vmeter_session=$tok")" 200 "the API over HTTPS"
s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "http://127.0.0.1:$PORT/")
is "$s" 000 "plain HTTP on the TLS port gets no HTTP answer"
is "$(req t12 GET / --tls-max 1.2)" 200 "TLS 1.2 is accepted"
s=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/cert.pem" --tlsv1.0 --tls-max 1.1 --max-time 60 "$URL/")
is "$s" 000 "TLS 1.1 and older are refused"
# a client that connects and never starts its handshake
python3 - "$PORT" >"$T/idle" 2>&1 <<'EOP'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(120)
print("closed" if s.recv(4096) == b"" else "got bytes")
EOP
is "$(cat "$T/idle")" closed "a client without a handshake is closed at the request deadline"

kill -TERM "$WEB_PID"
gone() { ! kill -0 "$WEB_PID" 2>/dev/null; }
wait_for "vmeter-web to exit" 60 gone
wait "$WEB_PID"
is "$?" 0 "SIGTERM: it stops with status 0"
