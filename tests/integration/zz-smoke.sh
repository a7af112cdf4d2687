. "$(dirname "$0")/../lib.sh"
. "$top_srcdir/tests/integration/web-fixtures.sh"
start_postgres
start_rrdcached
PORT=$(free_port)
CONF_RRDCACHED="unix:$RRDCACHED_SOCK" write_conf "$T/vmeter.conf" "web {
  listen = \"127.0.0.1:$PORT\"
}"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
web_fixtures
echo "admin-password-1" | "$top_builddir/web/vmeter-web" -c "$T/vmeter.conf" user add root --role admin --password-stdin
"$top_builddir/web/vmeter-web" -c "$T/vmeter.conf" >"$T/web.log" 2>&1 &
echo "T=$T PORT=$PORT"
TOK=$("$top_builddir/web/vmeter-web" -c "$T/vmeter.conf" token add root | sed -n 's/.*(shown once): //p')
echo "TOK=$TOK"
sleep 100000
