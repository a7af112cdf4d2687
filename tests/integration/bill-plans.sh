#!/bin/bash
# vmeter-bill plans check: the shipped example passes and says what it
# holds; a bad file is refused naming file:line and field (exit 1); a
# traffic class the configuration lacks is refused; usage errors exit 2.
. "$(dirname "$0")/../lib.sh"
plan 10
BILL=$top_builddir/billing/vmeter-bill
[ -x "$BILL" ] || bail "no $BILL"
write_conf "$T/vmeter.conf"
cat >>"$T/vmeter.conf" <<'EOC'
traffic-default = "internet"
traffic-class "internal" {
	prefixes = { "10.0.0.0/8" }
}
EOC

out=$("$BILL" -c "$T/vmeter.conf" plans check "$top_srcdir/etc/plans.example" 2>&1)
is "$?" 0 "the example plan file is good"
echo "$out" | grep -q "plan 'standard': EUR, rounding half-even" && echo "$out" | grep -q "^  version '2026-h1': from 2026-01-01 to 2026-07-01, 7 charges, minimum 5.00$"
ok $? "it says what the plan holds"
echo "$out" | grep -q "^    net.internet.tx: graduated per GiB: 0.00 up to 100, 0.05 up to 1000, 0.02$" &&
	echo "$out" | grep -q "^    vcpu on host class gpu: 0.05 EUR per vcpu-hour$"
ok $? "tiers in the plan's units"
echo "$out" | grep -q "tenant 'ACME Corp.': EUR, months cut in Europe/Berlin" && echo "$out" | tail -1 | grep -q "1 plan and 2 tenants in 1 file: good"
ok $? "and what each tenant holds"

cat >"$T/bad.plan" <<'EOP'
plan p {
  currency = EUR
  version a {
    from = 2026-01-01
    charge vm { price = -0.01  per = vm-hour }
  }
}
EOP
out=$("$BILL" -c "$T/vmeter.conf" plans check "$T/bad.plan" 2>&1)
is "$?" 1 "a negative price is refused"
echo "$out" | grep -qF "$T/bad.plan:5: plan 'p' version 'a' charge 'vm': price: '-0.01' is negative"
ok $? "naming file:line, plan, version, charge and field: $out"

sed 's/net.internet.tx/net.dmz.tx/' "$top_srcdir/etc/plans.example" >"$T/dmz.plan"
out=$("$BILL" -c "$T/vmeter.conf" plans check "$T/dmz.plan" 2>&1)
is "$?" 1 "a traffic class the configuration lacks is refused"
echo "$out" | grep -q "no traffic class 'dmz' in the configuration"
ok $? "saying so: $out"

"$BILL" -c "$T/missing.conf" plans check "$T/bad.plan" >/dev/null 2>&1
is "$?" 2 "a configuration that cannot be read: exit 2"
"$BILL" plans check >/dev/null 2>&1
is "$?" 2 "no file named: exit 2"
