"""Variable substitution, quoting and the config values of config-only instructions."""

import pytest

from minicontainer.build import instructions as I
from minicontainer.build.parser import parse
from minicontainer.build.words import expand, key_values, process_word, split_words
from minicontainer.errors import UsageError

ENV = {"A": "apple", "E": "", "PATH": "/bin"}


@pytest.mark.parametrize("word,want", [
    ("$A", "apple"), ("${A}", "apple"), ("${A}s", "apples"), ("x$A-y", "xapple-y"),
    ("$NOPE", ""), ("${NOPE:-dflt}", "dflt"), ("${E:-dflt}", "dflt"), ("${E-dflt}", ""),
    ("${NOPE-dflt}", "dflt"), ("${A:+set}", "set"), ("${NOPE:+set}", ""), ("${E:+set}", ""), ("${E+set}", "set"),
    ("${NOPE:-$A}", "apple"), ("'$A'", "$A"), ('"$A b"', "apple b"), ("\\$A", "$A"), ('"\\$A"', "$A"),
    ('"a\\b"', "a\\b"), ("a\\ b", "a b"), ("$", "$"), ("a$1", "a$1"), ('"it\'s"', "it's"),
])
def test_process_word(word, want):
    assert process_word(word, ENV) == want


def test_unset_with_question_mark_is_an_error():
    with pytest.raises(UsageError, match="NOPE: required"):
        process_word("${NOPE:?required}", ENV)


@pytest.mark.parametrize("word", ["${A", "${1}", "${A%x}", "'open", '"open'])
def test_bad_substitutions(word):
    with pytest.raises(UsageError):
        process_word(word, ENV)


def test_split_words_keeps_quoted_blanks():
    assert split_words('a "b c" \'d e\' f\\ g') == ['a', '"b c"', "'d e'", "f\\ g"]
    assert split_words("  ") == []


def test_backtick_escape():
    assert process_word("a` b", {}, "`") == "a b"
    assert process_word("c:\\dir", {}, "`") == "c:\\dir"


def test_expand_keeps_words():
    assert expand("/srv/$A  x", ENV) == "/srv/apple x"


def test_env_key_values_and_legacy_form():
    assert key_values('A=1 B="two words" C=${A}x', ENV, "\\", "ENV") == [("A", "1"), ("B", "two words"),
                                                                         ("C", "applex")]
    assert key_values("NAME some value $A", ENV, "\\", "ENV") == [("NAME", "some value apple")]
    with pytest.raises(UsageError, match="can't find ="):
        key_values("A=1 B", ENV, "\\", "ENV")
    with pytest.raises(UsageError, match="needs a value"):
        key_values("A", ENV, "\\", "ENV")


def test_arg_declarations():
    assert key_values("V", {}, "\\", "ARG") == [("V", None)]
    assert key_values("V=1 W", {}, "\\", "ARG") == [("V", "1"), ("W", None)]


def inst(text):
    return parse("FROM busybox\n" + text).instructions[1]


def test_command_forms_use_the_shell():
    assert I.command(inst("CMD echo $HOME"), ["/bin/sh", "-c"]) == ["/bin/sh", "-c", "echo $HOME"]
    assert I.command(inst('CMD ["echo", "$HOME"]'), ["/bin/sh", "-c"]) == ["echo", "$HOME"]
    assert I.command(inst("RUN x"), ["/bin/bash", "-eu", "-c"]) == ["/bin/bash", "-eu", "-c", "x"]


def test_exposed_ports():
    assert I.exposed_ports(inst("EXPOSE 80 53/UDP 8000-8001 $P"), {"P": "9"}, "\\") == [
        "80/tcp", "53/udp", "8000/tcp", "8001/tcp", "9/tcp"]
    for bad in ("EXPOSE 0", "EXPOSE 70000", "EXPOSE 80/icmp", "EXPOSE http"):
        with pytest.raises(UsageError):
            I.exposed_ports(inst(bad), {}, "\\")


def test_volumes_workdir_user_stopsignal():
    assert I.volumes(inst('VOLUME ["/a", "/b c"]'), {}, "\\") == ["/a", "/b c"]
    assert I.volumes(inst("VOLUME /a $V"), {"V": "/v"}, "\\") == ["/a", "/v"]
    assert I.workdir(inst("WORKDIR b/../c"), "/a", {}, "\\") == "/a/c"
    assert I.workdir(inst("WORKDIR /x/$D"), "/a", {"D": "d"}, "\\") == "/x/d"
    assert I.user(inst("USER $U"), {"U": "nobody"}, "\\") == "nobody"
    assert I.stop_signal(inst("STOPSIGNAL int"), {}, "\\") == "SIGINT"
    assert I.stop_signal(inst("STOPSIGNAL 9"), {}, "\\") == "9"
    with pytest.raises(UsageError):
        I.stop_signal(inst("STOPSIGNAL SIGNOPE"), {}, "\\")


def test_healthcheck():
    sh = ["/bin/sh", "-c"]
    assert I.healthcheck(inst("HEALTHCHECK NONE"), sh) == {"Test": ["NONE"]}
    hc = I.healthcheck(inst("HEALTHCHECK --interval=1m30s --timeout=500ms --retries=2 CMD wget -q x"), sh)
    assert hc == {"Test": ["CMD-SHELL", "wget -q x"], "Interval": 90_000_000_000, "Timeout": 500_000_000,
                  "Retries": 2}
    assert I.healthcheck(inst('HEALTHCHECK CMD ["true"]'), sh)["Test"] == ["CMD", "true"]
    with pytest.raises(UsageError):
        I.healthcheck(inst("HEALTHCHECK --interval=soon CMD true"), sh)
    with pytest.raises(UsageError):
        I.healthcheck(inst("HEALTHCHECK --retries=0 CMD true"), sh)


def test_copy_args_and_env_list():
    assert I.copy_args(inst("COPY a $F /d/"), {"F": "f"}, "\\") == (["a", "f"], "/d/")
    assert I.copy_args(inst('COPY ["a b", "/d"]'), {}, "\\") == (["a b"], "/d")
    assert I.set_env(["A=1", "B=2"], "A", "3") == ["A=3", "B=2"]
    assert I.set_env(["A=1"], "C", "x=y") == ["A=1", "C=x=y"]
    assert I.env_dict(["A=1", "C=x=y"]) == {"A": "1", "C": "x=y"}
