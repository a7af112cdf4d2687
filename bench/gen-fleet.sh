#!/bin/sh
# Writes a node XML for libvirt's test driver with N running domains, each
# with 2 vCPUs, 1 GiB, one virtio disk (vda) and one NIC with a target
# device; the even-numbered half carry vmeter owner metadata (the format of
# tests/data/fleet.xml).  Domain k is "bench-NNNN" with a UUID derived
# from k, so two runs describe the same fleet.
#   gen-fleet.sh N > fleet.xml
set -eu
n=${1:?usage: gen-fleet.sh N}
awk -v n="$n" 'BEGIN {
	print "<node xmlns:test=\x27http://libvirt.org/schemas/domain/test/1.0\x27>"
	print "  <cpu><mhz>2400</mhz><model>x86_64</model><active>64</active><nodes>1</nodes>"
	print "    <sockets>2</sockets><cores>16</cores><threads>2</threads></cpu>"
	print "  <memory>4294967296</memory>"
	for (k = 1; k <= n; k++) {
		name = sprintf("bench-%04d", k)
		printf "  <domain type=\x27test\x27>\n    <name>%s</name>\n", name
		printf "    <uuid>bbbbbbbb-0000-4000-8000-%012d</uuid>\n", k
		if (k % 2 == 0) {
			print "    <metadata>"
			print "      <vmeter:owner xmlns:vmeter=\"http://vmeter.org/xmlns/owner/1.0\">"
			printf "        <vmeter:tenant>tenant-%02d</vmeter:tenant>\n", k % 17
			printf "        <vmeter:project>project-%03d</vmeter:project>\n", k % 101
			printf "        <vmeter:cost-centre>CC-%04d</vmeter:cost-centre>\n", 1000 + k % 13
			print "        <vmeter:tag name=\"env\">bench</vmeter:tag>"
			print "      </vmeter:owner>"
			print "    </metadata>"
		}
		print "    <memory unit=\x27GiB\x27>1</memory>"
		print "    <currentMemory unit=\x27GiB\x27>1</currentMemory>"
		print "    <vcpu>2</vcpu>"
		print "    <os><type arch=\x27x86_64\x27>hvm</type></os>"
		print "    <devices>"
		print "      <disk type=\x27file\x27 device=\x27disk\x27>"
		printf "        <source file=\x27/var/lib/images/%s.qcow2\x27/>\n", name
		print "        <target dev=\x27vda\x27 bus=\x27virtio\x27/>"
		print "      </disk>"
		print "      <interface type=\x27network\x27>"
		printf "        <mac address=\x2752:54:00:%02x:%02x:01\x27/>\n", int(k / 256), k % 256
		print "        <source network=\x27default\x27/>"
		printf "        <target dev=\x27b%04d-nic0\x27/>\n", k
		print "      </interface>"
		print "    </devices>"
		print "  </domain>"
	}
	print "</node>"
}'
