"""The Go-template evaluator behind every --format. The expected strings are what docker CLI 28.2.2
printed for the same templates on the same document (served by a stand-in engine, on this host)."""

import pytest

from minicontainer.cli.gofuncs import go_str, truth
from minicontainer.cli.gotemplate import Template, TemplateExecError, TemplateSyntaxError, render

DOC = {
    "Id": "abc123", "Name": "/web", "Created": "2026-01-01T00:00:00Z",
    "State": {"Status": "running", "Running": True, "Pid": 42, "ExitCode": 0},
    "Config": {"Labels": {"k": "v", "a.b": "c"}, "Env": ["A=1", "B=2"], "Cmd": ["sh", "-c", "x"], "Tty": False,
               "Empty": [], "Null": None, "Num": 1.5, "Big": 123456789012, "Obj": {}},
    "Mounts": [{"Destination": "/data", "Type": "volume"}, {"Destination": "/etc", "Type": "bind"}],
    "NetworkSettings": {"IPAddress": "172.17.0.2", "Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
}


@pytest.mark.parametrize("template, expected", [
    ("{{.Id}}", "abc123"),
    ("{{ .Id }}", "abc123"),
    ("{{.State.Status}} {{.State.Pid}}", "running 42"),
    ("{{.NetworkSettings.IPAddress}}", "172.17.0.2"),
    ("{{.NetworkSettings.Networks.bridge.IPAddress}}", "172.17.0.2"),
    ("{{.Config.Labels.k}}", "v"),
    ("{{.Config.Num}} {{.Config.Big}} {{.Config.Null}} {{.Config.Empty}} {{.Config.Obj}} {{.State.Running}}",
     "1.5 123456789012 <no value> [] map[] true"),
    ("{{.Config.Labels}}", "map[a.b:c k:v]"),
    ("{{.Mounts}}", "[map[Destination:/data Type:volume] map[Destination:/etc Type:bind]]"),
    ("{{json .Name}}|{{json .State.Pid}}|{{json .Config.Env}}", '"/web"|42|["A=1","B=2"]'),
    ("{{index .Config.Labels \"k\"}}", "v"),
    ("[{{index .Config.Labels \"zz\"}}]", "[]"),
    ("{{index .Config.Cmd 1}}", "-c"),
    ("{{index .Mounts 0 \"Type\"}}", "volume"),
    ("{{(index .Mounts 1).Type}}", "bind"),
    ("{{range .Mounts}}{{.Destination}} {{end}}", "/data /etc "),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a.b=c;k=v;"),
    ("{{range $i, $m := .Mounts}}{{$i}}:{{$m.Type}} {{end}}", "0:volume 1:bind "),
    ("{{range $m := .Mounts}}{{$m.Type}},{{end}}", "volume,bind,"),
    ("{{range .Config.Empty}}x{{else}}none{{end}}", "none"),
    ("{{range .Mounts}}{{$.Id}} {{end}}", "abc123 abc123 "),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .Config.Tty}}tty{{else if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if eq .State.Status \"exited\" \"running\"}}yes{{end}}", "yes"),
    ("{{if not .Config.Tty}}notty{{end}}", "notty"),
    ("{{if and .State.Running (gt .State.Pid 1)}}ok{{end}}", "ok"),
    ("{{with .State}}{{.Status}}{{end}}|{{with .Config.Empty}}x{{else}}empty{{end}}", "running|empty"),
    ("{{$x := .Id}}{{$x}}", "abc123"),
    ("{{.Name | upper}}|{{lower \"AbC\"}}|{{join .Config.Env \",\"}}", "/WEB|abc|A=1,B=2"),
    ("{{len .Mounts}}|{{len .Config.Labels}}|{{len .Name}}", "2|2|4"),
    ("{{slice .Id 0 3}}|{{slice .Id 3}}|{{slice .Config.Cmd 1 2}}|{{slice .Name}}", "abc|123|[-c]|/web"),
    ("{{title \"hello world\"}}|{{split \"a,b\" \",\"}}|{{pad \"x\" 1 2}}|{{truncate \"abcdef\" 3}}",
     "Hello World|[a b]| x  |abc"),
    ("{{printf \"%s-%d-%v-%q\" .Name .State.Pid .State.Running .Id}}", '/web-42-true-"abc123"'),
    ("{{.Name | printf \"%6s|%d|\"}}", "  /web|%!d(MISSING)|"),
    ("{{println .Id}}x", "abc123\nx"),
    ("{{print 1 2 \"a\" \"b\" 3}}|{{print \"a\" 1}}", "1 2ab3|a1"),
    ("{{and 1 0}}|{{or 0 \"b\"}}|{{ne 1 2}}|{{lt 1 2}}|{{le 2 2}}|{{gt 1 2}}|{{ge 1 1}}",
     "0|b|true|true|true|false|true"),
    ("a  {{- \" b \" -}}  c", "a b c"),
    ("a\n  {{- .Id}}\n", "aabc123\n"),
    ("{{.Id -}}\n\n  z", "abc123z"),
    ("{{/* a comment */}}ok", "ok"),
    ("x {{- /* trimmed */ -}} y", "xy"),
    ("{{\"}}\"}}", "}}"),
    ("{{`raw \\n`}}|{{\"tab\\there\"}}", "raw \\n|tab\there"),
    ("{{json .}}", None),       # the whole document round-trips, checked below
])
def test_renders_like_docker(template, expected):
    out = render(template, DOC)
    if expected is None:
        import json
        assert json.loads(out) == DOC
    else:
        assert out == expected


def test_and_or_stop_at_the_deciding_argument():
    # a later argument that would fail is not evaluated (Go 1.18+)
    assert render("{{or .Id .Nope}}", DOC) == "abc123"
    assert render("{{and .Config.Tty .Nope}}", DOC) == "false"
    with pytest.raises(TemplateExecError):
        render("{{and .Id .Nope}}", DOC)


def test_variables_are_scoped_to_their_block():
    # := declares (its block only), = changes the variable the block sees, as in Go 1.11+
    assert render("{{$x := 1}}{{if true}}{{$x := 5}}{{end}}{{$x}}", {}) == "1"
    assert render("{{$x := 1}}{{if true}}{{$x = 2}}{{$y := 3}}{{end}}{{$x}}", {}) == "2"
    assert render("{{$n := 0}}{{range .}}{{$n = .}}{{end}}{{$n}}", [4, 7]) == "7"
    with pytest.raises(TemplateSyntaxError, match='undefined variable "\\$z"'):
        render("{{$z = 1}}", {})
    with pytest.raises(TemplateSyntaxError, match='undefined variable "\\$y"'):
        render("{{if true}}{{$y := 3}}{{end}}{{$y}}", {})


def test_parse_once_execute_many():
    t = Template("{{.ID}}\t{{.Names}}")
    assert [t.execute(r) for r in ({"ID": "a", "Names": "x"}, {"ID": "b", "Names": "y"})] == ["a\tx", "b\ty"]


@pytest.mark.parametrize("template, message", [
    ("{{.Id", "template: :1: unclosed action"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{else}}", "template: :1: unexpected {{else}}"),
    ("{{if}}x{{end}}", "template: :1: missing value for if"),
    ("{{if .Id}}x", "template: :1: unexpected EOF"),
    ("{{range .Mounts}}", "template: :1: unexpected EOF"),
    ("{{.Id | nofunc}}", 'template: :1: function "nofunc" not defined'),
    ("{{foo}}", 'template: :1: function "foo" not defined'),
    ("line one\n{{bar .Id}}", 'template: :2: function "bar" not defined'),
    ("{{define \"x\"}}y{{end}}", "not supported"),
    ("{{.Id | }}", "missing command"),
    ("{{(.Id}}", "unclosed left paren"),
    ("{{.Id)}}", "unexpected right paren"),
    ("{{}}", "missing value for command"),
    ("{{/* open", "unclosed comment"),
    ("{{\"a}}", "unterminated quoted string"),
    ("{{.Id ! }}", "unexpected '!' in command"),
    ("{{3x}}", "bad number syntax"),
])
def test_syntax_errors(template, message):
    with pytest.raises(TemplateSyntaxError) as info:
        Template(template)
    assert message in str(info.value) and info.value.exit_code == 64
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("template, message", [
    ("{{.Nope}}", 'executing "" at <.Nope>: map has no entry for key "Nope"'),
    ("{{.Config.Nope.Deeper}}", 'map has no entry for key "Nope"'),
    ("{{.Config.Null.X}}", "nil pointer evaluating interface {}.X"),
    ("{{.Config.Env.X}}", "can't evaluate field X in type []interface {}"),
    ("{{index .Config.Cmd 9}}", "error calling index: index out of range: 9"),
    ("{{index .Config.Cmd \"a\"}}", "error calling index: cannot index slice/array with type str"),
    ("{{len .State.Pid}}", "error calling len: len of type float64"),
    ("{{len .Config.Null}}", "len of nil pointer"),
    ("{{.Id}} {{\"a\" \"b\"}}", 'can\'t give argument to non-function "a"'),
    ("{{eq .State.Pid \"42\"}}", "incompatible types for comparison"),
    ("{{lt .Config.Env .Config.Env}}", "invalid type for comparison"),
    ("{{range .Id}}{{end}}", "range can't iterate over abc123"),
    ("{{upper}}", "wrong number of args for upper"),
    ("{{slice .Id 2 99}}", "error calling slice: index out of range: 2:99"),
    ("{{slice .State 1}}", "can't slice item of type map[string]interface {}"),
    ("{{upper .State.Pid}}", "wrong type for value; expected string; got float64"),
    ("{{join .Name \",\"}}", "wrong type for value; expected []string; got string"),
])
def test_execution_errors(template, message):
    with pytest.raises(TemplateExecError) as info:
        render(template, DOC)
    assert message in str(info.value) and info.value.exit_code == 1


def test_go_printing_and_truth():
    assert go_str(None) == "<no value>" and go_str([None, True, 2.0, 1e21]) == "[<nil> true 2 1e+21]"
    assert go_str({"b": [1], "a": {"x": None}}) == "map[a:map[x:<nil>] b:[1]]"
    assert [truth(v) for v in (0, 0.0, "", [], {}, None, False)] == [False] * 7
    assert [truth(v) for v in (1, "0", [0], {"a": 0}, True, -1)] == [True] * 6
