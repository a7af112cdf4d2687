# shellcheck shell=sh
# A guest image for real-QEMU tests and benchmarks (sourced after
# tests/lib.sh, which sets $T): build_guest DIR writes DIR/vmlinuz and
# DIR/initrd.gz from the kernel package $KERNEL_DEB, an initrd of busybox,
# the modules $WANT_MODULES with those they depend on (each module's
# depends= field, in load order) and $INIT_SCRIPT as /init.
build_guest() {
	_out=$1 _x=$T/kernel
	mkdir -p "$_x" "$T/initrd/modules" "$T/initrd/bin"
	dpkg-deb --fsys-tarfile "$KERNEL_DEB" | tar -x -C "$_x" --wildcards './boot/vmlinuz-*' \
		'./lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/drivers/block/virtio_blk.ko*' \
		'./lib/modules/*/kernel/drivers/net/*.ko*' './lib/modules/*/kernel/net/core/failover.ko*' || return 1
	_order=""
	add_module() {
		case " $_order " in *" $1 "*) return 0 ;; esac
		_f=$(find "$_x/lib/modules" -name "$1.ko" -o -name "$1.ko.xz" | head -1)
		[ -n "$_f" ] || { echo "# module $1 not in $KERNEL_DEB"; return 1; }
		case $_f in *.xz) xz -dc "$_f" >"$T/initrd/modules/$1.ko" ;; *) cp "$_f" "$T/initrd/modules/$1.ko" ;; esac
		for _d in $(tr '\0' '\n' <"$T/initrd/modules/$1.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
			add_module "$_d" || return 1
		done
		_order="$_order $1"
	}
	for m in $WANT_MODULES; do add_module "$m" || return 1; done
	for m in $_order; do echo "$m.ko"; done >"$T/initrd/modules/order"
	cp /bin/busybox "$T/initrd/bin/busybox"
	mkdir -p "$T/initrd/proc" "$T/initrd/sys" "$T/initrd/dev" "$T/initrd/sbin" "$T/initrd/usr/bin" "$T/initrd/usr/sbin"
	printf '%s\n' "$INIT_SCRIPT" >"$T/initrd/init"
	chmod 755 "$T/initrd/init"
	mkdir -p "$_out.tmp"
	cp "$_x"/boot/vmlinuz-* "$_out.tmp/vmlinuz"
	(cd "$T/initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$_out.tmp/initrd.gz" || return 1
	rm -rf "$_out" && mv "$_out.tmp" "$_out"
}
