#!/bin/busybox sh
# Guest /init, built into the initramfs by ci/vm/vm.js. Runs /dmabuf-vm/cmd over the
# 9p-shared project tree, prints the exit marker, powers off.
/bin/busybox --install -s
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
ln -s /proc/self/fd /dev/fd 2>/dev/null
[ -f /dmabuf-vm/config ] && mkdir -p /boot && ln -s /dmabuf-vm/config "/boot/config-$(uname -r)"
ip link set lo up 2>/dev/null

while read -r m; do
  insmod "/dmabuf-vm/modules/$m.ko" || echo "dmabuf vm: could not load module $m"
done < /dmabuf-vm/modules.load

# Per-run: vm_root, vm_cwd, vm_nonce, vm_9p_opts, and the exported pass-through env.
. /dmabuf-vm/vars
mkdir -p "$vm_root"
if ! mount -t 9p -o "$vm_9p_opts" proj "$vm_root"; then
  echo "dmabuf vm: could not mount the project tree at $vm_root"
  poweroff -f
fi
cd "$vm_cwd"

sh /dmabuf-vm/cmd < /dev/null
rc=$?
echo "@@DMABUF-VM-EXIT $vm_nonce $rc@@"
sync
poweroff -f
echo o > /proc/sysrq-trigger
