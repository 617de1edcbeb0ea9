"""vmcompare: boot real virtual machines under QEMU and compare them with containers.

A container is a process the host kernel shows a private view of the world; a virtual
machine is a whole emulated computer that must start firmware and its *own* kernel before
it runs anything. This package measures the difference on the reader's machine:

* :mod:`~vmcompare.guestkernel` fetches the guest kernel (Debian's, via apt-get download);
* :mod:`~vmcompare.cpio` and :mod:`~vmcompare.initramfs` build the guest's first filesystem;
* :mod:`~vmcompare.qemu` is the only code that starts QEMU (and :mod:`~vmcompare.accel`
  decides between KVM and TCG by trying);
* :mod:`~vmcompare.phases` reads a boot from its serial console;
* :mod:`~vmcompare.guest` runs a command in a fresh guest (``run_in_guest``);
* :mod:`~vmcompare.measure`, :mod:`~vmcompare.results`, :mod:`~vmcompare.plot` and
  :mod:`~vmcompare.cli` measure, store, draw and drive it all.
"""
