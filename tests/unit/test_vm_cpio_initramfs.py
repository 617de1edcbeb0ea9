"""The initramfs builder, read back with our cpio parser; module dependency order from .modinfo."""

import stat
import struct
from pathlib import Path

import pytest

from vmcompare import cpio, initramfs, kmod
from minicontainer.errors import MiniContainerError


def test_cpio_roundtrip_files_dirs_symlinks():
    w = cpio.CpioWriter()
    w.add_dir("bin")
    w.add_file("bin/tool", b"#!/bin/sh\necho hi\n", 0o755)
    w.add_symlink("bin/sh", "busybox")
    w.add_file("odd", b"x" * 5)          # sizes not a multiple of 4 need padding
    data = w.getvalue()
    assert len(data) % 4 == 0
    assert data.startswith(b"070701")
    entries = {e.name: e for e in cpio.read_archive(data)}
    assert list(entries) == ["bin", "bin/tool", "bin/sh", "odd"]
    assert entries["bin"].is_dir
    assert entries["bin/tool"].is_file and stat.S_IMODE(entries["bin/tool"].mode) == 0o755
    assert entries["bin/tool"].data == b"#!/bin/sh\necho hi\n"
    assert entries["bin/sh"].is_symlink and entries["bin/sh"].data == b"busybox"
    assert entries["odd"].data == b"xxxxx"


def test_cpio_rejects_duplicates_and_damaged_archives():
    w = cpio.CpioWriter()
    w.add_file("a", b"1")
    with pytest.raises(ValueError):
        w.add_file("/a", b"2")
    data = w.getvalue()
    with pytest.raises(ValueError, match="magic"):
        cpio.read_archive(b"070702" + data[6:])
    with pytest.raises(ValueError):
        cpio.read_archive(data[:50])
    # a file size pointing past the end
    bad = bytearray(data)
    bad[54:62] = b"%08X" % 0xFFFFFF
    with pytest.raises(ValueError, match="past the end"):
        cpio.read_archive(bytes(bad))


@pytest.fixture
def fake_busybox(tmp_path):
    """A stand-in busybox: answers --list like the real one."""
    bb = tmp_path / "busybox"
    bb.write_text("#!/bin/sh\nprintf 'sh\\nmount\\ninsmod\\npoweroff\\nbase64\\n'\n")
    bb.chmod(0o755)
    return bb


def _archive(spec, bb):
    return {e.name: e for e in cpio.read_archive(initramfs.build(spec, busybox=bb))}


def test_initramfs_has_busybox_links_and_init(fake_busybox):
    entries = _archive(initramfs.InitSpec(), fake_busybox)
    assert entries["bin/busybox"].data == fake_busybox.read_bytes()
    assert entries["bin/sh"].is_symlink and entries["bin/sh"].data == b"busybox"
    init = entries["init"]
    assert stat.S_IMODE(init.mode) == 0o755
    text = init.data.decode()
    assert text.startswith("#!/bin/sh\n")
    assert 'echo "@@vmc phase $1 uptime=$u"' in text and "\nup init\n" in text
    assert "poweroff -f" in text
    assert "result" not in text          # no workload: no result line
    for d in ("proc", "sys", "dev", "tmp"):
        assert entries[d].is_dir


def test_initramfs_workload_shares_modules_files(fake_busybox, tmp_path):
    ko = tmp_path / "9p.ko"
    ko.write_bytes(b"\x7fELF-fake")
    spec = initramfs.InitSpec(
        workload="cat /mnt/s/f.txt", env={"A": "b c"}, workdir="/mnt/s",
        shares=[initramfs.Share(host_path=tmp_path, guest_path="/mnt/s", tag="share0")],
        modules=[ko], files={"/etc/extra/conf": b"k=v\n"}, chroot="/host", cgroup2=True)
    entries = _archive(spec, fake_busybox)
    init = entries["init"].data.decode()
    assert entries["lib/modules/vmc/9p.ko"].data == b"\x7fELF-fake"
    assert entries["etc/extra"].is_dir and entries["etc/extra/conf"].data == b"k=v\n"
    workload = entries["vmc/workload.sh"].data.decode()
    assert "export A='b c'" in workload and "cd /mnt/s" in workload and workload.rstrip().endswith("cat /mnt/s/f.txt")
    lines = init.splitlines()
    insmod = next(i for i, l in enumerate(lines) if l.startswith("insmod /lib/modules/vmc/9p.ko"))
    mount9p = next(i for i, l in enumerate(lines) if "mount -t 9p" in l)
    chroot = next(i for i, l in enumerate(lines) if "chroot /host" in l)
    assert insmod < mount9p < chroot      # modules before the mount, mount before the workload
    assert "trans=virtio" in lines[mount9p] and ",ro" in lines[mount9p] and "share0 /mnt/s" in lines[mount9p]
    assert any("cgroup2" in l and "/host/sys/fs/cgroup" in l for l in lines)
    assert any("@@vmc result exit=$rc b64=" in l for l in lines)


@pytest.mark.parametrize("bad", [dict(chroot="relative"), dict(chroot="/a/../b"),
                                 dict(files={"/etc/$(reboot)": b""})])
def test_initramfs_rejects_bad_paths(fake_busybox, bad):
    with pytest.raises(MiniContainerError):
        initramfs.build(initramfs.InitSpec(workload="true", **bad), busybox=fake_busybox)


def test_build_cached_is_content_addressed(fake_busybox, tmp_path):
    a = initramfs.build_cached(initramfs.InitSpec(workload="true"), tmp_path / "c", busybox=fake_busybox)
    b = initramfs.build_cached(initramfs.InitSpec(workload="true"), tmp_path / "c", busybox=fake_busybox)
    c = initramfs.build_cached(initramfs.InitSpec(workload="false"), tmp_path / "c", busybox=fake_busybox)
    assert a == b != c
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == sorted({a.name, c.name})


def _fake_module(path: Path, depends: str) -> None:
    """A minimal ELF64 with a section header table holding .shstrtab and .modinfo."""
    shstr = b"\0.shstrtab\0.modinfo\0"
    info = f"license=GPL\0depends={depends}\0name={kmod.module_name(path)}\0".encode()
    body_off = 64
    shstr_off, info_off = body_off, body_off + len(shstr)
    shoff = info_off + len(info)
    header = bytearray(64)
    header[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", header, 0x28, shoff)
    struct.pack_into("<HHH", header, 0x3A, 64, 3, 1)

    def sh(name, off, size):
        s = bytearray(64)
        struct.pack_into("<I", s, 0, name)
        struct.pack_into("<QQ", s, 0x18, off, size)
        return bytes(s)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = bytes(header) + shstr + info + sh(0, 0, 0) + sh(1, shstr_off, len(shstr)) + sh(11, info_off, len(info))
    if path.name.endswith(".xz"):
        import lzma
        data = lzma.compress(data)
    path.write_bytes(data)


def test_module_load_order_follows_modinfo_depends(tmp_path):
    mods = tmp_path / "lib/modules/6.1.0-test"
    _fake_module(mods / "kernel/fs/9p/9p.ko", "9pnet,netfs")
    _fake_module(mods / "kernel/net/9p/9pnet.ko", "")
    _fake_module(mods / "kernel/fs/netfs/netfs.ko.xz", "")       # compressed: decompressed with lzma
    _fake_module(mods / "kernel/net/9p/9pnet_virtio.ko", "9pnet,virtio_ring,virtio")
    _fake_module(mods / "kernel/drivers/virtio/virtio.ko", "")
    (mods / "modules.builtin").write_text("kernel/drivers/virtio/virtio_ring.ko\n")
    index = kmod.ModuleIndex(mods)
    order = [kmod.module_name(p) for p in index.load_order(["9p", "9pnet-virtio"])]
    assert order == ["9pnet", "netfs", "9p", "virtio", "9pnet_virtio"]
    assert kmod.modinfo(kmod.read_module(index.path("netfs")))["license"] == "GPL"
    with pytest.raises(MiniContainerError, match="no module"):
        index.load_order(["nosuch"])


def test_module_cycle_is_reported(tmp_path):
    mods = tmp_path / "m"
    _fake_module(mods / "kernel/a.ko", "b")
    _fake_module(mods / "kernel/b.ko", "a")
    with pytest.raises(MiniContainerError, match="cycle"):
        kmod.ModuleIndex(mods).load_order(["a"])


def test_build_cache_keeps_only_recent_files(fake_busybox, tmp_path, monkeypatch):
    monkeypatch.setattr(initramfs, "CACHE_KEEP", 2)
    paths = [initramfs.build_cached(initramfs.InitSpec(workload=f"exit {i}"), tmp_path / "c", busybox=fake_busybox)
             for i in range(4)]
    assert sorted((tmp_path / "c").iterdir()) == sorted(paths[-2:])


def test_run_in_guest_checks_input_before_building_anything(tmp_path):
    from vmcompare.guest import run_in_guest
    with pytest.raises(MiniContainerError, match="shared host folder does not exist"):
        run_in_guest("true", share=[(tmp_path / "missing", "/mnt")], build_dir=tmp_path / "b")
    with pytest.raises(MiniContainerError, match="a share is"):
        run_in_guest("true", share=[(str(tmp_path),)], build_dir=tmp_path / "b")
    assert not (tmp_path / "b").exists()



def test_an_elf_file_in_the_initramfs_is_executable(fake_busybox):
    """mc-timer is copied into the guest as /bin/mc-timer: an ELF file gets mode 0755, data 0644."""
    spec = initramfs.InitSpec(files={"/bin/mc-timer": b"\x7fELF\x02\x01\x01rest", "/etc/data": b"plain"})
    entries = _archive(spec, fake_busybox)
    assert stat.S_IMODE(entries["bin/mc-timer"].mode) == 0o755 and stat.S_IMODE(entries["etc/data"].mode) == 0o644
