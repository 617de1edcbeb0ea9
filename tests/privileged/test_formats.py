"""--format and --log-level against real containers: the inspect document of a running container
on the default bridge (its PID is the live process, its address is in the bridge's subnet), and
the debug channel reporting a tolerated failure of a real run (a --rm container gone while waited for)."""

import ipaddress
import json
import subprocess


def mc(cli, root, *args, timeout=60):
    return subprocess.run([cli, "--root", str(root), *args], capture_output=True, text=True, timeout=timeout)


def ok(res):
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    return res.stdout


def test_inspect_format_of_a_running_bridge_container(cli, state_root):
    cid = ok(mc(cli, state_root, "run", "-d", "--name", "fmt", "--network", "bridge", "busybox",
                "sleep", "60")).strip()
    try:
        out = ok(mc(cli, state_root, "inspect", "-f",
                    "{{.Id}} {{.Name}} {{.State.Status}} {{.State.Running}} {{.State.Pid}} {{json .Config.Cmd}} "
                    "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}}{{end}} "
                    "{{.NetworkSettings.IPAddress}}", "fmt"))
        full, name, status, running, pid, cmd, net, ip = out.split()
        assert (full, name, status, running, cmd) == (cid, "/fmt", "running", "true", '["sleep","60"]')
        assert open(f"/proc/{pid}/cmdline").read().split("\0")[:2] == ["sleep", "60"]
        subnet = ok(mc(cli, state_root, "network", "inspect", "-f", "{{.subnet}}", "bridge")).strip()
        assert net == f"bridge={ip}" and ipaddress.ip_address(ip) in ipaddress.ip_network(subnet)
        assert ok(mc(cli, state_root, "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}} {{len .Containers}}",
                     "--type", "network", "bridge")).split() == [subnet, "1"]
        assert ok(mc(cli, state_root, "ps", "--format", "{{.Names}}:{{.Networks}}:{{.State}}")) == \
            "fmt:bridge:running\n"
        doc = json.loads(ok(mc(cli, state_root, "inspect", "fmt")))[0]
        assert doc["NetworkSettings"]["SandboxKey"] == f"/proc/{pid}/ns/net"
    finally:
        mc(cli, state_root, "rm", "-f", "fmt")
    res = mc(cli, state_root, "inspect", "-f", "{{.Id}}", "fmt")
    assert (res.returncode, res.stdout, res.stderr) == (1, "", "minicontainer: no such object: fmt\n")


def test_debug_log_shows_the_tolerated_failure_and_nothing_otherwise(cli, state_root):
    quiet = mc(cli, state_root, "run", "--rm", "--network", "none", "busybox", "echo", "hi")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "hi\n", "")
    cid = ok(mc(cli, state_root, "run", "-d", "--rm", "--network", "none", "busybox", "sleep", "2")).strip()
    res = subprocess.run([cli, "--root", str(state_root), "--log-level", "debug", "wait", cid], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if "level=debug" in line]
    assert lines and all(line.startswith('time="') for line in lines), res.stderr
    assert any("wait for" in line and cid[:12] in line and "no such container" in line for line in lines), lines
    assert mc(cli, state_root, "ps", "-aq").stdout == ""
